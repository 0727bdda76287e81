/**
 * Database rows to store records, shared by SqliteStore and PgStore: both keep the same columns
 * (SQLite flags as 0/1, PostgreSQL as booleans; keys as COSE_Key CBOR bytes; lists as JSON text).
 */
import { decodeCoseKey, detachedCoseKey, encodeCoseKey, type CoseKey } from '../cose/index.js';
import type { AudienceRecord, AuthCodeRecord, ClientRecord, DeviceCodeRecord, IssuedTokenRecord, PushedRequestRecord, RefreshTokenRecord, SigningKeyRecord } from './store.js';

export type Row = Record<string, unknown>;

/** A flag column: SQLite INTEGER 0/1 or PostgreSQL BOOLEAN. */
export const flag = (v: unknown): boolean => v === 1 || v === true;
export const u8 = (v: unknown): Uint8Array | undefined => (v == null ? undefined : new Uint8Array(v as Buffer));
export const blob = (v: Uint8Array | undefined): Buffer | null => (v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : null);
export const keyBlob = (k: CoseKey | undefined): Buffer | null => (k ? blob(encodeCoseKey(k)) : null);

/**
 * Decoded COSE_Keys by their stored bytes: decoding each request's client and audience keys again
 * was a measurable part of a token's CPU. Every caller gets a copy of its own, byte strings and
 * key_ops included: a caller that wipes a key it was given (`key.k.fill(0)` after sealing with
 * it) must not change the key every later request gets, which one shared object (frozen, but a
 * freeze does not reach into a Uint8Array) would have let it do. Keyed by the exact bytes, so a
 * re-registered key is a different entry: nothing stale can be returned.
 */
const KEY_CACHE_ENTRIES = 4096;
const keyCache = new Map<string, CoseKey>();
export const key = (v: unknown): CoseKey | undefined => {
  if (v == null) return undefined;
  const bytes = v as Buffer;
  const id = bytes.toString('hex');
  let k = keyCache.get(id);
  if (!k) {
    k = decodeCoseKey(new Uint8Array(bytes));
    if (keyCache.size >= KEY_CACHE_ENTRIES) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(id, k);
  }
  return detachedCoseKey(k);
};

export function rowToClient(r: Row): ClientRecord {
  const c: ClientRecord = {
    id: r.id as string,
    name: r.name as string,
    audiences: JSON.parse(r.audiences as string),
    scopes: JSON.parse(r.scopes as string),
    grantTypes: JSON.parse(r.grant_types as string),
    redirectUris: JSON.parse(r.redirect_uris as string),
    resourceServer: flag(r.resource_server),
  };
  if (flag(r.message_pop)) c.messagePop = true;
  if (flag(r.require_par)) c.requirePar = true;
  if (r.tls_client_auth != null) c.tlsClientAuth = JSON.parse(r.tls_client_auth as string);
  if (r.secret_hash != null) c.secretHash = r.secret_hash as string;
  const pk = key(r.public_key);
  if (pk) c.publicKey = pk;
  return c;
}

export function rowToAudience(r: Row): AudienceRecord {
  const a: AudienceRecord = {
    id: r.id as string,
    protection: r.protection as AudienceRecord['protection'],
    macKey: key(r.mac_key)!,
    encKey: key(r.enc_key)!,
    clockless: flag(r.clockless),
    referenceTokens: flag(r.reference_tokens),
    policy: JSON.parse(r.policy as string),
  };
  const rs = key(r.rs_key);
  if (rs) a.rsKey = rs;
  return a;
}

export function rowToAuthCode(r: Row): AuthCodeRecord {
  const code: AuthCodeRecord = {
    codeHash: r.code_hash as string,
    clientId: r.client_id as string,
    username: r.username as string,
    redirectUri: r.redirect_uri as string,
    audience: r.audience as string,
    scope: r.scope as string,
    codeChallenge: r.code_challenge as string,
    expiresAt: Number(r.expires_at),
  };
  const cnf = u8(r.req_cnf);
  if (cnf) code.reqCnf = cnf;
  if (typeof r.dpop_jkt === 'string') code.dpopJkt = r.dpop_jkt;
  return code;
}

export function rowToDeviceCode(r: Row): DeviceCodeRecord {
  const d: DeviceCodeRecord = {
    deviceCodeHash: r.device_code_hash as string,
    userCode: r.user_code as string,
    clientId: r.client_id as string,
    audience: r.audience as string,
    scope: r.scope as string,
    expiresAt: Number(r.expires_at),
    status: r.status as DeviceCodeRecord['status'],
    interval: Number(r.interval),
    lastPolledAt: Number(r.last_polled_at),
  };
  const cnf = u8(r.req_cnf);
  if (cnf) d.reqCnf = cnf;
  if (r.username != null) d.username = r.username as string;
  return d;
}

export function rowToToken(r: Row): IssuedTokenRecord {
  const t: IssuedTokenRecord = {
    cti: r.cti as string,
    tokenHash: r.token_hash as string,
    audience: r.audience as string,
    clientId: r.client_id as string,
    subject: r.subject as string,
    scope: r.scope as string,
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    reference: flag(r.reference),
    revoked: flag(r.revoked),
  };
  const cnf = u8(r.cnf);
  if (cnf) t.cnf = cnf;
  if (r.family != null) t.family = r.family as string;
  if (r.exi_seq != null) t.exiSequence = Number(r.exi_seq);
  if (r.parent_hash != null) t.parent = r.parent_hash as string;
  if (r.cti_in_token != null && flag(r.cti_in_token)) t.ctiInToken = true;
  return t;
}

export function rowToRefreshToken(r: Row): RefreshTokenRecord {
  const t: RefreshTokenRecord = {
    tokenHash: r.token_hash as string,
    family: r.family as string,
    clientId: r.client_id as string,
    audience: r.audience as string,
    scope: r.scope as string,
    subject: r.subject as string,
    expiresAt: Number(r.expires_at),
    used: flag(r.used),
  };
  const cnf = u8(r.req_cnf);
  if (cnf) t.reqCnf = cnf;
  if (typeof r.dpop_jkt === 'string') t.dpopJkt = r.dpop_jkt;
  return t;
}

export function rowToSigningKey(r: Row): SigningKeyRecord {
  const k: SigningKeyRecord = { kid: r.kid as string, alg: Number(r.alg), publicKey: key(r.public_key)!, createdAt: Number(r.created_at) };
  if (r.retired_at != null) k.retiredAt = Number(r.retired_at);
  if (r.publish_until != null) k.publishUntil = Number(r.publish_until);
  return k;
}

export function rowToPushedRequest(r: Row): PushedRequestRecord {
  return { uriHash: r.uri_hash as string, clientId: r.client_id as string, params: r.params as string, expiresAt: Number(r.expires_at) };
}
