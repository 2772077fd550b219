// Command-line parsing: flags are declared per command, so an unknown or malformed flag is a usage
// error with a message naming it, before anything talks to the broker.
import { SkiffError } from '../api/errors.js';
import { parseDurationMs as parseWatchdogDuration } from '../api/durations.js';

/** `list`: a string flag that may be given more than once; its value is every one of them, in order. */
export type FlagKind = 'string' | 'boolean' | 'int' | 'duration' | 'list';
export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
}
export type Flags = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  positionals: string[];
  flags: Flags;
}

const usage = (msg: string) => new SkiffError('CLI_USAGE', msg);

/** "90s", "2m", "1h30m", "500ms", or a bare number of seconds → milliseconds. */
export function parseDurationMs(text: string, flag: string): number {
  const t = text.trim();
  let ms: number;
  try {
    ms = /^\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : parseWatchdogDuration(t);
  } catch {
    throw usage(`${flag} takes a duration like 90s, 5m or 1h; got "${text}"`);
  }
  if (ms <= 0) throw usage(`${flag} must be longer than zero; got "${text}"`);
  return ms;
}

/** The way skiff prints durations everywhere ("idle for 10s"): one formatter for the CLI and the watchdog. */
export { formatDuration as formatDurationMs } from '../api/durations.js';

export function parseArgs(argv: string[], spec: Record<string, FlagSpec>, command: string): Parsed {
  const flags: Flags = {};
  const positionals: string[] = [];
  for (const [name, s] of Object.entries(spec)) if (s.default !== undefined) flags[name] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const s = spec[name];
    if (!s) throw usage(`unknown option --${name} for \`skiff ${command}\`; see \`skiff ${command} --help\``);
    if (s.kind === 'boolean') {
      if (eq >= 0) throw usage(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw usage(`--${name} needs a value`);
    switch (s.kind) {
      case 'string':
        flags[name] = value;
        break;
      case 'list':
        flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
        break;
      case 'int': {
        value = value.trim();
        if (!/^-?\d+$/.test(value)) throw usage(`--${name} takes a whole number; got "${value}"`);
        flags[name] = Number(value);
        break;
      }
      case 'duration':
        flags[name] = parseDurationMs(value, `--${name}`);
        break;
    }
  }
  return { positionals, flags };
}

export function helpFor(command: string, synopsis: string, about: string, spec: Record<string, FlagSpec>): string {
  const lines = [`usage: skiff ${command} ${synopsis}`.trimEnd(), '', about, ''];
  const entries = Object.entries(spec);
  if (entries.length > 0) {
    lines.push('options:');
    const width = Math.max(...entries.map(([n, s]) => n.length + (s.kind === 'boolean' ? 0 : s.kind.length + 1))) + 4;
    for (const [n, s] of entries) {
      const left = `--${n}${s.kind === 'boolean' ? '' : ` ${s.kind === 'duration' ? 'DURATION' : s.kind === 'int' ? 'N' : 'VALUE'}`}`;
      lines.push(`  ${left.padEnd(width + 4)}${s.help}${s.kind === 'list' ? ' (repeatable)' : ''}${s.default !== undefined && s.kind !== 'boolean' ? ` (default ${String(s.default)})` : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}
