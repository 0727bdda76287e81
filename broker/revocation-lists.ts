/**
 * The service's signed token revocation lists on `ace/trl/<audience>` (draft-ietf-ace-revoked-
 * token-notification, signed so they can cross the broker). A list is routed (retained) only if
 * its signature verifies with the broker's trust anchors, it names the audience of its topic,
 * and its sequence number is above the last one seen for that audience (an old list never
 * replaces a newer one for the devices that wake later). Lists for the broker's own audience are
 * also applied: the caller disconnects clients whose token hash became revoked.
 *
 * The newest list's bytes are kept per audience (within MAX_KEPT_TRL_BYTES), so that when two
 * brokers of a cluster take two lists for one audience in the same instant and the older one
 * lands last in the shared retained store, the broker that holds the newer one sees the older
 * one routed by its peer (`isOlder`) and retains the newer one again (server.ts).
 */
import { CoseError, isIssuedBefore, toHex, verifyRevocationList, type CryptoProvider, type KeyInput } from '../cose/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';

/** Audiences whose last sequence number is remembered; a broker serves a bounded fleet. */
export const MAX_TRL_AUDIENCES = 10_000;
/** Bytes of newest lists kept to re-retain after a race (a list of 20 hashes is ~800 bytes). */
export const MAX_KEPT_TRL_BYTES = 8 * 1024 * 1024;

export interface RevocationLists {
  /** Checks a list for `audience`; returns the newly revoked hashes when it is the broker's own. */
  accept(audience: string, signedList: Uint8Array): string[];
  isRevoked(hashHex: string): boolean;
  /** Revoked by hash, or a by-value token issued before the own audience's issued-before floor. */
  isTokenRevoked(token: { hashHex: string; issuedAt: number | undefined; reference: boolean }): boolean;
  /** The highest issued-before floor the own audience's lists carried (-1: none). */
  readonly issuedBefore: number;
  /** Is `signedList` (verified) older than the newest list seen for `audience`? */
  isOlder(audience: string, signedList: Uint8Array): boolean;
  /** The newest list seen for `audience`, when its bytes were kept. */
  newest(audience: string): Uint8Array | undefined;
  readonly revokedCount: number;
}

export function createRevocationLists(ownAudience: string, trust: KeyInput, provider: CryptoProvider): RevocationLists {
  const sequences = new Map<string, number>();
  const kept = new Map<string, Uint8Array>();
  let keptBytes = 0;
  let revoked = new Set<string>();
  let issuedBefore = -1; // only ever rises: a later, smaller floor never brings a token back
  const verify = (audience: string, signedList: Uint8Array) => {
    try {
      return verifyRevocationList(signedList, trust, { audience, provider });
    } catch (cause) {
      if (cause instanceof CoseError) throw new BrokerError(BROKER_ERR.INVALID_TOKEN, `revocation list refused (${cause.code})`, { cause });
      throw cause;
    }
  };
  const keep = (audience: string, signedList: Uint8Array) => {
    keptBytes -= kept.get(audience)?.length ?? 0;
    kept.delete(audience);
    if (keptBytes + signedList.length > MAX_KEPT_TRL_BYTES) return;
    kept.set(audience, signedList.slice());
    keptBytes += signedList.length;
  };
  return {
    accept(audience, signedList) {
      const list = verify(audience, signedList);
      const last = sequences.get(audience) ?? -1;
      if (list.sequence <= last) throw new BrokerError(BROKER_ERR.REPLAY, `revocation list ${list.sequence} is not newer than ${last}`);
      if (!sequences.has(audience) && sequences.size >= MAX_TRL_AUDIENCES) throw new BrokerError(BROKER_ERR.BUSY, 'too many audiences');
      sequences.set(audience, list.sequence);
      keep(audience, signedList);
      if (audience !== ownAudience) return [];
      const next = list.fullSet ? new Set(list.fullSet.map(toHex)) : new Set(revoked);
      for (const d of list.diffSet ?? []) {
        for (const h of d.removed) next.delete(toHex(h));
        for (const h of d.added) next.add(toHex(h));
      }
      const added = [...next].filter((h) => !revoked.has(h));
      revoked = next;
      if (list.issuedBefore !== undefined) issuedBefore = Math.max(issuedBefore, list.issuedBefore);
      return added;
    },
    isRevoked: (hashHex) => revoked.has(hashHex),
    isTokenRevoked: (t) => revoked.has(t.hashHex) || (!t.reference && isIssuedBefore(issuedBefore, t.issuedAt)),
    get issuedBefore() {
      return issuedBefore;
    },
    isOlder(audience, signedList) {
      const last = sequences.get(audience);
      return last !== undefined && verify(audience, signedList).sequence < last;
    },
    newest: (audience) => kept.get(audience),
    get revokedCount() {
      return revoked.size;
    },
  };
}
