// Joins two sockets byte for byte in both directions, honouring half-close: when one side sends FIN the other
// side's write half is ended and the reverse direction keeps flowing until it ends too. Both sockets must
// have been created with `allowHalfOpen: true`. An error or abrupt close on either side destroys both.
import type { Socket } from 'node:net';

export function pipeSockets(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const onError = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', onError);
  b.on('error', onError);
  // A clean close of one side means it read its peer's FIN and finished writing, so the other side has
  // already been ended by pipe() and closes by itself. Anything else (destroy, reset) leaves nothing to
  // relay to, so the other side goes too.
  a.on('close', () => {
    if (!(b.readableEnded && b.writableEnded)) b.destroy();
  });
  b.on('close', () => {
    if (!(a.readableEnded && a.writableEnded)) a.destroy();
  });
}
