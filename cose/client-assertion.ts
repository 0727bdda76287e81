/**
 * Client assertions as CWTs: the COSE analogue of RFC 7523's private_key_jwt (RFC 7521 §4.2),
 * so that a device authenticates to the authorization service with its provisioned key and holds
 * no shared secret. Made by clients (device/), checked by the service (authz/): the format lives
 * here so both speak it.
 */
import { createCwt } from './cwt.js';
import type { CoseKey } from './cose-key.js';
import type { CryptoProvider } from './crypto-provider.js';
import { portableProvider } from './portable-provider.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:cwt-bearer';
/** An assertion lives minutes, not hours: long enough for clock skew, short enough to bound replay memory. */
export const MAX_ASSERTION_LIFETIME = 300;

export interface ClientAssertionOptions {
  clientId: string;
  /** The service's issuer identifier (RFC 7523 §3: aud names the authorization server). */
  audience: string;
  /** The client's registered signing key, with d. */
  key: CoseKey;
  /** Seconds since the epoch. */
  now: number;
  /** Seconds until exp (default 60, at most MAX_ASSERTION_LIFETIME). */
  lifetime?: number;
  provider?: CryptoProvider;
}

/** iss = sub = client id, aud = the service, a short exp and a random cti the service remembers. */
export function createClientAssertion(opts: ClientAssertionOptions): Uint8Array {
  const provider = opts.provider ?? portableProvider;
  const lifetime = Math.min(opts.lifetime ?? 60, MAX_ASSERTION_LIFETIME);
  return createCwt(
    {
      iss: opts.clientId,
      sub: opts.clientId,
      aud: opts.audience,
      iat: Math.floor(opts.now),
      exp: Math.floor(opts.now) + lifetime,
      cti: provider.randomBytes(16),
    },
    opts.key,
    { provider },
  );
}
