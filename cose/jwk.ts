/**
 * COSE_Key (RFC 9052 §7) <-> JWK (RFC 7517) for the keys keybound speaks, so that web clients
 * (DPoP-style, jose) and CBOR devices can name the same key. Both directions are strict: an
 * unknown kty, crv or alg, a member of the wrong type or a coordinate of the wrong length is a
 * CoseKeyError (ERR_COSE_KEY_INVALID), never a half-converted key.
 *
 * kid: COSE kids are bytes, JWK kids are strings (RFC 7517 §4.5). Towards JWK we write the kid as
 * its UTF-8 text when the bytes are "printable" (valid UTF-8 made only of letters, marks, digits,
 * punctuation and symbols: no spaces, controls or invisible format characters that would make two
 * kids look alike), and as base64url otherwise. Towards COSE we take the UTF-8 bytes of the JWK
 * kid by default. So a printable kid round-trips; a binary kid comes back as the bytes of its
 * base64url text unless the caller says `kidEncoding: 'base64url'`. Callers who need a lossless,
 * unambiguous name for a key should use its thumbprint (RFC 9679 / RFC 7638) instead.
 */
import { CoseKeyError, ERR } from './errors.js';
import { ALG } from './algorithms.js';
import type { Curve } from './algorithms.js';
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.js';
import { validateCoseKey, type CoseKey, type KeyOperation } from './cose-key.js';

/** The JWK members we read and write (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2). */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  key_ops?: string[];
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  k?: string;
  [member: string]: unknown;
}

export type KidEncoding = 'utf8' | 'base64url';

/** JWK kids longer than this are not identifiers but payloads; COSE kids are a few bytes. */
export const MAX_KID_LENGTH = 256;
/** The largest JWK member we decode: a 64-byte HMAC key or a 66-byte P-521 coordinate, with room. */
const MAX_B64_MEMBER = 1024;

function bad(message: string): CoseKeyError {
  return new CoseKeyError(ERR.COSE_KEY_INVALID, `JWK: ${message}`);
}

/**
 * COSE algorithm ids and their JWA names (RFC 7518 §3.1, §5.1; RFC 8037 §3.1). HMAC 256/64 (4),
 * AES-CCM and ChaCha20/Poly1305 have no JWA name, so a key restricted to them is written without
 * `alg`: the restriction stays on the COSE side only.
 */
const JWA_BY_ALG = /* @__PURE__ */ new Map<number, string>([
  [ALG.EdDSA, 'EdDSA'],
  [ALG.ES256, 'ES256'],
  [ALG.ES384, 'ES384'],
  [ALG.ES512, 'ES512'],
  [ALG.HMAC_256_256, 'HS256'],
  [ALG.HMAC_384_384, 'HS384'],
  [ALG.HMAC_512_512, 'HS512'],
  [ALG.A128GCM, 'A128GCM'],
  [ALG.A192GCM, 'A192GCM'],
  [ALG.A256GCM, 'A256GCM'],
]);
const ALG_BY_JWA = /* @__PURE__ */ new Map<string, number>(/* @__PURE__ */ [...JWA_BY_ALG].map(([id, name]) => [name, id]));

/** RFC 9052 Table 4 key_ops and RFC 7517 §4.3 key_ops; COSE's MAC create/verify are JWK's sign/verify. */
const JWK_OP: Record<KeyOperation, string> = {
  sign: 'sign',
  verify: 'verify',
  encrypt: 'encrypt',
  decrypt: 'decrypt',
  'wrap key': 'wrapKey',
  'unwrap key': 'unwrapKey',
  'derive key': 'deriveKey',
  'derive bits': 'deriveBits',
  'MAC create': 'sign',
  'MAC verify': 'verify',
};

const OKP_CURVES: ReadonlySet<string> = new Set(['Ed25519', 'Ed448']);
const EC_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521']);

// Letters, marks, numbers, punctuation, symbols: what a person can read and tell apart.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;

/** The JWK kid for COSE kid bytes: their text when printable, else base64url (see the file comment). */
export function kidToJwk(kid: Uint8Array): string {
  let text: string | undefined;
  try {
    text = fromUtf8(kid);
  } catch {
    text = undefined;
  }
  return text !== undefined && PRINTABLE.test(text) ? text : toBase64Url(kid);
}

/** COSE kid bytes for a JWK kid: its UTF-8 bytes by default, or its base64url decoding. */
export function kidFromJwk(kid: string, encoding: KidEncoding = 'utf8'): Uint8Array {
  if (kid.length === 0 || kid.length > MAX_KID_LENGTH) throw bad(`kid must be 1 to ${MAX_KID_LENGTH} characters`);
  if (encoding === 'utf8') return utf8(kid);
  try {
    return fromBase64Url(kid);
  } catch {
    throw bad('kid is not base64url');
  }
}

