/**
 * What the service keeps, behind an interface so that a networked database can replace SQLite.
 * Every method that must be atomic is one method (consume a code, rotate a refresh token, take
 * the next exi sequence number): an implementation runs each in one transaction, so a crash
 * mid-request leaves nothing half-written. Secrets are stored only as hashes; keys as COSE_Key CBOR.
 */
import { GRANT_DEVICE_CODE, GRANT_TOKEN_EXCHANGE, type CoseKey } from '../cose/index.js';

export type Protection = 'sign1' | 'mac0' | 'encrypt0';
export type GrantType =
  | 'client_credentials'
  | 'authorization_code'
  | 'refresh_token'
  | 'password'
  | typeof GRANT_TOKEN_EXCHANGE
  | typeof GRANT_DEVICE_CODE;

export const ALL_GRANT_TYPES: readonly GrantType[] = [
  'client_credentials',
  'authorization_code',
  'refresh_token',
  'password',
  GRANT_TOKEN_EXCHANGE,
  GRANT_DEVICE_CODE,
];

export interface ClientRecord {
  id: string;
  name: string;
  /** scrypt hash (see secret-hash.ts); absent for public clients and key-authenticated devices. */
  secretHash?: string;
  /** Registered public COSE_Key for client assertions (a device needs no shared secret). */
  publicKey?: CoseKey;
  audiences: string[];
  /**
   * What this client may ask for across its audiences: text scope tokens (RFC 6749 §3.3) and at
   * most one AIF-REST and one AIF-MQTT grant, each as the JSON text of its array (starts with "[").
   */
  scopes: string[];
  grantTypes: GrantType[];
  redirectUris: string[];
  /**
   * A resource server (or broker) of its audiences: it may introspect their tokens. RFC 7662 §4:
   * introspection answers only to the protected resources a token is meant for, never to other
   * clients that merely may ask for tokens there.
   */
  resourceServer: boolean;
  /**
   * Its tokens carry CLAIM_MESSAGE_POP: at the broker every PUBLISH must be signed by the cnf key,
   * not only the CONNECT (a hijacked TCP stream cannot inject messages). Absent: false.
   */
  messagePop?: boolean;
  /**
   * RFC 8705 §2: the client authenticates with its TLS client certificate (token_endpoint_auth_method
   * tls_client_auth or self_signed_tls_client_auth), and its access tokens are bound to it (§3).
   */
  tlsClientAuth?: TlsClientAuth;
  /** RFC 9126 §6: its authorization requests must be pushed (/par) first. Absent: false. */
  requirePar?: boolean;
}

/**
 * RFC 8705 §2.1.2: a PKI-authenticated client names exactly one identity its certificate (from a CA
 * the service trusts) must carry; §2.2: a self-signed one registers its certificates, by their
 * x5t#S256 thumbprints, and no chain is checked.
 */
export type TlsClientAuth =
  | { method: 'tls_client_auth'; subjectDn?: string; sanDns?: string; sanUri?: string; sanIp?: string; sanEmail?: string }
  | { method: 'self_signed_tls_client_auth'; thumbprints: string[] };

/** RFC 9126 §2.2: a pushed authorization request, until its one use or its expiry. */
export interface PushedRequestRecord {
  /** lookupHash of the request_uri: the store never holds a usable one. */
  uriHash: string;
  clientId: string;
  /** The pushed parameters as a JSON object of strings. */
  params: string;
  expiresAt: number;
}

export interface AudiencePolicy {
  /**
   * What this audience grants at most: text scope tokens, and at most one AIF-REST (a device) and
   * one AIF-MQTT (a broker) grant as JSON text (starts with "["). A request outside is invalid_scope.
   */
  scopes: string[];
  /** RFC 8693: audiences whose tokens may be exchanged for a token for this one. */
  exchangeFrom: string[];
  /** Issue the allowed subset of a too-wide request (and say so in `scope`) instead of refusing. */
  narrow: boolean;
  /** Token lifetime (exp - iat), or the exi value for clock-less audiences, in seconds. */
  lifetime: number;
  /**
   * Issue tokens without CWT tag 61 (RFC 8392 §6: optional), as 18(...) / 17(...) / 16(...) only,
   * for peers that cannot read tag 61. Absent in records written before the option: tagged.
   */
  untaggedTokens?: boolean;
  /**
   * The ACE profile this audience speaks (IANA "ACE Profile" registry, RFC 9200 §8.8), when it is
   * not DEFAULT_ACE_PROFILE: token responses then always name it (RFC 9200 §5.8.4.3).
   */
  aceProfile?: number;
  /**
   * RFC 9068 JWT access tokens (registration `--token-format jwt`) for HTTP resource servers,
   * instead of CWTs. Absent: CWTs (or reference handles, AudienceRecord.referenceTokens).
   */
  tokenFormat?: 'jwt';
  /**
   * Split tokens (registration `--split-token`, JWT audiences only): the client gets header.payload,
   * the signature goes to the shared Redis (the service's `--split-token-redis`) for the gateway.
   */
  splitToken?: true;
}

