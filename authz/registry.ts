/**
 * Registering resource servers (devices, brokers: audiences), clients and users, and writing a
 * device's provisioning bundle (pre-provisioned trust). The admin HTTP API and the CLI both call
 * these; nothing here knows about HTTP.
 */
import { ACE_PROFILE, ALG, audienceIdProblem, publicCoseKey, type CoseKey, type CryptoProvider, type ProvisioningBundle } from '../cose/index.js';
import { hashSecret } from './secret-hash.js';
import { grantsOf } from './policy.js';
import { canonicalAifGrant, isAifJsonText } from './scope-forms.js';
import type { SigningKeys } from './signing-keys.js';
import { certificateDerFromPem, certificateThumbprint } from '../sender-constraint/index.js';
import { ALL_GRANT_TYPES, type AudienceRecord, type AuthzStore, type ClientRecord, type GrantType, type Protection, type TlsClientAuth } from './store.js';

/** Registered client and user ids: short and printable (they become topic levels and cookie values). */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$/;
/** One hour: the ACE examples' default, short enough that revocation lists stay small. */
export const DEFAULT_TOKEN_LIFETIME = 3600;

/** What an operator's registration command can get wrong; the admin API answers each with 400. */
export type RegistryErrorCode =
  | 'ERR_AUTHZ_REGISTRY'
  | 'ERR_AUTHZ_NO_DATA_DIR'
  | 'ERR_AUTHZ_WEAK_SECRET'
  | 'ERR_AUTHZ_UNKNOWN_AUDIENCE'
  | 'ERR_AUTHZ_ALREADY_REGISTERED'
  | 'ERR_AUTHZ_NOT_REGISTERED'
  | 'ERR_AUTHZ_IN_USE';

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly code: RegistryErrorCode = 'ERR_AUTHZ_REGISTRY',
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

function checkId(what: string, id: string): void {
  if (!ID.test(id)) throw new RegistryError(`${what} id must match ${ID.source}`);
}

/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/** A registration lists a few scope tokens and at most one AIF grant per kind. */
const MAX_REGISTERED_SCOPES = 64;

/**
 * A scope list as registered: text scope tokens (RFC 6749 §3.3), and AIF grants given as the
 * JSON array form (`[["/temp", 1]]` AIF-REST, `[["sensors/#", ["sub"]]]` AIF-MQTT), either as JSON
 * text (what `--scope` on the command line passes: a value starting with "[" is JSON) or as an
 * array (admin API). AIF grants are stored as canonical JSON text; text tokens that start with
 * "[" are refused, because stored scopes use that prefix to tell AIF from text.
 */
export type ScopeGrantInput = string | unknown[];

export function normalizeScopes(list: readonly ScopeGrantInput[]): string[] {
  if (list.length > MAX_REGISTERED_SCOPES) throw new RegistryError(`at most ${MAX_REGISTERED_SCOPES} scope entries`);
  const out: string[] = [];
  for (const entry of list) {
    const text = typeof entry === 'string' ? entry : JSON.stringify(entry);
    if (typeof entry !== 'string' && !Array.isArray(entry)) throw new RegistryError('a scope entry is a text token or an AIF array');
    if (isAifJsonText(text)) {
      try {
        out.push(canonicalAifGrant(text).text);
      } catch (e) {
        throw new RegistryError(`AIF grant: ${(e as Error).message}`);
      }
    } else {
      if (!SCOPE_TOKEN.test(text)) throw new RegistryError('a text scope token has characters RFC 6749 §3.3 does not allow');
      out.push(text);
    }
  }
  try {
    grantsOf(out);
  } catch (e) {
    throw new RegistryError((e as Error).message);
  }
  return [...new Set(out)];
}

export interface AudienceOptions {
  id: string;
  protection?: Protection;
  clockless?: boolean;
  referenceTokens?: boolean;
  scopes?: ScopeGrantInput[];
  exchangeFrom?: string[];
  narrow?: boolean;
  lifetime?: number;
  rsKey?: CoseKey;
  /** Tokens for this audience leave out CWT tag 61 (some peers cannot read it); see AudiencePolicy. */
  untaggedTokens?: boolean;
  /**
   * The ACE profile it speaks (ACE_PROFILE). coap_oscore (RFC 9203) makes its tokens carry
   * OSCORE_Input_Material, so they must be encrypted (protection encrypt0, the default then).
   */
  aceProfile?: number;
  /**
   * What its tokens are: CWTs by value (default), JWT access tokens (RFC 9068, for HTTP resource
   * servers), or reference handles resolved by introspection. `reference` is referenceTokens.
   */
  tokenFormat?: TokenFormat;
  /** JWT audiences: split tokens (sender-constraint/split-token.ts); false turns them off again. */
  splitToken?: boolean;
}

