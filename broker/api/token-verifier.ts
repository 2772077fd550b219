// Checking skiff tokens with only the broker's public key (agents, the gateway for dashboard tokens, and the
// broker itself). Each refusal is a BRK_TOKEN_INVALID with a distinct message that never echoes the token.
import { createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { SkiffError } from './errors.js';
import type { TokenKind } from './wire.js';
import { audienceFor, DEFAULT_ISSUER, ROLES, TOKEN_ALGORITHM, TOKEN_KINDS } from './tokens.js';
import type { Jwk, TokenVerifier, TokenVerifyExpectations, VerifiedToken } from './tokens.js';

/** A compact ES256 JWT with our claims is ~500 bytes; a longer string is refused before any parsing. */
const MAX_TOKEN_CHARS = 8_192;

export interface TokenVerifierOptions {
  /** Default 'skiff-broker'. */
  issuer?: string;
  now?: () => Date;
  /** Allowed clock difference for exp between machines. Default 30 s. */
  clockToleranceSeconds?: number;
}

export function createTokenVerifier(publicJwk: Jwk, options: TokenVerifierOptions = {}): TokenVerifier {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new SkiffError('BRK_TOKEN_INVALID', 'the token verification key is not a valid public JWK; fetch it from the broker again', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec') {
    throw new SkiffError('BRK_TOKEN_INVALID', `the token verification key must be an EC P-256 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return { publicJwk, verify: (kind, token, expect) => verifyToken(key, kind, token, expect, options) };
}

export async function verifyToken(
  key: KeyObject,
  kind: TokenKind,
  token: string,
  expect: TokenVerifyExpectations | undefined,
  options: TokenVerifierOptions,
): Promise<VerifiedToken> {
  if (!TOKEN_KINDS.includes(kind)) throw invalid(`'${String(kind)}' is not a token kind; use one of ${TOKEN_KINDS.join(', ')}`);
  if (typeof token !== 'string' || token.length === 0) throw invalid(`no ${kind} token was given`);
  if (token.length > MAX_TOKEN_CHARS) throw invalid(`the ${kind} token is ${token.length} characters, longer than any skiff token`);
  const issuer = options.issuer ?? DEFAULT_ISSUER;
  const audience = audienceFor(kind);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [TOKEN_ALGORITHM],
      audience,
      issuer,
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
      clockTolerance: options.clockToleranceSeconds ?? 30,
      ...(options.now === undefined ? {} : { currentDate: options.now() }),
    }));
  } catch (err) {
    throw explain(err, kind, audience);
  }

  const { sub, jti, iat, exp } = payload;
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
    throw invalid(`the ${kind} token's sub, jti, iat or exp claim has the wrong type; ask the broker for a new token`);
  }
  const cluster = payload['cluster'];
  if (cluster !== undefined && typeof cluster !== 'string') throw invalid(`the ${kind} token's cluster claim is not a string`);
  if (expect?.cluster !== undefined && cluster !== expect.cluster) {
    throw invalid(`the ${kind} token was issued for another cluster, not ${expect.cluster}; use a token for this cluster`);
  }
  const role = payload['role'];
  if (role !== undefined && !ROLES.some((r) => r === role)) throw invalid(`the ${kind} token's role claim is not scheduler or worker`);

  const verified: VerifiedToken = {
    kind,
    sub,
    jti,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
    claims: { ...payload },
  };
  if (typeof cluster === 'string') verified.cluster = cluster;
  if (role === 'scheduler' || role === 'worker') verified.role = role;
  return verified;
}

function invalid(message: string): SkiffError {
  return new SkiffError('BRK_TOKEN_INVALID', message);
}

// jose's errors may carry the payload; only our own message leaves here (no cause), so nothing of the token
// reaches a log line that prints the error.
function explain(err: unknown, kind: TokenKind, audience: string): SkiffError {
  if (err instanceof errors.JWTExpired) {
    const exp = err.payload.exp;
    const when = typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : '';
    return invalid(`the ${kind} token expired${when}; ask the broker for a new one`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud': {
        const aud = err.payload.aud;
        const got = typeof aud === 'string' ? ` (it is for '${aud}')` : '';
        return invalid(`the token is not a ${kind} token: its audience is not '${audience}'${got}`);
      }
      case 'iss':
        return invalid(`the ${kind} token was not issued by this broker (wrong issuer)`);
      case 'nbf':
      case 'iat':
        return invalid(`the ${kind} token is not valid yet; check this machine's clock`);
      default:
        return invalid(`the ${kind} token lacks a valid '${err.claim}' claim; ask the broker for a new token`);
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return invalid(`the ${kind} token's signature does not verify: it was altered or signed by another broker's key`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return invalid(`the ${kind} token is signed with an algorithm other than ${TOKEN_ALGORITHM}`);
  }
  return invalid(`the ${kind} token is malformed (not a compact JWS JWT); send the token exactly as the broker issued it`);
}
