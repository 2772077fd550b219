// Deadlines of the gateway's in-process HTTPS servers (dashboard, data access). They never listen(): the gateway
// hands them sockets. Node checks headersTimeout and requestTimeout with a timer that listen() starts, so on
// such a server neither ever runs, and a client that finished its handshake and then sent nothing (or one
// header byte at a time) was kept for ever. These are the server's own:
//   - headers: each request's headers are complete within headersTimeoutMs of the end of the handshake or of
//     the previous response;
//   - idle: no byte either way for idleTimeoutMs closes the socket (server.setTimeout arms Node's per-socket
//     timer, which needs no listen(); with no 'timeout' listener Node destroys the socket).
// An upgraded socket (a WebSocket the dashboard accepted for a session) is the caller's to bound.
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type RequestDeadlineOptions = {
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  onTimeout?: (kind: 'headers') => void;
};

export function enforceRequestDeadlines(server: Server, o: RequestDeadlineOptions): void {
  server.setTimeout(o.idleTimeoutMs);
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const inFlight = new WeakMap<Socket, number>(); // pipelined requests: the deadline waits for the last answer
  const clear = (s: Socket): void => {
    clearTimeout(timers.get(s));
    timers.delete(s);
  };
  const arm = (s: Socket): void => {
    clear(s);
    if (s.destroyed) return;
    const timer = setTimeout(() => {
      o.onTimeout?.('headers');
      s.destroy();
    }, o.headersTimeoutMs);
    timer.unref();
    timers.set(s, timer);
  };
  server.on('secureConnection', (s: Socket) => {
    arm(s);
    s.once('close', () => clear(s));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    clear(req.socket);
    inFlight.set(req.socket, (inFlight.get(req.socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (inFlight.get(req.socket) ?? 1) - 1;
      inFlight.set(req.socket, left);
      if (left === 0) arm(req.socket);
    });
  });
  server.on('upgrade', (req: IncomingMessage) => clear(req.socket));
}
