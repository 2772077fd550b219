// The deployed broker's token signing key, sealed with the workspace's KMS key in the store (id
// `token-signing-key`): every broker of the workspace signs with the same key, so tokens outlive a broker
// replacement. Made on first boot; only its ciphertext is ever stored.
import { SkiffError } from '../api/errors.js';
import type { Jwk } from '../api/tokens.js';
import { generateSigningKey } from '../tokens/key-store.js';
import type { Sealer, SealedBlobs } from './sealing.js';

export const TOKEN_KEY_ID = 'token-signing-key';

export async function loadOrCreateSealedTokenKey(o: { blobs: SealedBlobs; sealer: Sealer; workspace: string }): Promise<{ privateJwk: Jwk; created: boolean }> {
  const context = { 'skiff:workspace': o.workspace, 'skiff:purpose': TOKEN_KEY_ID };
  const open = async (sealed: string): Promise<Jwk> => {
    const text = (await o.sealer.open(sealed, context)).toString('utf8');
    try {
      return JSON.parse(text) as Jwk;
    } catch (err) {
      throw new SkiffError('BRK_STORE_CORRUPT', 'the sealed token signing key is not a JWK', { cause: err });
    }
  };
  const kept = await o.blobs.getSealed(TOKEN_KEY_ID);
  if (kept !== undefined) return { privateJwk: await open(kept), created: false };
  const key = generateSigningKey();
  const privateJwk = { ...(key.privateKey.export({ format: 'jwk' }) as Jwk), kid: key.kid, alg: 'ES256', use: 'sig' };
  await o.blobs.putSealed(TOKEN_KEY_ID, await o.sealer.seal(Buffer.from(JSON.stringify(privateJwk), 'utf8'), context));
  // Read back what the store kept: two brokers booting at the same moment then agree unless their writes and reads
  // interleave (setup boots one broker first; later ones find the key).
  const stored = await o.blobs.getSealed(TOKEN_KEY_ID);
  if (stored === undefined) throw new SkiffError('BRK_STORE_CORRUPT', 'the token signing key just stored cannot be read back');
  return { privateJwk: await open(stored), created: true };
}
