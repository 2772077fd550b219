// Token vocabulary shared by the broker's issuer and the agents' verifier.
import type { Role, TokenKind } from './wire.js';

export const TOKEN_ALGORITHM = 'ES256';
export const DEFAULT_ISSUER = 'skiff-broker';
export const TOKEN_KINDS: readonly TokenKind[] = ['enrol', 'agent', 'user', 'dashboard'];
export const ROLES: readonly Role[] = ['scheduler', 'worker'];

/** One audience per kind: a token minted for one purpose is refused for every other. */
export function audienceFor(kind: TokenKind): string {
  return `skiff:${kind}`;
}

/** A public or private JWK as JSON (jose's JWK type, kept loose so wire payloads pass through). */
export type Jwk = Record<string, unknown>;

export interface TokenClaims {
  sub: string;
  cluster?: string;
  role?: Role;
  [claim: string]: unknown;
}

export interface VerifiedToken {
  kind: TokenKind;
  sub: string;
  cluster?: string;
  role?: Role;
  /** Unique per token: lets the broker make enrol tokens single-use. */
  jti: string;
  issuedAt: Date;
  expiresAt: Date;
  /** Every claim of the payload, registered ones included. */
  claims: Record<string, unknown>;
}

export interface TokenVerifyExpectations {
  /** Refuse a token whose `cluster` claim is not this cluster id. */
  cluster?: string;
}

export interface TokenVerifier {
  verify(kind: TokenKind, token: string, expect?: TokenVerifyExpectations): Promise<VerifiedToken>;
  readonly publicJwk: Jwk;
}

