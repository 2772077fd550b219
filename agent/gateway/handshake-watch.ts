// When a passed-through TLS handshake is over, seen from outside (the gateway holds no key). TLS records carry
// their content type in clear: the client's first application_data record (23) comes after it has read the
// server's whole flight (TLS 1.3: its encrypted Finished; TLS 1.2: its first data after Finished), and the
// server answers it (session tickets, or Dask's own handshake). A forged record 23 makes the scheduler's TLS
// fail and close the connection, so it buys nothing.
//
//   client: [22 ClientHello] [20 CCS]? [23 …] ─────▶ done once the server sends anything after that 23
import type { Socket } from 'node:net';

const HEADER_BYTES = 5;
const APPLICATION_DATA = 23;

/** Calls `onDone` once when the handshake between `client` and `upstream` is over; returns a canceller. */
export function watchHandshake(client: Socket, upstream: Socket, first: Buffer, onDone: () => void): () => void {
  let header = Buffer.alloc(0);
  let bodyLeft = 0;
  let clientSentData = false;
  const scan = (chunk: Buffer): void => {
    let i = 0;
    while (i < chunk.length && !clientSentData) {
      if (bodyLeft > 0) {
        const n = Math.min(bodyLeft, chunk.length - i);
        bodyLeft -= n;
        i += n;
        continue;
      }
      const n = Math.min(HEADER_BYTES - header.length, chunk.length - i);
      header = Buffer.concat([header, chunk.subarray(i, i + n)]);
      i += n;
      if (header.length === HEADER_BYTES) {
        if (header[0] === APPLICATION_DATA) clientSentData = true;
        bodyLeft = header.readUInt16BE(3);
        header = Buffer.alloc(0);
      }
    }
  };
  const fromClient = (chunk: Buffer): void => {
    scan(chunk);
    if (clientSentData) client.off('data', fromClient);
  };
  const fromServer = (): void => {
    if (!clientSentData) return;
    cancel();
    onDone();
  };
  const cancel = (): void => {
    client.off('data', fromClient);
    upstream.off('data', fromServer);
  };
  scan(first);
  if (!clientSentData) client.on('data', fromClient);
  upstream.on('data', fromServer);
  return cancel;
}
