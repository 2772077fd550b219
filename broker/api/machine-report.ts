// Text a machine sends about itself (a boot failure report's log lines) is the machine's word, not skiff's: it
// is kept bounded and without control characters, and shown only as a quoted report under a line skiff writes,
// never as a cluster's reason or a notification's.
//
//   raw text ─► lines ─► ANSI/OSC sequences and other controls removed ─► each ≤ 300 chars ─► last 20, ≤ 4,000 chars
import type { BootReport } from './wire.js';

/** Lines kept from a report (the last ones: they say what failed). */
export const REPORT_MAX_LINES = 20;
export const REPORT_LINE_CHARS = 300;
export const REPORT_TOTAL_CHARS = 4000;
/** Read at most this much of the text (its end): a report is the tail of a boot log. */
const SCAN_CHARS = 64 * 1024;

// CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), and any other two-character ESC sequence.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]?/g;
// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** One line as it may be shown: escape sequences and control characters removed, at most `maxChars`. */
export function cleanLine(line: string, maxChars = REPORT_LINE_CHARS): string {
  const s = line.replace(ESCAPES, '').replace(CONTROLS, '');
  return s.length > maxChars ? `${s.slice(0, maxChars - 1)}…` : s;
}

/** The lines of a machine's text worth keeping: cleaned, non-empty, the last REPORT_MAX_LINES, REPORT_TOTAL_CHARS in all. */
export function reportLines(text: string): string[] {
  const tail = text.length > SCAN_CHARS ? text.slice(-SCAN_CHARS) : text;
  const lines = tail.split(/\r?\n|\r/).map((l) => cleanLine(l)).filter((l) => l.trim() !== '').slice(-REPORT_MAX_LINES);
  let total = 0;
  const kept: string[] = [];
  for (const l of lines.reverse()) {
    total += l.length;
    if (total > REPORT_TOTAL_CHARS) break;
    kept.unshift(l);
  }
  return kept;
}

/**
 * A boot failure report as `skiff status` and `up` show it: a line of skiff's naming the machine, then its words,
 * each line quoted (and cleaned again: the view may come from an older broker).
 */
export function bootReportLines(r: BootReport | undefined): string[] {
  if (!r) return [];
  const head = `boot failure reported by ${cleanLine(String(r.machine), 80)} (${cleanLine(String(r.machineId), 80)}) at step "${cleanLine(String(r.step), 60)}", ${cleanLine(String(r.at), 40)}; in its own words:`;
  const lines = Array.isArray(r.lines) ? r.lines.slice(-REPORT_MAX_LINES) : [];
  return [head, ...lines.map((l) => `  > ${cleanLine(String(l))}`)];
}