export interface AudienceRecord {
  id: string;
  protection: Protection;
  /** HMAC 256/64 key shared with the audience: verifies Mac0 tokens. */
  macKey: CoseKey;
  /** AES-CCM-16-64-128 key shared with the audience: seals PoP keys and Encrypt0-wrapped tokens. */
  encKey: CoseKey;
  /** The resource server's own public key, returned to clients as rs_cnf (RFC 9200 §5.8.2). */
  rsKey?: CoseKey;
  /** No clock on the device: issue exi (RFC 9200 §5.10.3) instead of exp. */
  clockless: boolean;
  /** Issue opaque reference tokens, answered by introspection. */
  referenceTokens: boolean;
  policy: AudiencePolicy;
}

export interface UserRecord {
  username: string;
  passwordHash: string;
}

export interface AuthCodeRecord {
  codeHash: string;
  clientId: string;
  username: string;
  redirectUri: string;
  audience: string;
  scope: string;
  codeChallenge: string;
  reqCnf?: Uint8Array;
  /** RFC 9449 §10: the DPoP key (JWK SHA-256 thumbprint) named by dpop_jkt at /authorize; the code is redeemed only with a proof by it. */
  dpopJkt?: string;
  expiresAt: number;
  /** The grant family its tokens belong to, set when the code is redeemed (see consumeAuthCode). */
  family?: string;
}

export type DeviceCodeStatus = 'pending' | 'approved' | 'denied';

export interface DeviceCodeRecord {
  deviceCodeHash: string;
  userCode: string;
  clientId: string;
  audience: string;
  scope: string;
  reqCnf?: Uint8Array;
  expiresAt: number;
  status: DeviceCodeStatus;
  username?: string;
  interval: number;
  lastPolledAt: number;
}

export interface IssuedTokenRecord {
  /** cti, hex. */
  cti: string;
  /** SHA-256 of the token bytes (or of the reference handle), hex. */
  tokenHash: string;
  audience: string;
  clientId: string;
  subject: string;
  scope: string;
  issuedAt: number;
  /** exp; for exi tokens iat + exi (an upper bound the service uses for its own bookkeeping). */
  expiresAt: number;
  /** The cnf claim as CBOR, for introspection. */
  cnf?: Uint8Array;
  reference: boolean;
  revoked: boolean;
  /** The grant (authorization code and its refresh tokens) this token came from, to revoke them together. */
  family?: string;
  /** The exi sequence number of a clock-less token (its cti, RFC 9200 §5.10.3). */
  exiSequence?: number;
  /** For a token exchanged from another (RFC 8693), the subject token's hash: revoked with it. */
  parent?: string;
  /**
   * The token carries this cti in the clear (a COSE_Sign1 or COSE_Mac0 CWT: cose readableCti),
   * so whoever presents it can name its cti as well as its hash. A store may then find the record
   * by the two together only (getTokenByHash with its cti), and keep no index by hash alone: a
   * random hash costs an index page written per token (issue 13), a time-ordered cti does not.
   */
  ctiInToken?: boolean;
}

/** An issued token as a caller can name it: its hash, and its cti where the token shows it (IssuedTokenRecord.ctiInToken). */
export interface TokenRef {
  tokenHash: string;
  /** hex; needed for a record with ctiInToken. */
  cti?: string;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  family: string;
  clientId: string;
  audience: string;
  scope: string;
  subject: string;
  reqCnf?: Uint8Array;
  /** RFC 9449 §5: a public client's refresh token is bound to its DPoP key (JWK SHA-256 thumbprint). */
  dpopJkt?: string;
  expiresAt: number;
  used: boolean;
}