export type TokenFormat = 'cwt' | 'jwt' | 'reference';
export const TOKEN_FORMATS: readonly TokenFormat[] = ['cwt', 'jwt', 'reference'];

/**
 * An audience id is a logical name or an absolute URI (RFC 8693 §2.1; RFC 9200's figures name
 * resource servers `coaps://rs.example.com`). Where the id becomes a topic level or a file name,
 * its safe name is used (cose/audience-id.ts); a URI whose safe name would not fit is refused here.
 */
function checkAudienceId(id: string): void {
  const problem = audienceIdProblem(id);
  if (problem) throw new RegistryError(problem);
}

export async function registerAudience(store: AuthzStore, provider: CryptoProvider, opts: AudienceOptions): Promise<AudienceRecord> {
  checkAudienceId(opts.id);
  const existing = await store.getAudience(opts.id);
  const aceProfile = opts.aceProfile ?? existing?.policy.aceProfile;
  const oscore = aceProfile === ACE_PROFILE.coap_oscore;
  const record: AudienceRecord = {
    id: opts.id,
    // RFC 9203 §3.2: the OSCORE Master Secret is in the token, encrypted for the RS alone.
    protection: opts.protection ?? (oscore ? 'encrypt0' : (existing?.protection ?? 'sign1')),
    // Keys are made once and kept on re-registration: a provisioned device already holds them.
    macKey: existing?.macKey ?? { kty: 'Symmetric', alg: ALG.HMAC_256_64, kid: provider.randomBytes(8), k: provider.randomBytes(32) },
    encKey: existing?.encKey ?? { kty: 'Symmetric', alg: ALG.AES_CCM_16_64_128, kid: provider.randomBytes(8), k: provider.randomBytes(16) },
    clockless: opts.clockless ?? existing?.clockless ?? false,
    referenceTokens: opts.tokenFormat !== undefined ? opts.tokenFormat === 'reference' : (opts.referenceTokens ?? existing?.referenceTokens ?? false),
    policy: {
      scopes: opts.scopes ? normalizeScopes(opts.scopes) : (existing?.policy.scopes ?? []),
      exchangeFrom: opts.exchangeFrom ?? existing?.policy.exchangeFrom ?? [],
      narrow: opts.narrow ?? existing?.policy.narrow ?? false,
      lifetime: opts.lifetime ?? existing?.policy.lifetime ?? DEFAULT_TOKEN_LIFETIME,
      untaggedTokens: opts.untaggedTokens ?? existing?.policy.untaggedTokens ?? false,
    },
  };
  if (aceProfile !== undefined) {
    // RFC 9200 §8.8: profiles are integers of the IANA registry. Recorded when given, so that an
    // audience registered coap_oscore is told from one that merely has the default.
    if (!Number.isSafeInteger(aceProfile)) throw new RegistryError('aceProfile must be an integer of the IANA ACE Profile registry');
    record.policy.aceProfile = aceProfile;
  }
  if (oscore) {
    if (record.protection !== 'encrypt0') throw new RegistryError('a coap_oscore audience has encrypt0 tokens: its OSCORE Master Secret travels in the token (RFC 9203 §3.2)');
    // Reference tokens would put the Master Secret in introspection answers; authz-info needs it in the token.
    if (record.referenceTokens) throw new RegistryError('a coap_oscore audience takes tokens by value (RFC 9203 §4.1), not reference tokens');
  }
  if (opts.tokenFormat !== undefined && !TOKEN_FORMATS.includes(opts.tokenFormat)) throw new RegistryError('tokenFormat is cwt, jwt or reference');
  const jwt = opts.tokenFormat !== undefined ? opts.tokenFormat === 'jwt' : existing?.policy.tokenFormat === 'jwt';
  if (jwt) {
    // A JWT is signed (JWS): there is no Mac0/Encrypt0 form, and exi has no JWT claim.
    if (record.protection !== 'sign1' || record.clockless) throw new RegistryError('JWT access tokens are signed tokens with exp: not with mac0/encrypt0 protection or a clock-less audience');
    record.policy.tokenFormat = 'jwt';
  }
  const split = opts.splitToken ?? existing?.policy.splitToken === true;
  if (typeof split !== 'boolean') throw new RegistryError('splitToken must be true or false');
  if (split && !jwt) throw new RegistryError('split tokens are JWT access tokens split in two: register the audience with tokenFormat jwt');
  if (split) record.policy.splitToken = true;
  const rsKey = opts.rsKey ?? existing?.rsKey;
  if (rsKey) record.rsKey = publicCoseKey(rsKey);
  if (!Number.isSafeInteger(record.policy.lifetime) || record.policy.lifetime <= 0) throw new RegistryError('lifetime must be a positive integer');
  // The admin API passes its JSON through: a flag is a boolean, not whatever was sent.
  if (typeof record.policy.untaggedTokens !== 'boolean') throw new RegistryError('untaggedTokens must be true or false');
  await store.putAudience(record);
  return record;
}

