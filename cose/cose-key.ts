/**
 * COSE_Key (RFC 9052 §7, RFC 9053 §7): readable names at the API, integer labels on the wire.
 * Decoding checks every parameter's type and every key's length at the door.
 */
import { CoseKeyError, ERR } from './errors.js';
import { asSafeInteger, isMap, type CborMap, type CborValue } from './cbor-value.js';
import { encodeCbor } from './cbor-encode.js';
import { decodeCbor } from './cbor-decode.js';
import { publicPointFlaw } from './curve-points.js';
import type { Curve } from './algorithms.js';

export type KeyType = 'OKP' | 'EC2' | 'Symmetric';
export type KeyOperation =
  | 'sign'
  | 'verify'
  | 'encrypt'
  | 'decrypt'
  | 'wrap key'
  | 'unwrap key'
  | 'derive key'
  | 'derive bits'
  | 'MAC create'
  | 'MAC verify';

export interface CoseKey {
  kty: KeyType;
  kid?: Uint8Array;
  /** COSE algorithm identifier this key is restricted to (label 3). */
  alg?: number;
  keyOps?: KeyOperation[];
  crv?: Curve;
  x?: Uint8Array;
  y?: Uint8Array;
  d?: Uint8Array;
  k?: Uint8Array;
}

export const KEY_LABEL = { kty: 1, kid: 2, alg: 3, keyOps: 4, crv: -1, k: -1, x: -2, y: -3, d: -4 } as const;

const KTY_IDS: Record<KeyType, number> = { OKP: 1, EC2: 2, Symmetric: 4 };
const KTY_BY_ID = new Map<number, KeyType>([
  [1, 'OKP'],
  [2, 'EC2'],
  [4, 'Symmetric'],
]);
const CRV_IDS: Record<Curve, number> = { 'P-256': 1, 'P-384': 2, 'P-521': 3, Ed25519: 6, Ed448: 7 };
const CRV_BY_ID = new Map<number, Curve>(Object.entries(CRV_IDS).map(([n, i]) => [i, n as Curve]));
const OPS: KeyOperation[] = [
  'sign',
  'verify',
  'encrypt',
  'decrypt',
  'wrap key',
  'unwrap key',
  'derive key',
  'derive bits',
  'MAC create',
  'MAC verify',
];

/** Coordinate and scalar lengths per curve (RFC 8032, SEC 1). */
export const CURVE_LENGTH: Record<Curve, number> = {
  Ed25519: 32,
  Ed448: 57,
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
};
const OKP_CURVES: readonly Curve[] = ['Ed25519', 'Ed448'];

function bad(message: string): CoseKeyError {
  return new CoseKeyError(ERR.COSE_KEY_INVALID, `COSE_Key: ${message}`);
}

function bytesParam(map: CborMap, label: number, name: string): Uint8Array | undefined {
  const v = map.get(label);
  if (v === undefined) return undefined;
  if (!(v instanceof Uint8Array)) throw bad(`${name}(${label}) must be a byte string`);
  return v;
}

function checkLength(value: Uint8Array | undefined, name: string, label: number, length: number): void {
  if (value !== undefined && value.length !== length) {
    throw bad(`${name}(${label}) must be ${length} bytes, got ${value.length}`);
  }
}

/**
 * Checks the parameters a key of its type and curve must have, with their lengths, and that its
 * public point is one a key may have (curve-points.ts: no small-order EdDSA key, no EC2 point off
 * the curve). Every COSE_Key and JWK that enters passes here: req_cnf at the service, cnf at
 * every verifier, trust anchors, bundles.
 */
export function validateCoseKey(key: CoseKey): CoseKey {
  if (key.kty === 'Symmetric') {
    if (!key.k || key.k.length === 0) throw bad('k(-1) missing');
    if (key.x || key.y || key.d || key.crv) throw bad('a Symmetric key carries only k(-1)');
    return key;
  }
  if (!key.crv) throw bad('crv(-1) missing');
  const isOkp = OKP_CURVES.includes(key.crv);
  if ((key.kty === 'OKP') !== isOkp) throw bad(`crv(-1) ${key.crv} does not belong to kty(1) ${key.kty}`);
  const n = CURVE_LENGTH[key.crv];
  if (!key.x) throw bad('x(-2) missing');
  checkLength(key.x, 'x', -2, n);
  checkLength(key.d, 'd', -4, n);
  if (key.kty === 'EC2') {
    if (!key.y) throw bad('y(-3) missing (compressed points are not supported)');
    checkLength(key.y, 'y', -3, n);
  } else if (key.y) {
    throw bad('an OKP key has no y(-3)');
  }
  if (key.k) throw bad(`kty(1) ${key.kty} has no k`);
  const flaw = publicPointFlaw(key);
  if (flaw) throw bad(flaw);
  return key;
}

