/**
 * Signature checks taken off the event loop (issue 13): the broker's at CONNECT, the service's of
 * a client assertion. The checks run as always (acceptance rules, pop-proof.ts, verifyCwt), but
 * with a provider whose `verify` only records what it was asked and answers "valid" for now; then
 * every recorded signature is verified in parallel by an asynchronous twin of `verify` (on a
 * server, node:crypto on libuv's thread pool: cose/adapters verifyInThreadPool), while the loop
 * serves other clients. Nothing that may only follow a verified signature happens before that
 * answer: a caller keeps such work in `afterConfirmed` (the broker's verified-token cache entry),
 * or does it only after `confirm()` is true (rate limits, replay records). If a recorded signature
 * fails, the caller refuses or decides again with the real provider. No host API here: the twin
 * is injected.
 */
import type { CoseKey } from './cose-key.js';
import type { CryptoProvider } from './crypto-provider.js';
import type { HashName } from './algorithms.js';

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
