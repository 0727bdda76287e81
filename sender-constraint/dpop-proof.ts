/**
 * Checking a DPoP proof (RFC 9449 §4.3): a JWS whose header carries the client's public key, for
 * one HTTP request (htm, htu), at one time (iat), optionally for one access token (ath) and one
 * server nonce. jose verifies the signature under the embedded key; the rest are checked here,
 * each refusal an `invalid_dpop_proof` (or `use_dpop_nonce`) DpopError. The caller records
 * (jkt, jti) in a replay record (dpop-replay.ts) or passes one in `replay`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWK } from 'jose';
import { jwkThumbprint } from './jwk-thumbprint.js';
import { proofKey } from './proof-keys.js';
import { DpopError, invalidDpopProof } from './errors.js';
import type { DpopReplayRecord } from './dpop-replay.js';

/**
 * The asymmetric JWS algorithms accepted by default (RFC 9449 §4.3 step 5: not `none`, not a MAC).
 * RS256 stays out: PKCS#1 v1.5 is allowed only when a deployment names it.
 */
export const DEFAULT_DPOP_ALGS: readonly string[] = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512'];
/** Every algorithm a deployment may add: asymmetric only, so an allow-list cannot admit HS256. */
const ASYMMETRIC_ALGS = new Set([...DEFAULT_DPOP_ALGS, 'RS256', 'RS384', 'RS512']);
/** An RSA-4096 key in the header with an RSA-4096 signature is about 2.3 KB: twice that is the bound. */
export const MAX_DPOP_PROOF_CHARS = 4096;
/** RFC 9449 §11.1: a short window; 60 s either side by default (clock skew of constrained clients). */
export const DEFAULT_IAT_WINDOW_SECONDS = 60;
const MAX_JTI_CHARS = 256;
const MAX_HTU_CHARS = 2048;
/** Private members of any JWK type (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/**
 * RSA proof keys: the verifier's cost is chosen by whoever sends the key, before any client is
 * authenticated. A public exponent of 3072 bits makes one PS256 check cost a private-key
 * operation (about 50 times 65537's); OpenSSL caps e only above 3072-bit moduli. So e is at most
 * 32 bits (65537 in practice; RFC 8017 §3.1 sets no upper bound, SP 800-56B wants e < 2^256) and
 * the modulus 2048 to 4096 bits (jose refuses below 2048, RFC 7518 §3.3).
 */
const MAX_RSA_E_BYTES = 4;
const RSA_MODULUS_BITS = { min: 2048, max: 4096 } as const;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** What the request that carried the proof was. */
export interface DpopCheck {
  method: string;
  url: string;
  /** The access token presented with the proof (at a resource server, or a refresh's none): ath must match. */
  accessToken?: string;
  /** The nonce expected: a value, or a check (stateless nonces: dpop-nonce.ts checkDpopNonce). */
  nonce?: string | ((nonce: string) => boolean);
  /** Seconds since the epoch. */
  now: number;
  /** Seconds either side of `now` an iat may be (default 60). */
  iatWindow?: number;
  /** The algorithm allow-list (default DEFAULT_DPOP_ALGS); asymmetric algorithms only. */
  algs?: readonly string[];
  /** When given, (jkt, jti) is recorded until dpopReplayExpiry(iat, window) and a second use is refused. */
  replay?: DpopReplayRecord;
}

export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key, base64url (the `cnf.jkt` of bound tokens). */
  jkt: string;
  jti: string;
  iat: number;
  nonce?: string;
  alg: string;
  /** The proof's public key (RFC 9449 §4.2 `jwk`), public members only. */
  jwk: JWK;
}

/**
 * RFC 9449 §4.3 step 9: htu compared after RFC 3986 §6.2.2/§6.2.3 normalisation (case of scheme
 * and host, default port, dot segments, percent-encoding case), without query and fragment.
 */
export function normalizeHtu(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidDpopProof('htu is not an absolute URI');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalidDpopProof('htu is not an http(s) URI');
  if (parsed.username !== '' || parsed.password !== '') throw invalidDpopProof('htu carries user information');
  const path = parsed.pathname.replace(/%[0-9a-f]{2}/gi, (e) => e.toUpperCase());
  return `${parsed.protocol}//${parsed.host}${path}`;
}

