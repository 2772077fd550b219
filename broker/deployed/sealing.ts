// What the deployed broker keeps sealed: a secret (a cluster CA key, the token signing key) is encrypted with the
// workspace's KMS key and only the ciphertext is stored. The two ports below are all the sealed stores use.

/**
 * Opaque sealed blobs by id: the store's `getSealed/putSealed/deleteSealed` (both stores, issue 19). Declared
 * here with only what is used, so this code fits either store.
 */
export interface SealedBlobs {
  getSealed(id: string): Promise<string | undefined>;
  putSealed(id: string, value: string): Promise<void>;
  deleteSealed(id: string): Promise<void>;
}

/**
 * Encrypts and decrypts small secrets (KMS: at most 4096 bytes of plaintext). `context` is bound to the
 * ciphertext (KMS encryption context, logged by CloudTrail): a blob opened with another context fails, so one
 * cluster's sealed key cannot be passed off as another's.
 */
export interface Sealer {
  seal(plaintext: Buffer, context: Record<string, string>): Promise<string>;
  open(sealed: string, context: Record<string, string>): Promise<Buffer>;
}

/** KMS's plaintext limit for Encrypt. */
export const MAX_SEALED_PLAINTEXT_BYTES = 4096;