export interface SigningKeyRecord {
  kid: string;
  alg: number;
  publicKey: CoseKey;
  createdAt: number;
  /** Set when a newer key took over; the key keeps verifying until every token it signed has expired. */
  retiredAt?: number;
  /** After this the key is no longer published. */
  publishUntil?: number;
}

export interface RevocationEntry {
  tokenHash: string;
  expiresAt: number;
  /** The revoked token's iat, so an overflowing list can give up the oldest (fitRevocations). */
  issuedAt: number;
}

export interface RevocationListState {
  sequence: number;
  entries: RevocationEntry[];
  /** Audiences that are, or ever were, clock-less (issued an exi token). */
  exiFloor?: number;
}

export type RotateResult = { ok: true } | { ok: false; reason: 'unknown' | 'expired' | 'reused' };

export interface AuthzStore {
  putClient(client: ClientRecord): Promise<void>;
  getClient(id: string): Promise<ClientRecord | undefined>;
  listClients(): Promise<ClientRecord[]>;

  putAudience(audience: AudienceRecord): Promise<void>;
  getAudience(id: string): Promise<AudienceRecord | undefined>;
  listAudiences(): Promise<AudienceRecord[]>;

  putUser(user: UserRecord): Promise<void>;
  getUser(username: string): Promise<UserRecord | undefined>;
  /** User names only: an operator's listing never needs a password hash. */
  listUsernames(): Promise<string[]>;

  /** Removes a client; true if there was one. Its unrevoked tokens (and those exchanged from them) are revoked onto their audiences' lists, its refresh families too. */
  deleteClient(id: string): Promise<boolean>;
  deleteAudience(id: string): Promise<boolean>;
  deleteUser(username: string): Promise<boolean>;

  putAuthCode(code: AuthCodeRecord): Promise<void>;
  /**
   * Returns the code and marks it used, recording the grant `family` its tokens will carry,
   * atomically; a second call returns { replayed: true, family, code } with the family of the first
   * (and the code, so the caller can tell a replay that would have been accepted from a guess).
   */
  consumeAuthCode(codeHash: string, family: string): Promise<{ code?: AuthCodeRecord; replayed: boolean; family?: string }>;

  putDeviceCode(code: DeviceCodeRecord): Promise<void>;
  getDeviceCodeByHash(hash: string): Promise<DeviceCodeRecord | undefined>;
  getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined>;
  /** Records a poll; returns the record as it was before the poll. */
  pollDeviceCode(hash: string, now: number): Promise<DeviceCodeRecord | undefined>;
  setDeviceCodeInterval(hash: string, interval: number): Promise<void>;
  decideDeviceCode(userCode: string, status: 'approved' | 'denied', username: string): Promise<boolean>;
  /** Deletes it so a device code yields exactly one token. */
  deleteDeviceCode(hash: string): Promise<boolean>;

  /**
   * RFC 9449 §11.1: records a DPoP proof's (jkt, jti) until `expiresAt` and answers whether it was
   * already recorded and still live (a replay). Atomic: of two instances recording the same pair,
   * exactly one answers false. Expired pairs are pruned as new ones arrive.
   */
  recordDpopProof(jkt: string, jti: string, expiresAt: number, now: number): Promise<boolean>;

  /** RFC 9126 §2.2: keeps a pushed authorization request (expired ones are pruned as new ones arrive). */
  putPushedRequest(r: PushedRequestRecord, now: number): Promise<void>;
  /**
   * RFC 9126 §4: takes the pushed request for `uriHash` if `clientId` pushed it, deleting it (one
   * use, atomic across instances); another client's request stays put and is not returned.
   */
  takePushedRequest(uriHash: string, clientId: string): Promise<PushedRequestRecord | undefined>;

  /** Counts one attempt against `key` in a window; returns the count in the current window. */
  hitRateLimit(key: string, now: number, windowSeconds: number): Promise<number>;
  /** Gives back one attempt counted against `key` in the current window (a success). */
  releaseRateLimit(key: string, now: number, windowSeconds: number): Promise<void>;

