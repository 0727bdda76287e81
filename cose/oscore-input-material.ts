/**
 * The OSCORE_Input_Material of the ACE-OSCORE profile (RFC 9203 §3.2.1): what the service gives a
 * client in the token response's cnf, and puts in the token's cnf claim as osc(4), for client and
 * device to derive an OSCORE security context from. Read strictly: a parameter this code does not
 * know is refused (RFC 9203 §4.2: "any parameters received in the osc field are unrecognized" is
 * 4.00), and every byte string is bounded.
 */
import { CwtClaimError, ERR } from './errors.js';
import { encodeCbor } from './cbor-encode.js';
import { isMap, type CborMap, type CborValue } from './cbor-value.js';
import { concatBytes } from './bytes.js';

/** RFC 9203 §3.2.1 Table 1 ("OSCORE Security Context Parameters" registry, §9.4). */
export const OSC_LABEL = Object.freeze({ id: 0, version: 1, ms: 2, hkdf: 3, alg: 4, salt: 5, contextId: 6 } as const);

/** RFC 8613 §3.2.1: the OSCORE version is 1, the only one defined. */
export const OSCORE_VERSION = 1;
/**
 * RFC 8613 §3.3: a Master Secret of at least 16 bytes; 64 is more than any AEAD key needs. The
 * identifiers, salt and ID Context are short handles; the limits stop a token made to bloat the
 * device's tables.
 */
export const MIN_MASTER_SECRET_BYTES = 16;
export const MAX_MASTER_SECRET_BYTES = 64;
export const MAX_OSC_ID_BYTES = 32;
export const MAX_OSC_SALT_BYTES = 32;
export const MAX_OSC_CONTEXT_ID_BYTES = 32;

export interface OscoreInputMaterial {
  /** id(0): the material's identifier, unique at the service (RFC 9203 §3.2). */
  id: Uint8Array;
  version?: number;
  /** ms(2): the Master Secret; absent only in an update of access rights (§3.2, kid instead). */
  ms?: Uint8Array;
  /** hkdf(3) and alg(4): COSE algorithm values, integer or text (RFC 9203 §3.2.1). */
  hkdf?: number | string;
  alg?: number | string;
  salt?: Uint8Array;
  contextId?: Uint8Array;
}

function invalid(reason: string): CwtClaimError {
  // The claim's path without white space: a codes-only device bundle keeps names, not text
  // (firmware-sim/error-message-strip.ts).
  return new CwtClaimError(ERR.CWT_CLAIM_INVALID, 'cnf(8).osc(4)', reason);
}

function bytesField(v: CborValue, name: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) throw invalid(`${name}: ${min}..${max} bytes`);
  return v;
}

function algField(v: CborValue, name: string): number | string {
  if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && v.length > 0 && v.length <= 32)) return v;
  throw invalid(`${name}: int or short tstr`);
}

export function oscoreInputMaterialToMap(m: OscoreInputMaterial): CborMap {
  const out: CborMap = new Map<CborValue, CborValue>([[OSC_LABEL.id, m.id]]);
  if (m.version !== undefined) out.set(OSC_LABEL.version, m.version);
  if (m.ms !== undefined) out.set(OSC_LABEL.ms, m.ms);
  if (m.hkdf !== undefined) out.set(OSC_LABEL.hkdf, m.hkdf);
  if (m.alg !== undefined) out.set(OSC_LABEL.alg, m.alg);
  if (m.salt !== undefined) out.set(OSC_LABEL.salt, m.salt);
  if (m.contextId !== undefined) out.set(OSC_LABEL.contextId, m.contextId);
  // Read back through the strict reader, so nothing is written that a peer would refuse.
  return (oscoreInputMaterialFromMap(out), out);
}

/** Strict: id(0) required, every field typed and bounded, unknown labels refused. */
export function oscoreInputMaterialFromMap(value: CborValue): OscoreInputMaterial {
  if (!isMap(value)) throw invalid('not a map');
  const known = new Set<CborValue>(Object.values(OSC_LABEL));
  for (const label of value.keys()) {
    if (!known.has(label)) throw invalid(`unknown parameter ${String(label).slice(0, 20)}`);
  }
  const id = value.get(OSC_LABEL.id);
  if (id === undefined) throw invalid('id(0) missing');
  const out: OscoreInputMaterial = { id: bytesField(id, 'id(0)', 1, MAX_OSC_ID_BYTES) };
  const version = value.get(OSC_LABEL.version);
  if (version !== undefined) {
    if (version !== OSCORE_VERSION) throw invalid('version(1) is not 1');
    out.version = version;
  }
  const ms = value.get(OSC_LABEL.ms);
  if (ms !== undefined) out.ms = bytesField(ms, 'ms(2)', MIN_MASTER_SECRET_BYTES, MAX_MASTER_SECRET_BYTES);
  const hkdf = value.get(OSC_LABEL.hkdf);
  if (hkdf !== undefined) out.hkdf = algField(hkdf, 'hkdf(3)');
  const alg = value.get(OSC_LABEL.alg);
  if (alg !== undefined) out.alg = algField(alg, 'alg(4)');
  const salt = value.get(OSC_LABEL.salt);
  if (salt !== undefined) out.salt = bytesField(salt, 'salt(5)', 0, MAX_OSC_SALT_BYTES);
  const contextId = value.get(OSC_LABEL.contextId);
  if (contextId !== undefined) out.contextId = bytesField(contextId, 'contextId(6)', 0, MAX_OSC_CONTEXT_ID_BYTES);
  return out;
}

/**
 * RFC 9203 §4.3: Master Salt = salt | N1 | N2, each "encoded as CBOR byte strings" (Figure 11:
 * 0x50 f9af... 48 018a... 48 25a8...). An absent salt is the empty byte string (0x40), as the
 * salt input is then empty (RFC 8613 §3.2.1 default).
 */
export function aceOscoreMasterSalt(salt: Uint8Array | undefined, nonce1: Uint8Array, nonce2: Uint8Array): Uint8Array {
  return concatBytes(encodeCbor(salt ?? new Uint8Array(0)), encodeCbor(nonce1), encodeCbor(nonce2));
}
