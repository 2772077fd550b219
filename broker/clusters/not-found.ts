import { SkiffError, echo } from '../api/errors.js';

/** The one answer for a cluster that does not exist and for one the caller may not see: no hint which. */
export function clusterNotFound(ref: string): SkiffError {
  return new SkiffError('BRK_NOT_FOUND', `no cluster named or with id ${echo(ref)}; \`skiff list\` shows them`);
}