function b64Member(jwk: Jwk, name: 'x' | 'y' | 'd' | 'k'): Uint8Array | undefined {
  const v = jwk[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${name} must be a string`);
  if (v.length > MAX_B64_MEMBER) throw bad(`${name} is too long`);
  try {
    return fromBase64Url(v);
  } catch {
    throw bad(`${name} is not base64url`);
  }
}

/** Reruns the COSE_Key checks, reporting failures as JWK errors (same class and code). */
function validated(key: CoseKey): CoseKey {
  try {
    return validateCoseKey(key);
  } catch (e) {
    if (e instanceof CoseKeyError) throw bad(e.message.replace(/^COSE_Key: /, ''));
    throw e;
  }
}

/** A COSE_Key as a JWK. Private parts (d, k) are written when the key has them. */
export function coseKeyToJwk(key: CoseKey): Jwk {
  validated(key);
  let jwk: Jwk;
  if (key.kty === 'Symmetric') {
    jwk = { kty: 'oct', k: toBase64Url(key.k!) };
  } else if (key.kty === 'OKP') {
    jwk = { kty: 'OKP', crv: key.crv!, x: toBase64Url(key.x!) };
  } else {
    jwk = { kty: 'EC', crv: key.crv!, x: toBase64Url(key.x!), y: toBase64Url(key.y!) };
  }
  if (key.d) jwk.d = toBase64Url(key.d);
  if (key.kid && key.kid.length > 0) jwk.kid = kidToJwk(key.kid);
  if (key.alg !== undefined) {
    const name = JWA_BY_ALG.get(key.alg);
    if (name) jwk.alg = name;
  }
  if (key.keyOps) jwk.key_ops = [...new Set(key.keyOps.map((op) => JWK_OP[op]))];
  return jwk;
}

function coseOps(ops: unknown, kty: CoseKey['kty']): KeyOperation[] {
  if (!Array.isArray(ops) || ops.length === 0 || ops.length > 8) throw bad('key_ops must be a non-empty array');
  const out: KeyOperation[] = [];
  for (const op of ops) {
    let coseOp: KeyOperation | undefined;
    // RFC 7517 §4.3 uses sign/verify for MACs too; for a symmetric key they mean MAC create/verify.
    if (op === 'sign') coseOp = kty === 'Symmetric' ? 'MAC create' : 'sign';
    else if (op === 'verify') coseOp = kty === 'Symmetric' ? 'MAC verify' : 'verify';
    else coseOp = (Object.keys(JWK_OP) as KeyOperation[]).find((k) => JWK_OP[k] === op && !k.startsWith('MAC'));
    if (!coseOp) throw bad(`key_ops value ${JSON.stringify(String(op)).slice(0, 24)} is not supported`);
    if (out.includes(coseOp)) throw bad(`key_ops lists ${String(op)} twice`);
    out.push(coseOp);
  }
  return out;
}

/**
 * A JWK as a COSE_Key. Members we do not know (and `use`, which COSE has no label for) are
 * ignored, as RFC 7517 §4 requires; a known member of the wrong type or value is refused.
 */
export function jwkToCoseKey(jwk: Jwk, options: { kidEncoding?: KidEncoding } = {}): CoseKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw bad('expected an object');
  let key: CoseKey;
  if (jwk.kty === 'oct') {
    if (jwk.crv !== undefined || jwk.x !== undefined || jwk.y !== undefined || jwk.d !== undefined) {
      throw bad('an oct key carries only k');
    }
    const k = b64Member(jwk, 'k');
    if (!k) throw bad('k missing');
    key = { kty: 'Symmetric', k };
  } else if (jwk.kty === 'OKP' || jwk.kty === 'EC') {
    const curves = jwk.kty === 'OKP' ? OKP_CURVES : EC_CURVES;
    if (typeof jwk.crv !== 'string' || !curves.has(jwk.crv)) {
      throw bad(`crv ${JSON.stringify(String(jwk.crv)).slice(0, 24)} is not supported for kty ${jwk.kty}`);
    }
    if (jwk.k !== undefined) throw bad(`kty ${jwk.kty} has no k`);
    key = { kty: jwk.kty === 'OKP' ? 'OKP' : 'EC2', crv: jwk.crv as Curve };
    const x = b64Member(jwk, 'x');
    const y = b64Member(jwk, 'y');
    const d = b64Member(jwk, 'd');
    if (x) key.x = x;
    if (y) key.y = y;
    if (d) key.d = d;
  } else {
    throw bad(`kty ${JSON.stringify(String(jwk.kty)).slice(0, 24)} is not supported`);
  }
  if (jwk.kid !== undefined) {
    if (typeof jwk.kid !== 'string') throw bad('kid must be a string');
    key.kid = kidFromJwk(jwk.kid, options.kidEncoding);
  }
  if (jwk.alg !== undefined) {
    const id = typeof jwk.alg === 'string' ? ALG_BY_JWA.get(jwk.alg) : undefined;
    if (id === undefined) throw bad(`alg ${JSON.stringify(String(jwk.alg)).slice(0, 24)} is not supported`);
    key.alg = id;
  }
  if (jwk.key_ops !== undefined) key.keyOps = coseOps(jwk.key_ops, key.kty);
  return validated(key);
}