export interface ClientOptions {
  id: string;
  name?: string;
  secret?: string;
  publicKey?: CoseKey;
  audiences?: string[];
  scopes?: ScopeGrantInput[];
  grantTypes?: GrantType[];
  redirectUris?: string[];
  /**
   * May introspect tokens of its audiences (RFC 7662 §4). Defaults to true for a client
   * registered with no grant types (a resource server or broker asks no tokens of its own).
   */
  resourceServer?: boolean;
  /** Its tokens ask the broker for per-message PoP (CLAIM_MESSAGE_POP). */
  messagePop?: boolean;
  /**
   * RFC 8705 §2: authenticate with a TLS client certificate instead of a secret or a key, and get
   * access tokens bound to it (§3). `tls_client_auth` names exactly one identity the certificate
   * (from the CA given to `authz serve --tls-client-ca`) must carry; `self_signed_tls_client_auth`
   * lists the client's certificates (PEM; their x5t#S256 thumbprints are kept).
   */
  tlsClientAuth?:
    | { method: 'tls_client_auth'; subjectDn?: string; sanDns?: string; sanUri?: string; sanIp?: string; sanEmail?: string }
    | { method: 'self_signed_tls_client_auth'; certificates: string[] };
  /** RFC 9126 §6: the client's authorization requests must come through /par. */
  requirePar?: boolean;
}

/** RFC 8705 §2.1.2: one identity, printable, bounded (a DN or a SAN, not a document). */
const MAX_TLS_IDENTITY_CHARS = 512;
/** A client rotating its self-signed certificate registers the next one beside the current one. */
const MAX_SELF_SIGNED_CERTIFICATES = 4;

function tlsClientAuthOf(opts: NonNullable<ClientOptions['tlsClientAuth']>): TlsClientAuth {
  if (opts.method === 'self_signed_tls_client_auth') {
    const certs = opts.certificates;
    if (!Array.isArray(certs) || certs.length === 0 || certs.length > MAX_SELF_SIGNED_CERTIFICATES) {
      throw new RegistryError(`self_signed_tls_client_auth needs 1 to ${MAX_SELF_SIGNED_CERTIFICATES} certificates`);
    }
    try {
      return { method: opts.method, thumbprints: certs.map((pem) => certificateThumbprint(certificateDerFromPem(pem))) };
    } catch (e) {
      throw new RegistryError(`self_signed_tls_client_auth certificate: ${(e as Error).message}`);
    }
  }
  if (opts.method !== 'tls_client_auth') throw new RegistryError('tlsClientAuth.method is tls_client_auth or self_signed_tls_client_auth');
  const names = (['subjectDn', 'sanDns', 'sanUri', 'sanIp', 'sanEmail'] as const).filter((k) => opts[k] !== undefined);
  // RFC 8705 §2.1.2: exactly one of the metadata values is registered.
  if (names.length !== 1) throw new RegistryError('tls_client_auth names exactly one of subject DN, SAN DNS, SAN URI, SAN IP, SAN email');
  const name = names[0]!;
  const value = opts[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TLS_IDENTITY_CHARS || /[\x00-\x1f\x7f]/.test(value)) {
    throw new RegistryError(`tls_client_auth ${name}: 1 to ${MAX_TLS_IDENTITY_CHARS} printable characters`);
  }
  return { method: 'tls_client_auth', [name]: value };
}

