// Test servers' common ends: listen (resolving once bound, rejecting on a bind error) and a stop that can be
// called any number of times, closing keep-alive connections so it never waits on an idle client.
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  port: number;
  /** host:port as a URL authority (IPv6 hosts in brackets). */
  authority: string;
  stop: () => Promise<void>;
}

export async function listen(server: Server, host = '127.0.0.1', port = 0): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    port: bound,
    authority: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** A request's whole body, or undefined once it passes `maxBytes` (the test server then answers 413 or drops it). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
