/**
 * A DPoP-bound JWT access token (RFC 9068) checked by value: signature by one of the service's
 * keys (its /jwks.json, or that document saved to a file), typ `at+jwt` (§2.1, against confusion
 * with ID tokens), audience, issuer, exp, and a `cnf.jkt` (RFC 9449 §6.1): a token bound to
 * nothing is refused, the gateway forwards no bearer tokens.
 */
import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { isCertificateThumbprint, X5T_S256 } from '../sender-constraint/index.js';
import { GatewayError } from './errors.js';

/** The service signs with ES256 or EdDSA (authz/jwt-access-token.ts); alg must also match the key (jose checks). */
export const ACCESS_TOKEN_ALGS = ['ES256', 'EdDSA'];
/** Longer than any JWT the service issues (a few hundred characters) with room for an AIF scope. */
export const MAX_ACCESS_TOKEN_CHARS = 8192;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface AccessTokenCheck {
  keys: JWTVerifyGetKey;
  audience: string;
  issuer?: string;
  /** Seconds since the epoch. */
  now: number;
}

export interface BoundAccessToken {
  /** The DPoP key's RFC 7638 thumbprint (RFC 9449 §6.1), or '' for a certificate-bound token. */
  jkt: string;
  /** RFC 8705 §3.1: the bound client certificate's SHA-256 thumbprint, for a certificate-bound token. */
  x5t?: string;
  /** Seconds since the epoch: the token is refused from then on. */
  exp: number;
  scope: unknown;
  sub?: string;
  clientId?: string;
}

export async function verifyAccessToken(token: string, check: AccessTokenCheck): Promise<BoundAccessToken> {
  if (token.length > MAX_ACCESS_TOKEN_CHARS || !JWS_COMPACT.test(token)) throw new GatewayError('invalid_token', 'access token is not a compact JWS');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, check.keys, {
      typ: 'at+jwt',
      audience: check.audience,
      ...(check.issuer !== undefined ? { issuer: check.issuer } : {}),
      algorithms: ACCESS_TOKEN_ALGS,
      currentDate: new Date(check.now * 1000),
      requiredClaims: ['exp', 'iat', 'jti'],
    }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new GatewayError('expired', 'access token expired');
    if (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'aud') throw new GatewayError('wrong_audience', 'access token is for another audience');
    throw new GatewayError('invalid_token', 'access token did not verify', { cause: e instanceof Error ? e.name : undefined });
  }
  const cnf = payload.cnf;
  const jkt = cnf !== null && typeof cnf === 'object' ? (cnf as Record<string, unknown>).jkt : undefined;
  const x5t = cnf !== null && typeof cnf === 'object' ? (cnf as Record<string, unknown>)[X5T_S256] : undefined;
  // RFC 7638 / RFC 8705 SHA-256 thumbprints: 43 base64url characters. Exactly one binding.
  const certificateBound = jkt === undefined && isCertificateThumbprint(x5t);
  if (!certificateBound && (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt))) throw new GatewayError('invalid_token', 'access token is not bound to a DPoP key or a certificate');
  return {
    jkt: certificateBound ? '' : (jkt as string),
    ...(certificateBound ? { x5t: x5t as string } : {}),
    exp: payload.exp as number,
    scope: payload.scope,
    ...(typeof payload.sub === 'string' ? { sub: payload.sub } : {}),
    ...(typeof payload.client_id === 'string' ? { clientId: payload.client_id } : {}),
  };
}