export async function registerClient(store: AuthzStore, opts: ClientOptions): Promise<ClientRecord> {
  checkId('client', opts.id);
  for (const a of opts.audiences ?? []) checkAudienceId(a);
  for (const g of opts.grantTypes ?? []) if (!ALL_GRANT_TYPES.includes(g)) throw new RegistryError(`unknown grant type ${g}`);
  for (const u of opts.redirectUris ?? []) {
    // RFC 9700 §2.1: redirect URIs are compared exactly; no fragments.
    if (!URL.canParse(u) || new URL(u).hash) throw new RegistryError('redirect URIs must be absolute URLs without a fragment');
  }
  const record: ClientRecord = {
    id: opts.id,
    name: opts.name ?? opts.id,
    audiences: opts.audiences ?? [],
    scopes: normalizeScopes(opts.scopes ?? []),
    grantTypes: opts.grantTypes ?? ['client_credentials'],
    redirectUris: opts.redirectUris ?? [],
    resourceServer: opts.resourceServer ?? (opts.grantTypes !== undefined && opts.grantTypes.length === 0),
  };
  if (typeof record.resourceServer !== 'boolean') throw new RegistryError('resourceServer must be true or false');
  if (opts.messagePop !== undefined) {
    // The admin API passes its JSON through: a flag is a boolean, not whatever was sent.
    if (typeof opts.messagePop !== 'boolean') throw new RegistryError('messagePop must be true or false');
    if (opts.messagePop) record.messagePop = true;
  }
  if (opts.tlsClientAuth !== undefined) {
    // RFC 7591 §2: one token_endpoint_auth_method per client; a certificate client has no secret or key.
    if (opts.secret !== undefined || opts.publicKey !== undefined) throw new RegistryError('a client authenticates by certificate or by secret or key, not both');
    record.tlsClientAuth = tlsClientAuthOf(opts.tlsClientAuth);
  }
  if (opts.requirePar !== undefined) {
    if (typeof opts.requirePar !== 'boolean') throw new RegistryError('requirePar must be true or false');
    // RFC 9126 §6: PAR is for authorization requests; a client without the code grant never makes
    // one, so the flag would protect nothing and the operator would believe otherwise.
    if (opts.requirePar && !record.grantTypes.includes('authorization_code')) throw new RegistryError('requirePar needs the authorization_code grant (PAR pushes authorization requests)');
    if (opts.requirePar) record.requirePar = true;
  }
  if (opts.secret !== undefined) record.secretHash = await hashSecret(opts.secret);
  if (opts.publicKey) record.publicKey = publicCoseKey(opts.publicKey);
  await store.putClient(record);
  return record;
}

export async function registerUser(store: AuthzStore, username: string, password: string): Promise<void> {
  checkId('user', username);
  await store.putUser({ username, passwordHash: await hashSecret(password) });
}

/**
 * The provisioning bundle for a device: its trust anchors are the service's public keys and the
 * symmetric keys the service shares with this audience (see below).
 */
export async function provisionDevice(
  store: AuthzStore,
  keys: SigningKeys,
  opts: { deviceId: string; issuer: string; now: number; asUrl?: string; brokerUrl?: string; notAfter?: number },
): Promise<ProvisioningBundle> {
  const audience = await store.getAudience(opts.deviceId);
  if (!audience) throw new RegistryError('no such device (register it first)');
  // The service's public keys, and the keys it shares with this audience: the encryption key
  // opens sealed PoP keys (Encrypted_COSE_Key, RFC 8747 §3.3) and Encrypt0-wrapped tokens; the MAC
  // key checks Mac0 tokens. They are trust anchors, not the device's own key pair (deviceKey).
  const trustAnchors = [...keys.publicKeys(opts.now), audience.encKey];
  if (audience.protection === 'mac0') trustAnchors.push(audience.macKey);
  const bundle: ProvisioningBundle = {
    version: 1,
    deviceId: audience.id,
    audience: audience.id,
    issuer: opts.issuer,
    trustAnchors,
  };
  if (opts.asUrl) bundle.asUrl = opts.asUrl;
  if (opts.brokerUrl) bundle.brokerUrl = opts.brokerUrl;
  if (opts.notAfter) bundle.notAfter = opts.notAfter;
  return bundle;
}
