/**
 * Token revocation lists (draft-ietf-ace-revoked-token-notification, application/ace-trl+cbor:
 * full_set 0, diff_set 1, cursor 2, more 3), wrapped in a COSE_Sign1 by the service so that a
 * list can travel through an untrusted broker to a sleeping device. Two labels are ours: the
 * audience the list is for (100), a sequence number (101) so an older list never replaces a
 * newer one, and for clock-less audiences the exi floor (102): every exi token (RFC 9200 §5.10.3)
 * whose sequence number is at or below it is dead. A device counts exi from its own first receipt,
 * so the service cannot tell when a revoked exi token stops mattering; it keeps such a token on
 * the list until the floor covers it, and the device keeps the floor for good.
 */
import { CoseFormatError, ERR } from './errors.js';
import { decodeCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import { asSafeInteger, isMap, type CborMap, type CborValue } from './cbor-value.js';
import type { CoseKey } from './cose-key.js';
import { createSign1, verifySign1 } from './sign1.js';
import type { KeyInput } from './key-input.js';
import type { CryptoProvider } from './crypto-provider.js';
import { DEFAULT_TOKEN_ALGORITHMS } from './cwt.js';

export const TRL_LABEL = { fullSet: 0, diffSet: 1, cursor: 2, more: 3, audience: 100, sequence: 101, exiFloor: 102, issuedBefore: 103 } as const;
/** A list that names more hashes than this is refused: it would not fit a device's RAM budget. */
export const MAX_TRL_HASHES = 1024;
const HASH_LENGTH = 32;

export interface RevocationList {
  audience: string;
  sequence: number;
  /** Every revoked, unexpired token hash for the audience. */
  fullSet?: Uint8Array[];
  /** Changes since the previous list: [removed, added] in the draft's order. */
  diffSet?: { removed: Uint8Array[]; added: Uint8Array[] }[];
  cursor?: number;
  more?: boolean;
  /** Clock-less audiences: exi tokens with a sequence number at or below this are dead. */
  exiFloor?: number;
  /**
   * Every token issued (iat) before this second is dead, and one without iat too. The service
   * sets it when the revoked set would not fit MAX_TRL_HASHES: it lists the newest revocations
   * that fit and gives up the older tokens whole, so an overflowing list never stops revocation.
   */
  issuedBefore?: number;
}

function bad(message: string): CoseFormatError {
  return new CoseFormatError(ERR.COSE_MALFORMED, `revocation list: ${message}`);
}

function hashes(value: CborValue, what: string, budget: { left: number }): Uint8Array[] {
  if (!Array.isArray(value)) throw bad(`${what} must be an array`);
  budget.left -= value.length;
  if (budget.left < 0) throw bad(`more than ${MAX_TRL_HASHES} hashes`);
  return value.map((h) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_LENGTH) throw bad(`${what} holds a value that is not a SHA-256 hash`);
    return h;
  });
}

export function revocationListToMap(list: RevocationList): CborMap {
  const m: CborMap = new Map<CborValue, CborValue>([
    [TRL_LABEL.audience, list.audience],
    [TRL_LABEL.sequence, list.sequence],
  ]);
  if (list.fullSet) m.set(TRL_LABEL.fullSet, list.fullSet);
  if (list.diffSet) m.set(TRL_LABEL.diffSet, list.diffSet.map((d) => [d.removed, d.added]));
  if (list.cursor !== undefined) m.set(TRL_LABEL.cursor, list.cursor);
  if (list.more !== undefined) m.set(TRL_LABEL.more, list.more);
  if (list.exiFloor !== undefined) m.set(TRL_LABEL.exiFloor, list.exiFloor);
  if (list.issuedBefore !== undefined) m.set(TRL_LABEL.issuedBefore, list.issuedBefore);
  return m;
}

