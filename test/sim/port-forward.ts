// Crossing from the host's network namespace into the outer one through a Unix socket (a path in the
// filesystem, which namespaces of the network kind do not separate):
//
//   test process (host ns)                     daemon (outer ns)
//   127.0.0.1:PORT  ── pipe ──>  <state>/fwd/HOST-PORT.sock  ── pipe ──>  HOST:PORT (e.g. moto on 198.51.100.1)

import { createConnection, createServer, type Server, type Socket } from 'node:net';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

/** Daemon side: a Unix socket whose connections go to host:port (inside the outer namespace). */
export function listenUnixToTcp(socketPath: string, host: string, port: number): Promise<Server> {
  const server = createServer((conn) => pipeBoth(conn, createConnection({ host, port })));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

/** Test side: a TCP port on 127.0.0.1 (host namespace) whose connections go to the Unix socket. */
export function listenTcpToUnix(socketPath: string): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((conn) => {
    sockets.add(conn);
    conn.on('close', () => sockets.delete(conn));
    pipeBoth(conn, createConnection(socketPath));
  });
  // close() waits for open connections; the simulator's stop must not (keep-alive SDK sockets stay open).
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}