/** A COSE_Key as the CBOR map of RFC 9052 §7. */
export function coseKeyToMap(key: CoseKey): CborMap {
  validateCoseKey(key);
  const m: CborMap = new Map<CborValue, CborValue>([[KEY_LABEL.kty, KTY_IDS[key.kty]]]);
  if (key.kid) m.set(KEY_LABEL.kid, key.kid);
  if (key.alg !== undefined) m.set(KEY_LABEL.alg, key.alg);
  if (key.keyOps) m.set(KEY_LABEL.keyOps, key.keyOps.map((op) => OPS.indexOf(op) + 1));
  if (key.kty === 'Symmetric') {
    m.set(KEY_LABEL.k, key.k!);
  } else {
    m.set(KEY_LABEL.crv, CRV_IDS[key.crv!]);
    m.set(KEY_LABEL.x, key.x!);
    if (key.y) m.set(KEY_LABEL.y, key.y);
    if (key.d) m.set(KEY_LABEL.d, key.d);
  }
  return m;
}

/** Reads a COSE_Key map strictly. Unknown labels are ignored, as RFC 9052 §7 allows. */
export function coseKeyFromMap(value: CborValue): CoseKey {
  if (!isMap(value)) throw bad('expected a map');
  const ktyId = asSafeInteger(value.get(KEY_LABEL.kty));
  const kty = ktyId === undefined ? undefined : KTY_BY_ID.get(ktyId);
  if (!kty) throw bad(`kty(1) ${String(value.get(KEY_LABEL.kty))} is not supported`);
  const key: CoseKey = { kty };
  const kid = bytesParam(value, KEY_LABEL.kid, 'kid');
  if (kid) key.kid = kid;
  const alg = value.get(KEY_LABEL.alg);
  if (alg !== undefined) {
    if (typeof alg !== 'number' || !Number.isSafeInteger(alg)) throw bad('alg(3) must be an integer');
    key.alg = alg;
  }
  const ops = value.get(KEY_LABEL.keyOps);
  if (ops !== undefined) {
    if (!Array.isArray(ops) || ops.length === 0) throw bad('key_ops(4) must be a non-empty array');
    key.keyOps = ops.map((op) => {
      const name = typeof op === 'number' ? OPS[op - 1] : undefined;
      if (!name) throw bad(`key_ops(4) value ${String(op)} is not supported`);
      return name;
    });
  }
  if (kty === 'Symmetric') {
    const k = bytesParam(value, KEY_LABEL.k, 'k');
    if (k) key.k = k;
  } else {
    const crvId = asSafeInteger(value.get(KEY_LABEL.crv));
    const crv = crvId === undefined ? undefined : CRV_BY_ID.get(crvId);
    if (!crv) throw bad(`crv(-1) ${String(value.get(KEY_LABEL.crv))} is not supported`);
    key.crv = crv;
    const x = bytesParam(value, KEY_LABEL.x, 'x');
    if (x) key.x = x;
    const y = value.get(KEY_LABEL.y);
    if (typeof y === 'boolean') throw bad('y(-3) as a sign bit (compressed point) is not supported');
    const yb = bytesParam(value, KEY_LABEL.y, 'y');
    if (yb) key.y = yb;
    const d = bytesParam(value, KEY_LABEL.d, 'd');
    if (d) key.d = d;
  }
  return validateCoseKey(key);
}

export function encodeCoseKey(key: CoseKey): Uint8Array {
  return encodeCbor(coseKeyToMap(key));
}

export function decodeCoseKey(bytes: Uint8Array): CoseKey {
  return coseKeyFromMap(decodeCbor(bytes, { maxBytes: 1024, maxDepth: 4 }));
}

/** The same key without its private part (d), for publishing or for a cnf claim. */
export function publicCoseKey(key: CoseKey): CoseKey {
  if (key.kty === 'Symmetric') throw new CoseKeyError(ERR.COSE_KEY_INVALID, 'COSE_Key: a Symmetric key has no public part');
  const { d: _d, ...rest } = key;
  if (rest.keyOps) rest.keyOps = rest.keyOps.filter((op) => op === 'verify');
  if (rest.keyOps?.length === 0) delete rest.keyOps;
  return rest;
}

/**
 * A copy of a key that shares no bytes with anything: decoded byte strings may be views into a
 * whole token's buffer, and a key kept for a token's lifetime would keep that buffer alive.
 */
export function detachedCoseKey(key: CoseKey): CoseKey {
  const out: CoseKey = { kty: key.kty };
  if (key.crv) out.crv = key.crv;
  if (key.alg !== undefined) out.alg = key.alg;
  if (key.keyOps) out.keyOps = [...key.keyOps];
  for (const f of ['kid', 'x', 'y', 'd', 'k'] as const) if (key[f]) out[f] = key[f]!.slice();
  return out;
}
