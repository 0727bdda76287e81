/**
 * What the broker trusts, and nothing more: the service's public keys (tokens, revocation lists),
 * and the symmetric keys the service shares with THIS broker's audience (Mac0 tokens, cnf kid(3),
 * Encrypted_COSE_Key cnf, RFC 8747 §3.3), which only the broker's own provisioning bundle carries.
 *
 * A bundle provisioned for another audience (a device's) is refused: its symmetric trust anchors
 * are that device's secrets, shared with the service alone. A broker holding them would accept a
 * token the device MACed itself as one from the service, and could open PoP keys sealed for the
 * device. A plain key list (the service's /keys or /jwks.json) carries public keys only.
 * Keys are chosen by kid (RFC 9052 §3.1: a hint); with no kid, a single key of the right type.
 */
import {
  CoseError,
  decodeProvisioningBundle,
  kidKeyResolver,
  safeAudienceName,
  validateBundle,
  type CoseKey,
  type KeyResolver,
  type ProvisioningBundle,
} from '../cose/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';

export interface BrokerTrust {
  resolve: KeyResolver;
  /** A symmetric key the service shares with this broker's audience, by kid: for cnf kid(3) tokens. */
  sharedKey(kid: Uint8Array): CoseKey | undefined;
  /** The issuer to require, when the bundle names one. */
  issuer: string | undefined;
  /** The service's public signature keys trusted now (what a trust-anchor update must be signed by). */
  readonly signers: readonly CoseKey[];
}

/** The service's public keys (COSE_Keys), or the broker's own provisioning bundle (decoded or CBOR). */
export type TrustInput = readonly CoseKey[] | ProvisioningBundle | Uint8Array;

export interface BrokerTrustOptions {
  /** This broker's audience: a bundle must have been provisioned for it. */
  audience: string;
  /** Seconds since the epoch: a bundle past its notAfter is refused. */
  now: number;
}

/** Room for a few signing keys during rotation; more is not a key list from the service. */
const MAX_KEYS = 64;

/** Names shown in an error are operator input, bounded. */
const quoted = (text: string) => JSON.stringify(text.slice(0, 64));

function refuse(message: string, cause?: unknown): BrokerError {
  return new BrokerError(BROKER_ERR.BAD_TRUST, message, cause === undefined ? undefined : { cause });
}

/** A public key of the service: OKP or EC2, without its private part. */
function servicePublicKey(key: CoseKey): CoseKey {
  if (key.kty === 'Symmetric') {
    throw refuse("trust: a key list holds only the service's public keys; a symmetric key is a secret shared with one audience (give the broker its own provisioning bundle)");
  }
  if (key.d) throw refuse("trust: a key list holds only the service's public keys; this one carries a private part (d)");
  return key;
}

function fromBundle(bundle: ProvisioningBundle, opts: BrokerTrustOptions): BrokerTrust {
  try {
    validateBundle(bundle, opts.now);
  } catch (cause) {
    if (cause instanceof CoseError) throw refuse(`trust: ${cause.message} (${cause.code})`, cause);
    throw cause;
  }
  if (bundle.audience !== opts.audience) {
    throw refuse(
      `trust: the bundle was provisioned for ${quoted(bundle.audience)}, not for this broker's audience ${quoted(opts.audience)}: ` +
        `its shared keys are that audience's secrets and are never used here. Provision the broker itself ` +
        `(keybound authz register-device ${opts.audience} ... ; keybound authz provision ${opts.audience} --out ${safeAudienceName(opts.audience)}.cbor ...) ` +
        "or give it the service's public keys (/keys or /jwks.json)",
    );
  }
  // validateBundle refused private parts: the anchors are the service's public keys and the keys
  // it shares with this audience. The bundle's deviceKey (a client role) is no concern of the broker.
  const resolve = kidKeyResolver(Object.freeze([...bundle.trustAnchors]));
  const signers = Object.freeze(bundle.trustAnchors.filter((k) => k.kty !== 'Symmetric'));
  return { resolve, sharedKey: resolve.sharedKey, issuer: bundle.issuer, signers };
}

export function brokerTrust(input: TrustInput, opts: BrokerTrustOptions): BrokerTrust {
  if (input instanceof Uint8Array) {
    let bundle: ProvisioningBundle;
    try {
      bundle = decodeProvisioningBundle(input, opts.now);
    } catch (cause) {
      if (cause instanceof CoseError) throw refuse(`trust: ${cause.message} (${cause.code})`, cause);
      throw cause;
    }
    return fromBundle(bundle, opts);
  }
  if (!Array.isArray(input)) return fromBundle(input as ProvisioningBundle, opts);
  const keys = input as readonly CoseKey[];
  if (keys.length === 0 || keys.length > MAX_KEYS) throw refuse(`trust: 1 to ${MAX_KEYS} public keys of the service are expected`);
  const signers = Object.freeze(keys.map(servicePublicKey));
  const resolve = kidKeyResolver(signers);
  // No shared keys: tokens with cnf kid(3) or an Encrypted_COSE_Key need the broker's own bundle.
  return { resolve, sharedKey: () => undefined, issuer: undefined, signers };
}