  /**
   * Takes the next per-audience sequence number for an exi token (RFC 9200 §5.10.3) and records
   * the token `make` builds with it, in one transaction: a revocation list (its exi floor) never
   * sees a sequence number taken whose token is not yet recorded. `make` is synchronous.
   */
  recordExiToken(audience: string, make: (sequence: bigint) => IssuedTokenRecord): Promise<void>;
  recordToken(token: IssuedTokenRecord): Promise<void>;
  /**
   * The record of the token with this hash. A token recorded with ctiInToken is found only with
   * its cti (hex, as read from the token, cose readableCti): the record must match both.
   */
  getTokenByHash(tokenHash: string, cti?: string): Promise<IssuedTokenRecord | undefined>;
  /**
   * Marks revoked and appends to the audience's TRL, raising its sequence, in one transaction
   * with every token exchanged from it (and from those, RFC 8693 chains). Returns the audiences
   * whose TRL changed: none if unknown or already revoked with all its exchanges. The token is
   * named as at getTokenByHash (its cti too, for a record with ctiInToken).
   */
  revokeToken(tokenHash: string, cti?: string): Promise<string[]>;
  /**
   * Retention: deletes records that expired before `before` (seconds), one bounded step per call
   * (about `limit` rows read), so a large table is never locked or scanned in one go; call again
   * while `more`. Goes: tokens (never a clock-less one: its device counts exi from its own
   * receipt, and revocation lists keep exi floors from them), their revocations, refresh tokens
   * of families whose every refresh token and access token expired (a used one must still
   * revoke its family when replayed, and an access token may outlive the refresh tokens), and
   * authorization codes (a used one only once its grant is gone as well: its replay ends the
   * grant). Nothing a live token, a revocation list or a replay check reads: those all look at
   * records unexpired at `now`, and `before` is earlier.
   */
  purgeExpired(before: number, limit: number): Promise<{ deleted: number; more: boolean }>;
  /** The hash of the token with this cti (hex), whatever its state: what `authz revoke --cti` names. */
  tokenHashByCti(cti: string): Promise<string | undefined>;
  /**
   * A client's tokens that a revocation still matters for: not revoked, and unexpired (or
   * clock-less: an exi token lives at its device past issue + exi, see revokeFamily).
   */
  liveTokens(clientId: string, now: number): Promise<TokenRef[]>;
  /**
   * The cnf (as CBOR) and hash of a client's live tokens for one audience, newest first, at most
   * `limit`: where an RFC 9203 update of access rights finds the OSCORE_Input_Material it names
   * (and the token it updates, whose revocation then takes the new one along).
   */
  liveTokenConfirmations(clientId: string, audience: string, now: number, limit: number): Promise<Array<{ cnf: Uint8Array; token: TokenRef }>>;
  /**
   * RFC 8693: records that `token` was exchanged from `subject`, atomically: it joins the
   * subject token's grant family (so revoking the family revokes it) and its revocation tree (so
   * revoking the subject revokes it). If the subject was revoked meanwhile, the exchanged token is
   * revoked at once (onto its audience's TRL) and false is returned.
   */
  linkExchangedToken(token: TokenRef, subject: TokenRef): Promise<boolean>;
  /**
   * Revokes, in one transaction, every unexpired token of a grant family (each onto its audience's
   * TRL) and the family's refresh tokens. Returns the audiences whose TRL changed.
   */
  revokeFamily(family: string, now: number): Promise<string[]>;
  /**
   * An audience's TRL: its sequence number, the revoked tokens that still matter, and for a
   * clock-less audience the exi floor (the highest exi sequence number below which every token
   * has passed issue time + exi). A revoked exi token stays listed until the floor covers it:
   * a device counts exi from its own first receipt, so the issue-time expiry proves nothing there.
   */
  revocationList(audience: string, now: number): Promise<RevocationListState>;

  putRefreshToken(token: RefreshTokenRecord): Promise<void>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * RFC 9700 §4.14.2 rotation: marks `oldHash` used and stores `next` in one step. If `oldHash`
   * was already used, the whole family is revoked (a stolen refresh token was replayed).
   */
  rotateRefreshToken(oldHash: string, next: RefreshTokenRecord, now: number): Promise<RotateResult>;

  putSigningKey(key: SigningKeyRecord): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  retireSigningKey(kid: string, at: number, publishUntil: number): Promise<void>;

  close(): void;
}
