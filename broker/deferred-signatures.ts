/**
 * Signature checks taken off the event loop at CONNECT (issue 13). Admission runs the token's
 * and the proof's checks as always (device/ acceptance rules, pop-proof.ts), but with a provider
 * whose `verify` only records what it was asked and answers "valid" for now; then every recorded
 * signature is verified in parallel on libuv's thread pool (node:crypto), while the loop serves
 * other clients. Nothing that may only follow a verified signature happens before that answer:
 * the verified-token cache entry waits in `afterConfirmed`, and admission charges rate limits and
 * records the proof's jti only after `confirm()` is true. If a recorded signature fails, or the
 * optimistic run refused anything, admission decides again on the loop with the real provider,
 * so a refusal is exactly the synchronous path's (the same code, the same reason), at its cost.
 */
import type { CoseKey, CryptoProvider, HashName } from '../cose/index.js';

/** An asynchronous twin of CryptoProvider.verify with the same rules (cose/adapters verifyInThreadPool). */
export type VerifyOffLoop = (key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array) => Promise<boolean>;

export interface DeferredSignatures {
  /** The base provider, but `verify` records the check and answers true until `confirm`. */
  readonly provider: CryptoProvider;
  /** Whether every recorded signature verifies (checked in parallel, off the event loop). */
  confirm(): Promise<boolean>;
  /** Work that may only follow verified signatures (a cache entry): run by `commit`. */
  afterConfirmed(work: () => void): void;
  /** After `confirm()` answered true: runs the deferred work. */
  commit(): void;
}

export function deferSignatures(base: CryptoProvider, offLoop: VerifyOffLoop): DeferredSignatures {
  const checks: Array<Promise<boolean>> = [];
  const deferredWork: Array<() => void> = [];
  let confirmed = false;
  // Object.create: every other method (digest, hmac, decrypt...) is the base provider's own.
  const provider: CryptoProvider = Object.create(base, {
    verify: {
      value: (key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array): boolean => {
        // Copies: the caller's buffers are not promised to stay as they are.
        checks.push(offLoop(key, hash, message.slice(), signature.slice()));
        return true;
      },
    },
  }) as CryptoProvider;
  return {
    provider,
    async confirm() {
      const results = await Promise.all(checks);
      confirmed = results.every(Boolean);
      return confirmed;
    },
    afterConfirmed(work) {
      deferredWork.push(work);
    },
    commit() {
      if (!confirmed) throw new Error('deferred signatures: commit before a confirmed answer');
      for (const work of deferredWork.splice(0)) work();
    },
  };
}