const sha256B64url = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url');

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function checkHeader(proofJwt: string, algs: readonly string[]): { alg: string; jwk: JWK } {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proofJwt);
  } catch (cause) {
    throw invalidDpopProof('DPoP proof is not a JWS', cause);
  }
  // RFC 9449 §4.3 step 4: typ dpop+jwt, exactly (explicit typing, RFC 8725 §3.11).
  if (header.typ !== 'dpop+jwt') throw invalidDpopProof('DPoP proof typ is not dpop+jwt');
  const alg = header.alg;
  // §4.3 step 5: alg is asymmetric, not none, and one the server accepts.
  if (typeof alg !== 'string' || !algs.includes(alg) || !ASYMMETRIC_ALGS.has(alg)) throw invalidDpopProof('DPoP proof alg not accepted');
  const jwk = header.jwk;
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw invalidDpopProof('DPoP proof has no jwk');
  // §4.3 step 7: the jwk is a public key; a private member means the client leaked its key.
  for (const member of PRIVATE_JWK_MEMBERS) {
    if (Object.prototype.hasOwnProperty.call(jwk, member)) throw invalidDpopProof('DPoP proof jwk carries private key material');
  }
  // RFC 7517 §4.2, §4.4: a jwk that names a use or an alg names these ones.
  if (jwk.use !== undefined && jwk.use !== 'sig') throw invalidDpopProof('DPoP proof jwk use is not sig');
  if (jwk.alg !== undefined && jwk.alg !== alg) throw invalidDpopProof('DPoP proof jwk alg differs from the header alg');
  checkCanonicalMembers(jwk);
  if (jwk.kty === 'RSA') checkRsaSize(jwk);
  return { alg, jwk };
}

/**
 * RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2: the key's members are base64url without padding (RFC 7515
 * §2). Decoders also take padding, whitespace and set unused trailing bits, each giving the same
 * key another RFC 7638 thumbprint: one key must have one jkt, or a refresh token or a CWT cnf
 * bound to it would not match the same client's next proof.
 */
function checkCanonicalMembers(jwk: JWK): void {
  for (const member of ['x', 'y', 'n', 'e'] as const) {
    const v = jwk[member];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !B64URL.test(v) || Buffer.from(v, 'base64url').toString('base64url') !== v) throw invalidDpopProof(`DPoP proof jwk ${member} is not canonical base64url`);
  }
}

/** Bounds an RSA proof key's size before it is imported or used (see MAX_RSA_E_BYTES). */
function checkRsaSize(jwk: JWK): void {
  const { n, e } = jwk;
  if (typeof n !== 'string' || typeof e !== 'string' || !B64URL.test(n) || !B64URL.test(e)) throw invalidDpopProof('DPoP proof RSA jwk malformed');
  // RFC 7518 §6.3.1.1-2: unsigned big-endian, minimal (no leading zero octet).
  const eBytes = Buffer.from(e, 'base64url');
  if (eBytes.length === 0 || eBytes.length > MAX_RSA_E_BYTES || eBytes[0] === 0) throw invalidDpopProof('DPoP proof RSA exponent not accepted');
  // Length first: a 4096-bit modulus is 683 base64url characters, so a huge n is never decoded.
  if (n.length > Math.ceil((RSA_MODULUS_BITS.max / 8) * 4 / 3)) throw invalidDpopProof('DPoP proof RSA modulus size not accepted');
  const nBytes = Buffer.from(n, 'base64url');
  const bits = nBytes.length === 0 || nBytes[0] === 0 ? 0 : (nBytes.length - 1) * 8 + (32 - Math.clz32(nBytes[0]!));
  if (bits < RSA_MODULUS_BITS.min || bits > RSA_MODULUS_BITS.max) throw invalidDpopProof('DPoP proof RSA modulus size not accepted');
}


