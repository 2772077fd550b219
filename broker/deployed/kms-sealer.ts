// The Sealer on AWS KMS: Encrypt/Decrypt with the workspace key (symmetric, AES-256-GCM inside KMS). The key
// never leaves KMS; what the broker keeps is base64 ciphertext. Each call is bounded in time; SDK errors are
// wrapped here, retryable when AWS says so.
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { SkiffError } from '../api/errors.js';
import { MAX_SEALED_PLAINTEXT_BYTES, type Sealer } from './sealing.js';

export interface KmsSealerOptions {
  kms: Pick<KMSClient, 'send'>;
  /** Key id, ARN or alias (the parameter's kmsKeyId). */
  keyId: string;
  /** Per call (default 10 s). */
  timeoutMs?: number;
}

export function createKmsSealer(o: KmsSealerOptions): Sealer {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const wrap = (what: string, err: unknown): SkiffError => {
    const e = err as { name?: string; message?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode ?? 0;
    const retryable = e.$retryable !== undefined || status >= 500 || e.name === 'TimeoutError' || e.name === 'AbortError';
    return new SkiffError('BRK_CONFIG', `KMS ${what} with key ${o.keyId} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}` +
      (e.name === 'AccessDeniedException' ? '; the broker\'s role needs kms:Encrypt and kms:Decrypt on the workspace key (re-run `skiff setup aws`)' : ''), { cause: err, retryable });
  };
  return {
    async seal(plaintext, context) {
      if (plaintext.length > MAX_SEALED_PLAINTEXT_BYTES) {
        throw new SkiffError('BRK_INTERNAL', `a sealed secret is at most ${MAX_SEALED_PLAINTEXT_BYTES} bytes (KMS Encrypt); got ${plaintext.length}`);
      }
      try {
        const out = await o.kms.send(new EncryptCommand({ KeyId: o.keyId, Plaintext: plaintext, EncryptionContext: context }), { abortSignal: AbortSignal.timeout(timeoutMs) });
        if (!out.CiphertextBlob) throw new Error('no CiphertextBlob in the answer');
        return Buffer.from(out.CiphertextBlob).toString('base64');
      } catch (err) {
        throw wrap('Encrypt', err);
      }
    },
    async open(sealed, context) {
      try {
        const out = await o.kms.send(
          new DecryptCommand({ KeyId: o.keyId, CiphertextBlob: Buffer.from(sealed, 'base64'), EncryptionContext: context }),
          { abortSignal: AbortSignal.timeout(timeoutMs) },
        );
        if (!out.Plaintext) throw new Error('no Plaintext in the answer');
        return Buffer.from(out.Plaintext);
      } catch (err) {
        throw wrap('Decrypt', err);
      }
    },
  };
}
