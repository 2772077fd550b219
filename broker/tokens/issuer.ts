// The broker's token issuer: short-lived ES256 JWTs, one audience per kind, a fresh jti on every token.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { SkiffError } from '../api/errors.js';
import type { TokenKind } from '../api/wire.js';
import { generateSigningKey, loadOrCreateSigningKey, signingKeyFromJwk } from './key-store.js';
import { audienceFor, DEFAULT_ISSUER, TOKEN_ALGORITHM, TOKEN_KINDS, type Jwk, type TokenClaims } from '../api/tokens.js';
import type { TokenIssuer } from './types.js';
import { verifyToken } from '../api/token-verifier.js';

/** Claims the issuer sets itself; a caller passing one is a bug. */
const RESERVED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'nbf', 'jti'];
/** No skiff token lives longer than this (30 days): user tokens are the longest-lived. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

export interface TokenIssuerOptions {
  /** Directory for the signing key (JWK files, mode 0600; directory 0700). Reused across restarts. */
  keyDir?: string;
  /** A private EC P-256 JWK to sign with (e.g. from a secret store). Exclusive with keyDir. */
  privateJwk?: Jwk;
  /** Default 'skiff-broker'. */
  issuer?: string;
  now?: () => Date;
  /** Allowed clock difference for exp when verifying. Default 30 s. */
  clockToleranceSeconds?: number;
}

/** Synchronous: the key is read from disk or generated natively, so publicJwk is ready at once. */
export function createTokenIssuer(options: TokenIssuerOptions = {}): TokenIssuer {
  if (options.keyDir !== undefined && options.privateJwk !== undefined) {
    throw new SkiffError('BRK_BAD_REQUEST', 'give the token issuer either keyDir or privateJwk, not both');
  }
  const key =
    options.privateJwk !== undefined
      ? signingKeyFromJwk(options.privateJwk, 'the privateJwk option')
      : options.keyDir !== undefined
        ? loadOrCreateSigningKey(options.keyDir)
        : generateSigningKey();
  const issuer = options.issuer ?? DEFAULT_ISSUER;
  const now = options.now ?? (() => new Date());
  const verifyOptions = {
    issuer,
    now,
    ...(options.clockToleranceSeconds === undefined ? {} : { clockToleranceSeconds: options.clockToleranceSeconds }),
  };

  return {
    publicJwk: key.publicJwk,
    async mint(kind: TokenKind, claims: TokenClaims, ttlSeconds: number): Promise<string> {
      if (!TOKEN_KINDS.includes(kind)) {
        throw new SkiffError('BRK_BAD_REQUEST', `'${String(kind)}' is not a token kind; use one of ${TOKEN_KINDS.join(', ')}`);
      }
      if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
        throw new SkiffError('BRK_BAD_REQUEST', `token ttlSeconds must be a whole number from 1 to ${MAX_TOKEN_TTL_SECONDS}, got ${ttlSeconds}`);
      }
      if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
        throw new SkiffError('BRK_BAD_REQUEST', `a ${kind} token needs a non-empty sub claim`);
      }
      const reserved = RESERVED_CLAIMS.filter((c) => c in claims);
      if (reserved.length > 0) {
        throw new SkiffError('BRK_BAD_REQUEST', `claims ${reserved.join(', ')} are set by the token issuer; remove them`);
      }
      const iat = Math.floor(now().getTime() / 1000);
      return new SignJWT({ ...claims })
        .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT', kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audienceFor(kind))
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(key.privateKey);
    },
    verify: (kind, token, expect) => verifyToken(key.publicKey, kind, token, expect, verifyOptions),
  };
}
