/**
 * COSE header parameters (RFC 9052 §3). The rules that stop algorithm confusion live here:
 * `alg` is read from the protected header only, a label may not sit in both buckets, and a
 * `crit` label we do not understand refuses the whole message.
 */
import { CoseFormatError, CoseAlgorithmError, ERR } from './errors.js';
import { decodeOwnedCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import { isMap, type CborMap, type CborValue } from './cbor-value.js';
import { algorithmById, type Algorithm } from './algorithms.js';

export const HEADER = { alg: 1, crit: 2, contentType: 3, kid: 4, iv: 5, partialIv: 6 } as const;

/** Labels this implementation processes, and so may be listed in `crit` (RFC 9052 §3.1). */
const UNDERSTOOD = new Set<CborValue>([HEADER.alg, HEADER.crit, HEADER.contentType, HEADER.kid, HEADER.iv, HEADER.partialIv]);

const EMPTY = /* @__PURE__ */ new Uint8Array(0);

export interface Headers {
  /** The protected bucket as sent: its exact bytes go into every signature and MAC. */
  protectedBytes: Uint8Array;
  protected: CborMap;
  unprotected: CborMap;
}

export interface ParsedHeaders extends Headers {
  alg: Algorithm;
  kid?: Uint8Array;
}

function malformed(message: string): CoseFormatError {
  return new CoseFormatError(ERR.COSE_BAD_HEADER, message);
}

/** RFC 9052 §3: the protected bucket is a bstr wrapping a map, or empty for no parameters. */
export function decodeProtected(value: CborValue): CborMap {
  if (!(value instanceof Uint8Array)) throw malformed('protected header must be a byte string');
  if (value.length === 0) return new Map();
  const map = decodeOwnedCbor(value, { maxBytes: 4096, maxDepth: 8 });
  if (!isMap(map)) throw malformed('protected header must encode a map');
  return map;
}

export function encodeProtected(map: CborMap): Uint8Array {
  // RFC 9052 §3: an empty protected bucket is sent as a zero-length byte string.
  return map.size === 0 ? EMPTY : encodeCbor(map);
}

/**
 * The rules every pair of buckets keeps, with or without an alg of its own (a COSE_Sign body, a
 * recipient): no label in both, crit(2) only protected, and only labels we understand in crit.
 */
/** How long a label taken from the message may be in an error message (the message is the attacker's). */
const MAX_LABEL_TEXT = 32;

/**
 * A header label as an error message names it: a number as is, text cut to MAX_LABEL_TEXT, any
 * other CBOR value by its kind only. The label comes from a message anyone can send, and the
 * error message reaches logs and error responses: kilobytes of chosen text must not.
 */
function labelText(label: CborValue): string {
  if (typeof label === 'number' || typeof label === 'bigint') return String(label).slice(0, MAX_LABEL_TEXT);
  if (typeof label === 'string') return JSON.stringify(label.length > MAX_LABEL_TEXT ? `${label.slice(0, MAX_LABEL_TEXT)}...` : label);
  return label instanceof Uint8Array ? `(a ${label.length}-byte string)` : `(a ${Array.isArray(label) ? 'array' : typeof label})`;
}

export function checkBuckets(prot: CborMap, unprotectedValue: CborValue, understood?: ReadonlySet<CborValue>): asserts unprotectedValue is CborMap {
  if (!isMap(unprotectedValue)) throw malformed('unprotected header must be a map');
  for (const label of unprotectedValue.keys()) {
    if (prot.has(label)) {
      throw new CoseFormatError(ERR.COSE_DUPLICATE_HEADER, `header label ${labelText(label)} is in both buckets`);
    }
  }
  if (unprotectedValue.has(HEADER.crit)) throw malformed('crit(2) must be in the protected header');
  const crit = prot.get(HEADER.crit);
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0) throw malformed('crit(2) must be a non-empty array');
    for (const label of crit) {
      if (!UNDERSTOOD.has(label) && !understood?.has(label)) {
        throw new CoseFormatError(ERR.COSE_UNKNOWN_CRIT, `crit(2) names label ${labelText(label)}, which is not understood`);
      }
      if (!prot.has(label)) throw malformed(`crit(2) names label ${labelText(label)}, which is absent`);
    }
  }
}

/** Checks both buckets and returns them with `alg` (from the protected bucket only) resolved. */
export function parseHeaders(protectedValue: CborValue, unprotectedValue: CborValue, understood?: ReadonlySet<CborValue>): ParsedHeaders {
  const prot = decodeProtected(protectedValue);
  checkBuckets(prot, unprotectedValue, understood);
  const algValue = prot.get(HEADER.alg);
  if (algValue === undefined) {
    // An attacker can rewrite the unprotected bucket: alg there must never be honoured.
    if (unprotectedValue.has(HEADER.alg)) {
      throw new CoseAlgorithmError(ERR.COSE_ALG_UNPROTECTED, 'alg(1) must be in the protected header');
    }
    throw new CoseAlgorithmError(ERR.COSE_ALG_MISSING, 'alg(1) missing from the protected header');
  }
  const alg = algorithmById(algValue);
  const kidValue = prot.get(HEADER.kid) ?? unprotectedValue.get(HEADER.kid);
  if (kidValue !== undefined && !(kidValue instanceof Uint8Array)) throw malformed('kid(4) must be a byte string');
  for (const label of [HEADER.iv, HEADER.partialIv]) {
    const v = prot.get(label) ?? unprotectedValue.get(label);
    if (v !== undefined && !(v instanceof Uint8Array)) throw malformed(`header label ${label} must be a byte string`);
  }
  const parsed: ParsedHeaders = { protectedBytes: protectedValue as Uint8Array, protected: prot, unprotected: unprotectedValue, alg };
  if (kidValue) parsed.kid = kidValue;
  return parsed;
}

/** What a caller may set when creating a message. `alg` and `kid` go in the protected bucket. */
export interface HeaderOptions {
  kid?: Uint8Array;
  /** Extra protected parameters (integer labels). */
  protected?: CborMap;
  /** Unprotected parameters. Our tokens leave this empty so their bytes never change in transit. */
  unprotected?: CborMap;
}

export function buildHeaders(alg: Algorithm, opts: HeaderOptions): Headers {
  const prot: CborMap = new Map([[HEADER.alg, alg.id]]);
  if (opts.kid) prot.set(HEADER.kid, opts.kid);
  for (const [k, v] of opts.protected ?? []) prot.set(k, v);
  const unprotected: CborMap = new Map(opts.unprotected ?? []);
  for (const label of unprotected.keys()) {
    if (prot.has(label)) throw new CoseFormatError(ERR.COSE_DUPLICATE_HEADER, `header label ${labelText(label)} is in both buckets`);
  }
  return { protectedBytes: encodeProtected(prot), protected: prot, unprotected };
}
