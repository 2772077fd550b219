// The broker's side of tokens: it mints them (issuer.ts); the vocabulary and the verifier are the contract's
// (broker/api/tokens.ts, broker/api/token-verifier.ts), which agents use too.
import type { TokenClaims, TokenVerifier } from '../api/tokens.js';
import type { TokenKind } from '../api/wire.js';

export interface TokenIssuer extends TokenVerifier {
  mint(kind: TokenKind, claims: TokenClaims, ttlSeconds: number): Promise<string>;
}