export function revocationListFromMap(value: CborValue): RevocationList {
  if (!isMap(value)) throw bad('must be a map');
  const audience = value.get(TRL_LABEL.audience);
  const sequence = asSafeInteger(value.get(TRL_LABEL.sequence));
  if (typeof audience !== 'string') throw bad('audience(100) missing');
  if (sequence === undefined || sequence < 0) throw bad('sequence(101) missing');
  const list: RevocationList = { audience, sequence };
  const budget = { left: MAX_TRL_HASHES };
  const full = value.get(TRL_LABEL.fullSet);
  const diff = value.get(TRL_LABEL.diffSet);
  if (full !== undefined && diff !== undefined) throw bad('full_set(0) and diff_set(1) are exclusive');
  if (full !== undefined) list.fullSet = hashes(full, 'full_set(0)', budget);
  if (diff !== undefined) {
    if (!Array.isArray(diff)) throw bad('diff_set(1) must be an array');
    list.diffSet = diff.map((entry) => {
      if (!Array.isArray(entry) || entry.length !== 2) throw bad('a diff entry must be [removed, added]');
      return { removed: hashes(entry[0], 'removed', budget), added: hashes(entry[1], 'added', budget) };
    });
  }
  if (value.has(TRL_LABEL.cursor)) {
    const cursor = asSafeInteger(value.get(TRL_LABEL.cursor));
    if (cursor === undefined) throw bad('cursor(2) must be an integer');
    list.cursor = cursor;
  }
  if (value.has(TRL_LABEL.more)) {
    const more = value.get(TRL_LABEL.more);
    if (typeof more !== 'boolean') throw bad('more(3) must be a boolean');
    list.more = more;
  }
  if (value.has(TRL_LABEL.exiFloor)) {
    const floor = asSafeInteger(value.get(TRL_LABEL.exiFloor));
    if (floor === undefined || floor < -1) throw bad('exi floor(102) must be an integer of at least -1');
    list.exiFloor = floor;
  }
  if (value.has(TRL_LABEL.issuedBefore)) {
    const before = asSafeInteger(value.get(TRL_LABEL.issuedBefore));
    if (before === undefined || before < 0) throw bad('issued before(103) must be a non-negative integer');
    list.issuedBefore = before;
  }
  return list;
}

export function createRevocationList(list: RevocationList, serviceKey: CoseKey, opts: { provider?: CryptoProvider } = {}): Uint8Array {
  return createSign1(encodeCbor(revocationListToMap(list)), serviceKey, {
    ...(serviceKey.kid ? { kid: serviceKey.kid } : {}),
    ...(opts.provider ? { provider: opts.provider } : {}),
  });
}

/** Verifies the service's signature and that the list is for `audience`. */
export function verifyRevocationList(
  bytes: Uint8Array,
  trust: KeyInput,
  opts: { audience: string; provider?: CryptoProvider; algorithms?: readonly number[] },
): RevocationList {
  const { payload } = verifySign1(bytes, trust, {
    algorithms: opts.algorithms ?? DEFAULT_TOKEN_ALGORITHMS,
    ...(opts.provider ? { provider: opts.provider } : {}),
    limits: { maxBytes: 64 * 1024 },
  });
  const list = revocationListFromMap(decodeCbor(payload, { maxBytes: 64 * 1024, maxDepth: 6 }));
  if (list.audience !== opts.audience) {
    throw new CoseFormatError(ERR.CWT_WRONG_AUDIENCE, 'revocation list: audience(100) is not this audience');
  }
  return list;
}

/**
 * The revoked set that fits a verifier (MAX_TRL_HASHES, a device's RAM budget), with the floor
 * that makes up for what it leaves out: the newest revocations, and `issuedBefore` one second past
 * the newest left out, so that every revoked token is either listed or issued before the floor.
 */
export function fitRevocations<T extends { issuedAt: number }>(entries: readonly T[], max = MAX_TRL_HASHES): { kept: T[]; issuedBefore?: number } {
  if (entries.length <= max) return { kept: [...entries] };
  const newestFirst = [...entries].sort((a, b) => b.issuedAt - a.issuedAt);
  const issuedBefore = newestFirst[max]!.issuedAt + 1;
  return { kept: newestFirst.filter((e) => e.issuedAt >= issuedBefore), issuedBefore };
}

/** Whether a token with this iat is dead under an issued-before floor (-1: none); no iat is dead too. */
export function isIssuedBefore(floor: number, iat: number | undefined): boolean {
  return floor >= 0 && (iat === undefined || iat < floor);
}
