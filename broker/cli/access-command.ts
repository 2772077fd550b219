// `skiff access`: who may use an aws-iam broker (admins only). A grant names an IAM user's or role's ARN, or
// a prefix of one ending in `*`; an assumed-role session counts as its role.
import { SkiffError } from '../api/errors.js';
import { parseGrantPattern, type AccessGrantView } from '../api/auth.js';
import { ACCESS_PATH } from '../api/routes.js';
import { api, BROKER_FLAG, JSON_FLAG, type Command } from './common.js';

const describe = (g: AccessGrantView): string => `${g.pattern}${g.admin ? '  admin' : ''}  granted by ${g.grantedBy} at ${g.grantedAt}`;

export const accessCommand: Command = {
  synopsis: 'grant ARN|PATTERN [--admin] | revoke ARN|PATTERN | list [--json]',
  about: 'Who may use this broker (one started with --auth aws-iam; admins only). A pattern is an IAM user\'s or role\'s ARN, ' +
    'or a prefix of one ending in * (arn:aws:iam::123456789012:role/data-*). An assumed-role session counts as its role ' +
    '(grant arn:aws:iam::ACCOUNT:role/ROLE, without the role\'s path). Each person sees and stops only their own clusters; admins see every one (`skiff list --all`).',
  flags: { admin: { kind: 'boolean', help: 'grant: the principals may also manage access and act on every cluster' }, json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    const [verb, pattern, ...rest] = positionals;
    const usage = (m: string) => new SkiffError('CLI_USAGE', `${m}; see \`skiff access --help\``);
    if (verb === 'list') {
      if (pattern !== undefined) throw usage('`skiff access list` takes no arguments');
    } else if (verb === 'grant' || verb === 'revoke') {
      if (pattern === undefined || rest.length > 0) throw usage(`\`skiff access ${verb}\` takes one ARN or pattern`);
      const p = parseGrantPattern(pattern);
      if ('error' in p) throw usage(p.error);
    } else {
      throw usage(`\`skiff access\` takes grant, revoke or list${verb !== undefined ? `, not "${verb}"` : ''}`);
    }
    if (flags['admin'] && verb !== 'grant') throw usage('--admin goes with `skiff access grant`');
    const b = await api(ctx, flags, false);
    if (verb === 'list') {
      const grants = await b.call<AccessGrantView[]>('GET', ACCESS_PATH);
      ctx.out(flags['json'] ? JSON.stringify(grants) + '\n' : grants.map((g) => describe(g) + '\n').join(''));
    } else if (verb === 'grant') {
      const g = await b.call<AccessGrantView>('POST', ACCESS_PATH, { pattern, admin: flags['admin'] === true });
      ctx.out(flags['json'] ? JSON.stringify(g) + '\n' : `granted ${describe(g)}\n`);
    } else {
      await b.call<undefined>('DELETE', `${ACCESS_PATH}/${encodeURIComponent(pattern ?? '')}`);
      ctx.out(flags['json'] ? JSON.stringify({ revoked: pattern }) + '\n' : `revoked ${pattern ?? ''}\n`);
    }
    return 0;
  },
};
