// The broker's token signing key: an EC P-256 key kept as JWK files so tokens minted before a restart
// still verify after it. Directory 0700, files 0600, written atomically (temp file + rename).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../api/errors.js';
import type { Jwk } from '../api/tokens.js';

export const PRIVATE_KEY_FILE = 'token-signing-key.private.jwk.json';
export const PUBLIC_KEY_FILE = 'token-signing-key.public.jwk.json';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK with kid (RFC 7638 thumbprint), alg and use: what agents get to verify tokens. */
  publicJwk: Jwk;
  kid: string;
}

export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fromPrivateKey(privateKey);
}

export function signingKeyFromJwk(privateJwk: Jwk, source: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new SkiffError('BRK_STORE_CORRUPT', `the token signing key from ${source} is not a private JWK`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SkiffError('BRK_STORE_CORRUPT', `the token signing key from ${source} must be an EC P-256 key`);
  }
  return fromPrivateKey(privateKey);
}

/** Loads the key from `keyDir`, or creates and saves a new one there on first use. */
export function loadOrCreateSigningKey(keyDir: string): SigningKey {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  chmodSync(keyDir, 0o700);
  const privatePath = join(keyDir, PRIVATE_KEY_FILE);
  if (existsSync(privatePath)) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(readFileSync(privatePath, 'utf8'));
    } catch (err) {
      throw new SkiffError('BRK_STORE_CORRUPT', `${privatePath} is not JSON; restore it from a backup, or delete it to make a new key (every token issued so far becomes invalid)`, { cause: err });
    }
    if (typeof jwk !== 'object' || jwk === null) {
      throw new SkiffError('BRK_STORE_CORRUPT', `${privatePath} does not hold a JWK object; restore it or delete it to make a new key`);
    }
    chmodSync(privatePath, 0o600);
    return signingKeyFromJwk(jwk as Jwk, privatePath);
  }
  const key = generateSigningKey();
  const privateJwk = { ...exportJwk(key.privateKey), kid: key.kid, alg: 'ES256', use: 'sig' };
  writeFileAtomic(join(keyDir, PUBLIC_KEY_FILE), `${JSON.stringify(key.publicJwk, null, 2)}\n`);
  // The private file is written last: its presence means the key is complete.
  writeFileAtomic(privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`);
  return key;
}

function fromPrivateKey(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const { kty, crv, x, y } = exportJwk(publicKey);
  if (typeof kty !== 'string' || typeof crv !== 'string' || typeof x !== 'string' || typeof y !== 'string') {
    throw new SkiffError('BRK_STORE_CORRUPT', 'the token signing key has no EC public coordinates');
  }
  // RFC 7638: members in lexicographic order, no whitespace.
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return { privateKey, publicKey, kid, publicJwk: { kty, crv, x, y, kid, alg: 'ES256', use: 'sig' } };
}

function exportJwk(key: KeyObject): Jwk {
  return key.export({ format: 'jwk' });
}

function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
