/**
 * A DPoP-bound JWT access token (RFC 9068) checked by value: signature by one of the service's
 * keys (its /jwks.json, or that document saved to a file), typ `at+jwt` (§2.1, against confusion
 * with ID tokens), audience, issuer, exp, and a `cnf.jkt` (RFC 9449 §6.1): a token bound to
 * nothing is refused, the gateway forwards no bearer tokens.
 */
import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
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
  jkt: string;
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
  // RFC 7638 SHA-256 thumbprint: 43 base64url characters.
  if (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw new GatewayError('invalid_token', 'access token is not bound to a DPoP key (cnf.jkt)');
  return {
    jkt,
    exp: payload.exp as number,
    scope: payload.scope,
    ...(typeof payload.sub === 'string' ? { sub: payload.sub } : {}),
    ...(typeof payload.client_id === 'string' ? { clientId: payload.client_id } : {}),
  };
}
