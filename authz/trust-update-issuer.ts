/**
 * The service's side of trust-anchor updates (notes/trust-update.md, cose/trust-update.ts): for
 * each device audience, `GET /trust/<aud>` answers a COSE_Sign1 over the complete set of signing
 * keys published now, which the brokers relay retained on `ace/<aud>/trust` and a device applies
 * at its next wake. A device only accepts an update signed by a key it already trusts, so the
 * update is signed by the OLDEST key still published: every device that applied any update (or
 * was provisioned) within the publication window still holds that key, however many rotations it
 * slept through. A key unpublished at once after a leak (`rotate-key --keep-old 0`) never signs
 * again; devices that only trusted it need provisioning anew, by design: that key is the
 * attacker's too.
 *
 * The sequence number is derived from the store, so every instance of the service computes the
 * same one and it only ever rises: one per key ever created (a rotation) plus one per key whose
 * publication has ended. Each change of the published set raises it; an unchanged set keeps it
 * (the device then ignores the repeat as `stale`).
 */
import { createTrustUpdate, type CryptoProvider } from '../cose/index.js';
import type { SigningKeys } from './signing-keys.js';

export function trustSequence(keys: SigningKeys, now: number): number {
  const records = keys.allRecords();
  return records.length + records.filter((r) => r.publishUntil !== undefined && r.publishUntil <= now).length;
}

/** The signed update for `audience`, or undefined when this instance holds no published private key. */
export function signedTrustUpdate(keys: SigningKeys, audience: string, now: number, provider: CryptoProvider): Uint8Array | undefined {
  const published = keys.publishedRecords(now);
  const signer = published.map((r) => keys.privateKey(r.kid)).find((k) => k !== undefined);
  if (!signer || published.length === 0) return undefined;
  return createTrustUpdate({ seq: trustSequence(keys, now), keys: published.map((r) => r.publicKey), iat: Math.floor(now), aud: audience }, signer, { provider });
}
