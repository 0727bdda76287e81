/**
 * Trust-anchor updates for the devices behind the broker (notes/trust-update.md): the service's
 * signed update for a device, relayed RETAINED on `ace/<device>/trust` so the device finds it at
 * its next wake. The broker is an untrusted carrier (the device verifies the update against its
 * own anchors); it still checks before it routes or retains, so that nobody can replace the
 * retained update with garbage, with one for another device, or with an older one (which would
 * hide the newer one from every device that has not woken yet): the update must verify with the
 * service's signature keys the broker trusts, name the device of its topic, and carry a seq above
 * the last one the broker saw for that device.
 */
import { CoseError, verifyTrustUpdate, type CoseKey, type CryptoProvider } from '../cose/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';
import { MAX_TRL_AUDIENCES } from './revocation-lists.js';

export const TRUST_TOPIC_SUFFIX = '/trust';
/** `ace/<device>/trust` for a device id. */
export const trustTopic = (device: string): string => `ace/${device}${TRUST_TOPIC_SUFFIX}`;

export interface TrustUpdateRelay {
  /** Verifies an update for `device`; returns its seq, or throws BrokerError (replay: not newer). */
  accept(device: string, update: Uint8Array): number;
  /** The last seq seen for `device` (-1: none). */
  seq(device: string): number;
}

export function createTrustUpdateRelay(signers: () => readonly CoseKey[], provider: CryptoProvider): TrustUpdateRelay {
  const seqs = new Map<string, number>();
  return {
    accept(device, update) {
      const last = seqs.get(device) ?? -1;
      let seq: number;
      try {
        seq = verifyTrustUpdate(update, { anchors: signers(), storedSeq: last, audience: device, provider }).seq;
      } catch (cause) {
        if (cause instanceof CoseError) {
          const code = cause.code === 'stale' ? BROKER_ERR.REPLAY : BROKER_ERR.INVALID_TOKEN;
          throw new BrokerError(code, `trust update refused (${cause.code})`, { cause });
        }
        throw cause;
      }
      if (!seqs.has(device) && seqs.size >= MAX_TRL_AUDIENCES) throw new BrokerError(BROKER_ERR.BUSY, 'too many devices');
      seqs.set(device, seq);
      return seq;
    },
    seq: (device) => seqs.get(device) ?? -1,
  };
}
