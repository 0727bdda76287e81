/**
 * A DPoP-bound CWT access token (RFC 8392) checked by value: COSE_Sign1 by one of the service's
 * keys (its /jwks.json, the same keys under the same kid as its JWTs), audience, issuer, exp. RFC
 * 9449 defines no CWT confirmation for DPoP, so the service binds the DPoP public key itself as a
 * COSE_Key in cnf (RFC 8747 §3.2); its RFC 7638 thumbprint (as a JWK) is the jkt the proof's key
 * must have. A CWT bound to anything else (a symmetric key, a kid) is not provable over HTTP DPoP.
 */
import { CoseError, jwkToCoseKey, kidKeyResolver, verifyCwt, type CoseKey, type Jwk } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { coseKeyJkt } from '../sender-constraint/index.js';
import type { BoundAccessToken } from './access-token.js';
import { GatewayError } from './errors.js';

/** The service's tokens are a few hundred bytes; 4 KiB of base64url is more than any. */
export const MAX_CWT_TOKEN_CHARS = 4096;

export interface CwtAccessTokenCheck {
  keys: readonly CoseKey[];
  audience: string;
  issuer?: string;
  /** Seconds since the epoch. */
  now: number;
}

/**
 * A base64url CWT (tag 61, 0xd8 0x3d, RFC 8392 §6; COSE_Sign1 tag 18, 0xd2; or an untagged
 * 4-array, 0x84) rather than an opaque handle. Opaque handles are 43 characters (32 random bytes)
 * and a signed CWT is always longer, so a handle that happens to start alike is not taken for one.
 */
export function looksLikeCwt(token: string): boolean {
  return token.length > 64 && /^(2D|0[gh]|hA)/.test(token) && /^[A-Za-z0-9_-]+$/.test(token);
}

/** The service's /jwks.json as COSE keys (kids are base64url there). Keys that do not convert are left out. */
export function coseKeysFromJwks(jwks: unknown): CoseKey[] {
  const keys = jwks !== null && typeof jwks === 'object' ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length > 64) throw new GatewayError('invalid_request', 'not a JWK set');
  const out: CoseKey[] = [];
  for (const k of keys) {
    try {
      out.push(jwkToCoseKey(k as Jwk, { kidEncoding: 'base64url' }));
    } catch {
      // An unusable key (another kty, a private member) verifies nothing; the others still do.
    }
  }
  return out;
}

export function verifyCwtAccessToken(token: string, check: CwtAccessTokenCheck): BoundAccessToken {
  if (token.length > MAX_CWT_TOKEN_CHARS || !looksLikeCwt(token)) throw new GatewayError('invalid_token', 'access token is not a CWT');
  let verified;
  try {
    verified = verifyCwt(Uint8Array.from(Buffer.from(token, 'base64url')), kidKeyResolver(check.keys), {
      audience: check.audience,
      ...(check.issuer !== undefined ? { issuer: check.issuer } : {}),
      clock: () => check.now,
      provider: nativeProvider,
      leeway: 0,
    });
  } catch (e) {
    const code = e instanceof CoseError ? e.code : '';
    if (code === 'ERR_CWT_EXPIRED') throw new GatewayError('expired', 'access token expired');
    if (code === 'ERR_CWT_WRONG_AUDIENCE') throw new GatewayError('wrong_audience', 'access token is for another audience');
    throw new GatewayError('invalid_token', 'access token did not verify');
  }
  const cnf = verified.cnf;
  const jkt = cnf && 'coseKey' in cnf ? coseKeyJkt(cnf.coseKey) : undefined;
  if (jkt === undefined || verified.claims.exp === undefined) throw new GatewayError('invalid_token', 'access token is not bound to a DPoP key');
  const clientId = verified.claims.other?.get('client_id');
  return {
    jkt,
    exp: verified.claims.exp,
    scope: verified.claims.scope,
    ...(verified.claims.sub !== undefined ? { sub: verified.claims.sub } : {}),
    ...(typeof clientId === 'string' ? { clientId } : {}),
  };
}
