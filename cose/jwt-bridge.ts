/**
 * A CWT's claims as a JWT claims set and back, so that web clients can read (and, with `jose`,
 * sign and verify) the same grant. Names are RFC 7519 §4.1's; cnf follows RFC 7800 (jwk, kid);
 * ace_profile and exi are RFC 9200 §5.10's JWT names. Binary values become base64url (RFC 7515
 * §2): cti → jti, cnf kid. A claim with no JWT form is refused with a typed error, never dropped.
 */
import { SignJWT, jwtVerify, importJWK, type JWTPayload, type JWK } from 'jose';
import { CoseError } from './errors.js';
import { fromBase64Url, toBase64Url } from './bytes.js';
import { decodeCbor } from './cbor-decode.js';
import type { CborValue } from './cbor-value.js';
import type { CoseKey } from './cose-key.js';
import { publicCoseKey } from './cose-key.js';
import { coseKeyToJwk, jwkToCoseKey, type Jwk } from './jwk.js';
import type { CwtClaims } from './cwt-claims.js';
import type { Clock } from './cwt.js';

/** A claim that has no form on the other side, or a JWT claim of the wrong type. */
export class JwtBridgeError extends CoseError {
  static override readonly errorName: string = 'JwtBridgeError';
}
export const ERR_JWT_BRIDGE = 'ERR_JWT_BRIDGE_UNSUPPORTED';

/** An AIF scope is a few entries of [text, integer | [text]]; deeper is not a scope we know. */
const MAX_SCOPE_DEPTH = 4;
/** Larger than any scope or claim value we issue; a JWT from outside is bounded before we copy it. */
const MAX_SCOPE_ITEMS = 256;

export interface JwtClaims extends JWTPayload {
  cnf?: { jwk: Jwk } | { kid: string };
  scope?: string | unknown[];
  ace_profile?: number;
  exi?: number;
}

function unsupported(message: string): JwtBridgeError {
  return new JwtBridgeError(ERR_JWT_BRIDGE, message);
}

/** AIF (RFC 9237) arrays hold only text, integers and arrays of them: exactly JSON's. */
function aifToJson(value: CborValue, depth = 0): unknown {
  if (depth > MAX_SCOPE_DEPTH) throw unsupported('scope(9) is nested too deeply for an AIF scope');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (Array.isArray(value)) {
    if (value.length > MAX_SCOPE_ITEMS) throw unsupported('scope(9) has too many entries');
    return value.map((v) => aifToJson(v, depth + 1));
  }
  throw unsupported('scope(9) holds a value with no JSON form (only text, integers and arrays are AIF)');
}

function jsonToAif(value: unknown, depth = 0): CborValue {
  if (depth > MAX_SCOPE_DEPTH) throw unsupported('JWT scope is nested too deeply for an AIF scope');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (Array.isArray(value)) {
    if (value.length > MAX_SCOPE_ITEMS) throw unsupported('JWT scope has too many entries');
    return value.map((v) => jsonToAif(v, depth + 1));
  }
  throw unsupported('JWT scope must be text or an AIF array of text and integers');
}

/** The JWT claims set for a CWT's claims (RFC 8392 §3 names → RFC 7519 names). */
export function cwtClaimsToJwt(claims: CwtClaims): JwtClaims {
  const out: JwtClaims = {};
  if (claims.iss !== undefined) out.iss = claims.iss;
  if (claims.sub !== undefined) out.sub = claims.sub;
  if (claims.aud !== undefined) out.aud = Array.isArray(claims.aud) ? [...claims.aud] : claims.aud;
  if (claims.exp !== undefined) out.exp = claims.exp;
  if (claims.nbf !== undefined) out.nbf = claims.nbf;
  if (claims.iat !== undefined) out.iat = claims.iat;
  if (claims.cti !== undefined) out.jti = toBase64Url(claims.cti);
  if (claims.cnf !== undefined) {
    const cnf = claims.cnf;
    if ('coseKey' in cnf) out.cnf = { jwk: coseKeyToJwk(publicCoseKey(cnf.coseKey)) }; // RFC 7800 §3.2
    else if ('kid' in cnf) out.cnf = { kid: toBase64Url(cnf.kid) }; // RFC 7800 §3.4
    else {
      // RFC 7800 §3.3 would want a JWE of the key; a COSE_Encrypt0 has no faithful JWE form.
      throw unsupported('cnf(8) holds an Encrypted_COSE_Key(2), which has no JWT form; only the audience can open it');
    }
  }
  if (claims.scope !== undefined) {
    let scope: CborValue = claims.scope;
    // RFC 9237 §4: an AIF scope may travel as a byte string wrapping the CBOR array.
    if (scope instanceof Uint8Array) {
      try {
        scope = decodeCbor(scope, { maxBytes: 4096, maxDepth: MAX_SCOPE_DEPTH + 1 });
      } catch {
        throw unsupported('scope(9) is a byte string that does not hold an AIF array');
      }
    }
    out.scope = typeof scope === 'string' ? scope : (aifToJson(scope) as unknown[]);
  }
  if (claims.ace_profile !== undefined) out.ace_profile = claims.ace_profile;
  if (claims.exi !== undefined) out.exi = claims.exi;
  for (const [label] of claims.other ?? []) {
    throw unsupported(`claim ${String(label)} has no JWT name`);
  }
  return out;
}

