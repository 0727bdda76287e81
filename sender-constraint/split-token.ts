/**
 * Split tokens (issue 11; the pattern Curity calls "split token"): the service signs a JWT access
 * token as usual, writes its signature half to a Redis both sides share and answers the client
 * with header.payload alone; the gateway joins the two and verifies the whole JWT. A token that
 * leaks from the client (or a log) is no JWS any other party can verify or replay elsewhere, and
 * the service revokes it early by deleting one key. Unlike Curity's variant (client holds the
 * signature, the cache holds header.payload) the client keeps the claims it can read, as the
 * issue asks. One key shape for writer and reader: the prefix and the SHA-256 of header.payload
 * (the cache never holds a presentable token, only its signature).
 */
import { createHash } from 'node:crypto';

export const SPLIT_TOKEN_KEY_PREFIX = 'keybound:split-token:';
/** An ES256 signature is 86 base64url characters, EdDSA's 86: anything far longer is not ours. */
export const MAX_SPLIT_SIGNATURE_CHARS = 512;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** The Redis key of the signature of this header.payload. */
export function splitTokenKey(headerPayload: string): string {
  return SPLIT_TOKEN_KEY_PREFIX + createHash('sha256').update(headerPayload).digest('base64url');
}

/** Splits a compact JWS into the half the client holds and the signature (the half in Redis). */
export function splitJws(jws: string): { headerPayload: string; signature: string } {
  const cut = jws.lastIndexOf('.');
  const headerPayload = jws.slice(0, cut);
  const signature = jws.slice(cut + 1);
  if (cut < 0 || headerPayload.split('.').length !== 2 || !B64URL.test(signature)) throw new TypeError('not a compact JWS');
  return { headerPayload, signature };
}

/** Whether a stored value may be a signature half (the store is outside input too). */
export function isSplitSignature(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_SPLIT_SIGNATURE_CHARS && B64URL.test(value);
}