/** Checks a DPoP proof for a request (RFC 9449 §4.3); throws DpopError. */
export async function verifyDpopProof(proofJwt: string, check: DpopCheck): Promise<DpopProof> {
  // §4.3 step 1-2: one well-formed JWT, bounded before any parsing.
  if (typeof proofJwt !== 'string' || proofJwt.length === 0) throw invalidDpopProof('no DPoP proof');
  if (proofJwt.length > MAX_DPOP_PROOF_CHARS) throw invalidDpopProof('DPoP proof too large');
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proofJwt)) throw invalidDpopProof('DPoP proof is not a compact JWS');
  const algs = check.algs ?? DEFAULT_DPOP_ALGS;
  const window = check.iatWindow ?? DEFAULT_IAT_WINDOW_SECONDS;
  const { alg, jwk } = checkHeader(proofJwt, algs);
  const jkt = jwkThumbprint(jwk as Record<string, unknown>);
  if (jkt === undefined) throw invalidDpopProof('DPoP proof jwk lacks a required member');

  // §4.3 step 6, 8: the signature verifies under the embedded key, with the header's alg.
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(proofJwt, await proofKey(jwk, alg, jkt), {
      typ: 'dpop+jwt',
      algorithms: [alg],
      currentDate: new Date(check.now * 1000),
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    }));
  } catch (cause) {
    if (cause instanceof joseErrors.JOSEError) throw invalidDpopProof(`DPoP proof does not verify (${cause.code})`, cause);
    throw invalidDpopProof('DPoP proof does not verify', cause);
  }

  // §4.3 step 3: required claims, of the right types and bounded.
  const { jti, htm, htu, iat, ath, nonce } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) throw invalidDpopProof('DPoP proof jti missing or too long');
  if (typeof htm !== 'string' || typeof htu !== 'string' || htu.length > MAX_HTU_CHARS) throw invalidDpopProof('DPoP proof htm/htu malformed');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidDpopProof('DPoP proof iat malformed');
  // §4.3 step 8: htm is the request's method (case-sensitive, RFC 9110 §9.1).
  if (htm !== check.method) throw invalidDpopProof('DPoP proof is for another method');
  // §4.2: htu has no query or fragment; §4.3 step 9: it matches the request URI without them.
  if (htu.includes('?') || htu.includes('#')) throw invalidDpopProof('DPoP proof htu carries a query or fragment');
  if (normalizeHtu(htu) !== normalizeHtu(check.url)) throw invalidDpopProof('DPoP proof is for another URI');
  // §4.3 step 11: iat within the window (§11.1: it bounds how long a jti must be remembered).
  if (Math.abs(check.now - iat) > window) throw invalidDpopProof('DPoP proof iat outside the accepted window');
  // §4.3 step 12: with an access token, ath is its SHA-256.
  if (check.accessToken !== undefined) {
    if (typeof ath !== 'string' || !equalText(ath, sha256B64url(check.accessToken))) throw invalidDpopProof('DPoP proof ath does not match the access token');
  }
  // §4.3 step 10, §8, §9: the server's nonce, when it asks for one.
  if (nonce !== undefined && typeof nonce !== 'string') throw invalidDpopProof('DPoP proof nonce malformed');
  if (check.nonce !== undefined) {
    const ok = typeof nonce === 'string' && (typeof check.nonce === 'string' ? equalText(nonce, check.nonce) : check.nonce(nonce));
    if (!ok) throw new DpopError('use_dpop_nonce', 'DPoP proof lacks the current server nonce');
  }

  const publicJwk = { ...jwk };
  // §11.1: a jti is refused again for as long as its iat would be accepted.
  if (check.replay !== undefined && (await check.replay.seen(jkt, jti, dpopReplayExpiry(iat, window)))) throw invalidDpopProof('DPoP proof replayed');
  return { jkt, jti, iat, alg, jwk: publicJwk, ...(typeof nonce === 'string' ? { nonce } : {}) };
}

/**
 * RFC 9449 §11.1: until when a proof's (jkt, jti) must be remembered. A proof is accepted while
 * |now - iat| <= window, that is up to and including now = iat + window; a record holds while its
 * expiry is after now, so the expiry is one second later, or a replay in that last second passes.
 */
export const dpopReplayExpiry = (iat: number, window: number): number => iat + window + 1;

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII access token)). */
export const accessTokenHash = sha256B64url;