function numeric(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw unsupported(`JWT ${name} must be an integer NumericDate`);
  return v;
}

function text(name: string, v: unknown): string {
  if (typeof v !== 'string') throw unsupported(`JWT ${name} must be a string`);
  return v;
}

function base64url(name: string, v: unknown): Uint8Array {
  try {
    return fromBase64Url(text(name, v));
  } catch {
    throw unsupported(`JWT ${name} must be base64url`);
  }
}

const KNOWN = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'cnf', 'scope', 'ace_profile', 'exi']);

/** The CWT claims for a JWT claims set; claims without a CWT label are refused. */
export function jwtClaimsToCwt(jwt: JwtClaims): CwtClaims {
  if (typeof jwt !== 'object' || jwt === null || Array.isArray(jwt)) throw unsupported('JWT claims must be an object');
  const claims: CwtClaims = {};
  if (jwt.iss !== undefined) claims.iss = text('iss', jwt.iss);
  if (jwt.sub !== undefined) claims.sub = text('sub', jwt.sub);
  if (jwt.aud !== undefined) {
    claims.aud = Array.isArray(jwt.aud) ? jwt.aud.map((a) => text('aud', a)) : text('aud', jwt.aud);
  }
  if (jwt.exp !== undefined) claims.exp = numeric('exp', jwt.exp);
  if (jwt.nbf !== undefined) claims.nbf = numeric('nbf', jwt.nbf);
  if (jwt.iat !== undefined) claims.iat = numeric('iat', jwt.iat);
  if (jwt.jti !== undefined) claims.cti = base64url('jti', jwt.jti);
  if (jwt.cnf !== undefined) {
    const cnf = jwt.cnf as Record<string, unknown>;
    const members = typeof cnf === 'object' && cnf !== null ? Object.keys(cnf) : [];
    if (members.length !== 1) throw unsupported('JWT cnf must hold exactly one confirmation method');
    if ('jwk' in cnf) {
      const key = jwkToCoseKey(cnf.jwk as Jwk);
      if (key.d || key.kty === 'Symmetric') throw unsupported('JWT cnf jwk must be a public key');
      claims.cnf = { coseKey: key };
    } else if ('kid' in cnf) claims.cnf = { kid: base64url('cnf kid', cnf.kid) };
    else throw unsupported(`JWT cnf method ${JSON.stringify(members[0]).slice(0, 24)} has no CWT form`);
  }
  if (jwt.scope !== undefined) claims.scope = typeof jwt.scope === 'string' ? jwt.scope : jsonToAif(jwt.scope);
  if (jwt.ace_profile !== undefined) claims.ace_profile = numeric('ace_profile', jwt.ace_profile);
  if (jwt.exi !== undefined) claims.exi = numeric('exi', jwt.exi);
  for (const name of Object.keys(jwt)) {
    if (!KNOWN.has(name)) throw unsupported(`JWT claim ${JSON.stringify(name).slice(0, 40)} has no CWT label`);
  }
  return claims;
}

/** The JWS algorithm for a signing key: EdDSA for Ed25519, ES256 for P-256 (RFC 8037, RFC 7518). */
function jwsAlg(key: CoseKey): 'EdDSA' | 'ES256' {
  if (key.kty === 'OKP' && key.crv === 'Ed25519') return 'EdDSA';
  if (key.kty === 'EC2' && key.crv === 'P-256') return 'ES256';
  throw unsupported(`a ${key.kty} ${key.crv ?? ''} key has no JWS algorithm here (EdDSA/Ed25519 or ES256/P-256)`);
}

export interface CreateJwtOptions {
  /** The JWS kid header; defaults to none. */
  kid?: string;
}

/** Signs a CWT's claims as a compact JWT (jose SignJWT) with a COSE private key. */
export async function createJwt(claims: CwtClaims, key: CoseKey, opts: CreateJwtOptions = {}): Promise<string> {
  const alg = jwsAlg(key);
  if (!key.d) throw unsupported('createJwt needs a private key (d)');
  const privateKey = await importJWK(coseKeyToJwk(key) as JWK, alg);
  const header = opts.kid !== undefined ? { alg, kid: opts.kid } : { alg };
  return new SignJWT(cwtClaimsToJwt(claims)).setProtectedHeader(header).sign(privateKey);
}

export interface VerifyJwtOptions {
  audience?: string;
  issuer?: string;
  /** Seconds since the epoch; injected as for verifyCwt. */
  clock: Clock;
  /** Seconds of tolerated clock skew (default 60, as verifyCwt). */
  leeway?: number;
}

/** Verifies a compact JWT with a COSE public key (jose jwtVerify) and returns its claims as CWT claims. */
export async function verifyJwt(jwt: string, key: CoseKey, opts: VerifyJwtOptions): Promise<{ claims: CwtClaims; kid?: string }> {
  const alg = jwsAlg(key);
  const publicKey = await importJWK(coseKeyToJwk(publicCoseKey(key)) as JWK, alg);
  const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, {
    algorithms: [alg],
    currentDate: new Date(opts.clock() * 1000),
    clockTolerance: opts.leeway ?? 60,
    ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
    ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
  });
  const claims = jwtClaimsToCwt(payload as JwtClaims);
  return protectedHeader.kid !== undefined ? { claims, kid: protectedHeader.kid } : { claims };
}
