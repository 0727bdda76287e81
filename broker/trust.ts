/**
 * What the broker trusts: the service's keys, given as COSE_Keys or as a provisioning bundle
 * (the same file a device gets at manufacture). Keys are chosen by kid (RFC 9052 §3.1: a hint);
 * with no kid, a single key of the right type is unambiguous.
 */
import {
  decodeProvisioningBundle,
  kidKeyResolver,
  type CoseKey,
  type KeyResolver,
  type ProvisioningBundle,
} from '../cose/index.js';
import { trustStoreFromBundle } from '../device/index.js';

export interface BrokerTrust {
  resolve: KeyResolver;
  /** A symmetric key shared with the service, by kid: for cnf kid(3) tokens. */
  sharedKey(kid: Uint8Array): CoseKey | undefined;
  /** The issuer to require, when the bundle names one. */
  issuer: string | undefined;
}

export type TrustInput = readonly CoseKey[] | ProvisioningBundle | Uint8Array;

export function brokerTrust(input: TrustInput, now: number): BrokerTrust {
  if (input instanceof Uint8Array || !Array.isArray(input)) {
    const bundle = input instanceof Uint8Array ? decodeProvisioningBundle(input) : (input as ProvisioningBundle);
    const store = trustStoreFromBundle(bundle, now);
    return { resolve: store.resolve, sharedKey: store.sharedKey, issuer: store.issuer };
  }
  const keys = input as readonly CoseKey[];
  if (keys.length === 0) throw new TypeError('broker trust: at least one key is required');
  const resolve = kidKeyResolver(keys);
  return {
    resolve,
    sharedKey: resolve.sharedKey,
    issuer: undefined,
  };
}
