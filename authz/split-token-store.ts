/**
 * The service's side of split tokens (sender-constraint/split-token.ts): the signature half of a
 * JWT access token goes to the Redis the gateways read (SET key sig PX lifetime), the client is
 * answered header.payload. A Redis that does not take the write fails the issuance (the client
 * would hold half a token no gateway can join).
 */
import { splitJws, splitTokenKey } from '../sender-constraint/index.js';
import { AuthzError } from './errors.js';

/** The slice of ioredis used: SET key value PX ms. */
export interface SplitTokenStore {
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
}

/** Stores the signature of `jws` for `lifetimeS` seconds; returns the half the client holds. */
export async function splitAccessToken(store: SplitTokenStore, jws: string, lifetimeS: number): Promise<string> {
  const { headerPayload, signature } = splitJws(jws);
  try {
    await store.set(splitTokenKey(headerPayload), signature, 'PX', Math.max(1, Math.round(lifetimeS * 1000)));
  } catch {
    throw new AuthzError('temporarily_unavailable', 'the split-token store is unavailable');
  }
  return headerPayload;
}
