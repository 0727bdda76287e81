/**
 * The gateway's side of split tokens (sender-constraint/split-token.ts): a two-part token
 * (header.payload) is joined with the signature half the service wrote to Redis, and the whole
 * JWT is then verified like any other. A miss (never issued, expired, deleted) is invalid_token;
 * a stored value that is no signature is refused the same way; a Redis that does not answer
 * refuses the request (fail closed, 503).
 */
import { isSplitSignature, splitTokenKey } from '../sender-constraint/index.js';
import { MAX_ACCESS_TOKEN_CHARS } from './access-token.js';
import { GatewayError } from './errors.js';

/** The slice of ioredis used: GET key. */
export interface SplitTokenHalves {
  get(key: string): Promise<string | null>;
}

const HEADER_PAYLOAD = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function looksLikeSplitToken(token: string): boolean {
  return token.length <= MAX_ACCESS_TOKEN_CHARS && HEADER_PAYLOAD.test(token);
}

/** The full compact JWS of a header.payload, from its signature half in Redis. */
export async function joinSplitToken(halves: SplitTokenHalves, headerPayload: string): Promise<string> {
  let signature: string | null;
  try {
    signature = await halves.get(splitTokenKey(headerPayload));
  } catch (e) {
    throw new GatewayError('redis_unavailable', 'the split-token store is unavailable', { cause: e });
  }
  if (signature === null) throw new GatewayError('invalid_token', 'unknown or expired split token');
  if (!isSplitSignature(signature)) throw new GatewayError('invalid_token', 'split token signature half malformed');
  return `${headerPayload}.${signature}`;
}
