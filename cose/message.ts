/**
 * Taking a COSE message apart: strict CBOR, the expected tag or none (users trip over 18 vs 61
 * in every COSE library, so untagged input is accepted), and an array of the right shape.
 */
import { Tag } from './cbor-value.js';
import { CoseFormatError, ERR } from './errors.js';
import { decodeCbor } from './cbor-decode.js';
import type { CborLimits } from './cbor-limits.js';
import type { CborValue } from './cbor-value.js';

export const COSE_TAG = { Encrypt0: 16, Mac0: 17, Sign1: 18, Encrypt: 96, Mac: 97, Sign: 98 } as const;
export type CoseMessageType = keyof typeof COSE_TAG;
/** RFC 8392 §6: a CWT may be wrapped in tag 61 around the COSE tag. */
export const CWT_TAG = 61;

const TYPE_BY_TAG = new Map<number, CoseMessageType>(Object.entries(COSE_TAG).map(([name, tag]) => [tag, name as CoseMessageType]));

const LENGTH: Record<CoseMessageType, number> = { Encrypt0: 3, Mac0: 4, Sign1: 4, Encrypt: 4, Mac: 5, Sign: 4 };

/**
 * Removes an optional CWT tag 61. RFC 8392 §6: the CWT tag "MUST prefix a tagged object using
 * one of the COSE CBOR tags", so 61 around an untagged array, around a second 61 or around any
 * other tag is refused: each would give one token another encoding (and another token hash)
 * without touching its signature.
 */
export function unwrapCwtTag(value: CborValue): CborValue {
  if (!(value instanceof Tag && value.tag === CWT_TAG)) return value;
  const inner = value.value as CborValue;
  if (inner instanceof Tag && inner.tag === CWT_TAG) throw new CoseFormatError(ERR.COSE_WRONG_TAG, 'CWT tag 61 appears twice');
  if (!(inner instanceof Tag) || !TYPE_BY_TAG.has(inner.tag)) {
    throw new CoseFormatError(ERR.COSE_WRONG_TAG, 'CWT tag 61 must wrap a tagged COSE message (RFC 8392 §6)');
  }
  return inner;
}

/** Removes an optional CWT tag 61 and the given COSE tag; refuses any other. */
export function untag(value: CborValue, type: CoseMessageType): CborValue {
  let v = unwrapCwtTag(value);
  if (v instanceof Tag) {
    if (v.tag !== COSE_TAG[type]) {
      throw new CoseFormatError(ERR.COSE_WRONG_TAG, `expected COSE_${type} (tag ${COSE_TAG[type]}), got tag ${v.tag}`);
    }
    v = v.value as CborValue;
  }
  return v;
}

/** The array of a COSE message of `type`, from bytes or an already decoded value. */
export function coseArray(input: Uint8Array | CborValue, type: CoseMessageType, limits?: Partial<CborLimits>): CborValue[] {
  const decoded = input instanceof Uint8Array ? decodeCbor(input, limits) : input;
  const arr = untag(decoded, type);
  if (!Array.isArray(arr) || arr.length !== LENGTH[type]) {
    throw new CoseFormatError(ERR.COSE_MALFORMED, `COSE_${type} must be an array of ${LENGTH[type]}`);
  }
  return arr;
}

/** The tag of a decoded COSE value (looking through tag 61), or undefined when untagged. */
export function coseTypeOf(value: CborValue): CoseMessageType | undefined {
  const v = unwrapCwtTag(value);
  if (!(v instanceof Tag)) return undefined;
  return TYPE_BY_TAG.get(v.tag);
}

export function expectBytes(value: CborValue, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CoseFormatError(ERR.COSE_MALFORMED, `${what} must be a byte string`);
  return value;
}

export function withTag(array: CborValue[], type: CoseMessageType, tagged: boolean): CborValue {
  return tagged ? new Tag(array, COSE_TAG[type]) : array;
}
