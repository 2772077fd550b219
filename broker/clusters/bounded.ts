// Every await on a backend has a deadline: a cloud API that hangs must not hang a `down`, a recovery or an
// enrolment with it. The backend's own work may go on; the broker stops waiting and says what it waited for.

import { SkiffError } from '../api/errors.js';

export async function bounded<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SkiffError('PRV_CLOUD_ERROR', `${what} did not answer within ${Math.round(ms / 1000)} s`, { retryable: true })), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
