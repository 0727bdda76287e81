/**
 * The token store across reboots (issue 10: "restart loses nothing"). Every accepted token's entry
 * (its hash, scope claim, PoP key, expiry, subject, iat, exi sequence, signer kid, OSCORE
 * material) is written as one storage
 * value whenever the store changes, before the device answers: a token acknowledged on authz-info
 * is still held after a power cut or a kill -9, and a client's next request needs no re-post.
 * What is stored are the checks' RESULTS, not the tokens: re-verifying at boot would spend a
 * cnonce or count an exi token twice. The value holds symmetric PoP keys: it is as secret as the
 * rest of the device's storage (owner-only files, see adapters/file-storage.ts).
 */
import {
  asSafeInteger,
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  isMap,
  oscoreInputMaterialFromMap,
  oscoreInputMaterialToMap,
  toHex,
  type CborValue,
  type Scope,
} from '../cose/index.js';
import type { StoredToken } from './token-store.js';

export const TOKENS_STORAGE_KEY = 'tokens';
/** Far above a device's token budget (DEFAULT_TOKEN_BUDGET_BYTES, entries are smaller than their tokens). */
const MAX_STORED_TOKENS_BYTES = 256 * 1024;

const orNull = (v: CborValue | undefined): CborValue => (v === undefined ? null : v);

/**
 * One entry as the CBOR array both the store (in RAM) and its storage value hold: the storage
 * value is the CBOR array of these, concatenated as they are (token-store.ts's `encoded()`).
 */
export function encodeStoredToken(e: StoredToken): Uint8Array {
  return encodeCbor([
    e.hash,
    orNull(e.scopeClaim as CborValue | undefined),
    coseKeyToMap(e.popKey),
    Number.isFinite(e.expiresAt) ? e.expiresAt : null,
    orNull(e.subject),
    orNull(e.issuedAt),
    orNull(e.exiSequence),
    e.reference,
    e.cost,
    orNull(e.other),
    orNull(e.signerKid),
    // RFC 9203: the OSCORE_Input_Material, so a re-post after a reboot still sets up OSCORE.
    e.osc ? oscoreInputMaterialToMap(e.osc) : null,
  ]);
}

const optInt = (v: CborValue | undefined): number | undefined => (v === null || v === undefined ? undefined : asSafeInteger(v));

/** One entry back from its decoded array; throws when it does not read back. */
function storedTokenFromItem(item: CborValue, parseScope: (claim: CborValue) => Scope): StoredToken {
  // 11 fields before the OSCORE material was kept: such an entry reads as a non-OSCORE token.
  const [hash, scopeClaim, popKey, expiresAt, subject, issuedAt, exiSequence, reference, cost, other, signerKid, osc] = Array.isArray(item) ? item : [];
  const costN = asSafeInteger(cost);
  if (!Array.isArray(item) || (item.length !== 11 && item.length !== 12) || !(hash instanceof Uint8Array) || hash.length !== 32 || typeof reference !== 'boolean' || costN === undefined || costN < 0) {
    throw new TypeError(); // skipped by decodeStoredTokens; the store reads only what it wrote
  }
  return {
    hash,
    hashHex: toHex(hash),
    scope: parseScope(scopeClaim as CborValue),
    scopeClaim: scopeClaim as CborValue,
    popKey: coseKeyFromMap(popKey as CborValue),
    expiresAt: expiresAt === null ? Number.POSITIVE_INFINITY : (asSafeInteger(expiresAt) ?? 0),
    subject: typeof subject === 'string' ? subject : undefined,
    issuedAt: optInt(issuedAt),
    exiSequence: optInt(exiSequence),
    other: isMap(other) ? other : undefined,
    reference,
    cost: costN,
    ...(signerKid instanceof Uint8Array ? { signerKid } : {}),
    ...(osc !== undefined && osc !== null ? { osc: oscoreInputMaterialFromMap(osc) } : {}),
  };
}

/** One entry the store encoded itself (encodeStoredToken): decoded on use. Throws if damaged. */
export function decodeStoredToken(bytes: Uint8Array, parseScope: (claim: CborValue) => Scope): StoredToken {
  return storedTokenFromItem(decodeCbor(bytes, { maxBytes: MAX_STORED_TOKENS_BYTES, maxDepth: 8 }), parseScope);
}

/**
 * The entries stored; one that does not read back (a version skew, a damaged value) is left out
 * rather than trusted: the client posts that token again.
 */
export function decodeStoredTokens(bytes: Uint8Array, parseScope: (claim: CborValue) => Scope): StoredToken[] {
  let v: CborValue;
  try {
    v = decodeCbor(bytes, { maxBytes: MAX_STORED_TOKENS_BYTES, maxDepth: 8 });
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  const entries: StoredToken[] = [];
  for (const item of v) {
    try {
      entries.push(storedTokenFromItem(item, parseScope));
    } catch {
      // a damaged entry: skipped (see above)
    }
  }
  return entries;
}
