// The public port's bounds, named once (gateway.ts takes each as an option with this default). A connection is
// "trusted" once it has shown who it is: a Dask client whose mutual-TLS handshake with the scheduler is over, a
// request with a valid dashboard ticket or session cookie, a data-access client with a certificate of the
// cluster's CA. Until then it is nobody, and every deadline below runs against it.

/** Open client connections in all. */
export const GATEWAY_MAX_CONNECTIONS = 1024;
/**
 * Connections not yet trusted from one address / from one network (IPv4 /24, IPv6 /64: what one host or one
 * subscriber usually holds). One more pushes out that source's oldest untrusted connection, so a source can
 * crowd out only itself. Trusted connections do not count: a team behind one NAT address is not capped.
 */
export const GATEWAY_MAX_UNTRUSTED_PER_ADDRESS = 128;
export const GATEWAY_MAX_UNTRUSTED_PER_NETWORK = 256;
/**
 * Pending: arrived and ClientHello not read yet, or passed through to Dask with the TLS handshake not over.
 * Anonymous: handed to the gateway's own TLS (dashboard, data access) and not trusted yet. Each pool has its
 * cap; one more pushes out that pool's oldest. So a flood of browsers without a session only pushes out each
 * other, never a Dask handshake, and MAX_CONNECTIONS − MAX_PENDING − MAX_ANONYMOUS = 512 slots are kept for
 * trusted connections (Dask clients first of all) whatever the nobodies do.
 */
export const GATEWAY_MAX_PENDING = 256;
export const GATEWAY_MAX_ANONYMOUS = 256;

/** From arrival to a complete ClientHello (also the bound on the gateway's own TLS handshakes). */
export const GATEWAY_HELLO_TIMEOUT_MS = 10_000;
export const GATEWAY_MAX_HELLO_BYTES = 16_384;
/** From arrival to a completed TLS handshake, on either path (Dask sets no handshake timeout of its own). */
export const GATEWAY_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * After its TLS handshake with the gateway, an HTTP connection has this long to show a valid ticket or
 * session in a request; else it is closed. A browser sends its first request within milliseconds.
 */
export const GATEWAY_TRUST_TIMEOUT_MS = 10_000;

// The gateway's HTTPS servers never listen() (they are handed sockets), so Node's headersTimeout and
// requestTimeout, checked by a timer that listen() starts, never run there. They keep these instead
// (request-deadlines.ts).
/** A request's headers, complete, from the end of the handshake or of the previous response. */
export const GATEWAY_HEADERS_TIMEOUT_MS = 10_000;
/** No byte either way on a handed-over HTTP connection (an open WebSocket of a session excepted). */
export const GATEWAY_IDLE_TIMEOUT_MS = 60_000;
/** Between requests on a kept-alive dashboard connection (Node's own keepAliveTimeout, which runs without listen()). */
export const GATEWAY_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** To reach a target (the scheduler's TLS or HTTP port). */
export const GATEWAY_CONNECT_TIMEOUT_MS = 10_000;
/** A token verification that takes longer counts as invalid. */
export const GATEWAY_VERIFY_TIMEOUT_MS = 5_000;
/** Idle on a proxied HTTP request to the scheduler. */
export const GATEWAY_UPSTREAM_TIMEOUT_MS = 60_000;
