/**
 * Phantom tokens: the client holds an opaque reference token; the gateway introspects it once at
 * the service (RFC 7662, as a registered resource server), keeps the answer (phantom-token-cache.ts:
 * until the token's exp or 5 minutes, the bound on how long a revoked token is still served; an
 * inactive answer 30 s, so retries of a dead token do not each reach the service), and sends the upstream a short JWT with the introspected claims signed by
 * the gateway's own key (published at the gateway's /.well-known/jwks.json). The opaque token is
 * still DPoP-bound: the introspected cnf (a COSE_Key, RFC 8747 §3.2, as the service binds DPoP
 * keys into reference tokens) gives the jkt the proof's key must equal; an unbound or inactive
 * token is refused.
 */
import { SignJWT, exportJWK, type JWK } from 'jose';
import { coseKeyFromMap, decodeCbor, fromBase64Url, isMap } from '../cose/index.js';
import { coseKeyJkt } from '../sender-constraint/index.js';
import type { BoundAccessToken } from './access-token.js';
import { GatewayError } from './errors.js';
import type { PhantomSigningKey } from './phantom-signing-key.js';
import { PhantomTokenCache, PHANTOM_MAX_TTL_S } from './phantom-token-cache.js';

/** An introspection answer is a few hundred bytes; anything past this is refused unparsed. */
const MAX_INTROSPECTION_BYTES = 16 * 1024;
/** Opaque tokens the service issues are 43 base64url characters; leave room, refuse the absurd. */
const MAX_OPAQUE_TOKEN_CHARS = 512;
/** The JWT the upstream receives lives at most this long (and never past the token's exp). */
const PHANTOM_JWT_SECONDS = 300;
export const DEFAULT_PHANTOM_CACHE_ENTRIES = 10_000;
export const PHANTOM_KEY_PREFIX = 'keybound:gateway:phantom:';

/** The slice of ioredis used to share introspection answers between gateway instances. */
export interface SharedIntrospections {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
}

export interface PhantomTokenOptions {
  /** The service's introspection endpoint (authz-url + /introspect). */
  introspectionUrl: string;
  clientId: string;
  clientSecret: string;
  audience: string;
  /** The gateway's signing key (ES256) and its kid, for the JWTs the upstream receives. */
  signingKey: PhantomSigningKey;
  issuer: string;
  capacity?: number;
  timeoutMs?: number;
  /** Redis: one introspection per token for all instances (kept until the token's exp). */
  shared?: SharedIntrospections;
}

interface Introspected {
  bound: BoundAccessToken;
  claims: Record<string, unknown>;
  jwt?: { text: string; exp: number };
}

export class PhantomTokens {
  readonly #options: PhantomTokenOptions;
  readonly #cache: PhantomTokenCache<Introspected>;

  constructor(options: PhantomTokenOptions, clock: () => number = () => Date.now() / 1000) {
    this.#options = options;
    this.#cache = new PhantomTokenCache<Introspected>(clock, { maxEntries: options.capacity ?? DEFAULT_PHANTOM_CACHE_ENTRIES });
  }

  /** Its cache's counters: a miss is an introspection (or a read of another instance's answer). */
  get cacheStats(): { hits: number; misses: number; expired: number; evictions: number } {
    const c = this.#cache;
    return { hits: c.hits, misses: c.misses, expired: c.expired, evictions: c.evictions };
  }

  /** The public JWKS of the gateway's signing key (what the upstream verifies the JWT with). */
  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(this.#options.signingKey.publicKey);
    return { keys: [{ ...jwk, kid: this.#options.signingKey.kid, alg: 'ES256', use: 'sig' }] };
  }

  /** The token's binding and claims, introspected once per token until its exp. */
  async introspect(token: string, now: number): Promise<BoundAccessToken> {
    return (await this.#entry(token, now)).bound;
  }

  /** The signed JWT for the upstream (made once per token per PHANTOM_JWT_SECONDS). */
  async upstreamJwt(token: string, now: number): Promise<string> {
    // Called right after introspect() for the same request: read the entry back without counting a second lookup.
    const entry = this.#cache.peek(new TextEncoder().encode(token)) ?? (await this.#entry(token, now));
    if (entry.jwt && entry.jwt.exp - 30 > now) return entry.jwt.text;
    const exp = Math.min(entry.bound.exp, Math.floor(now) + PHANTOM_JWT_SECONDS);
    const text = await new SignJWT({ ...entry.claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: this.#options.signingKey.kid })
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setIssuedAt(Math.floor(now))
      .setExpirationTime(exp)
      .sign(this.#options.signingKey.privateKey);
    entry.jwt = { text, exp };
    return text;
  }

  async #entry(token: string, now: number): Promise<Introspected> {
    if (token.length > MAX_OPAQUE_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) throw new GatewayError('invalid_token', 'access token malformed');
    // Keyed by a hash (in process and in Redis): the caches hold no usable token.
    const bytes = new TextEncoder().encode(token);
    const hit = this.#cache.lookup(bytes);
    if (hit.hit && !hit.active) throw new GatewayError('invalid_token', 'access token not active');
    if (hit.hit && hit.value && hit.value.bound.exp > now) return hit.value;
    const key = PhantomTokenCache.key(bytes);
    let entry: Introspected & { shared?: true };
    try {
      entry = (await this.#fromShared(key, now)) ?? (await this.#fetch(token, now));
    } catch (e) {
      // The service's "not active" is kept briefly; a failure to reach it is not.
      if (e instanceof GatewayError && e.code !== 'introspection_failed') this.#cache.store(bytes, { active: false });
      throw e;
    }
    if (this.#options.shared) await this.#toShared(key, entry, now);
    this.#cache.store(bytes, { active: true, exp: entry.bound.exp }, entry);
    return entry;
  }

  /** Another instance's answer; anything unreadable or expired is ignored (introspected again). */
  async #fromShared(key: string, now: number): Promise<(Introspected & { shared: true }) | undefined> {
    if (!this.#options.shared) return undefined;
    let text: string | null;
    try {
      text = await this.#options.shared.get(PHANTOM_KEY_PREFIX + key);
    } catch {
      return undefined;
    }
    if (text === null || text.length > MAX_INTROSPECTION_BYTES) return undefined;
    try {
      const v = JSON.parse(text) as { bound: BoundAccessToken; claims: Record<string, unknown> };
      if (typeof v.bound?.jkt !== 'string' || typeof v.bound.exp !== 'number' || v.bound.exp <= now) return undefined;
      return { bound: v.bound, claims: v.claims, shared: true };
    } catch {
      return undefined;
    }
  }

  async #toShared(key: string, entry: Introspected & { shared?: true }, now: number): Promise<void> {
    if (entry.shared) return;
    try {
      await this.#options.shared!.set(PHANTOM_KEY_PREFIX + key, JSON.stringify({ bound: entry.bound, claims: entry.claims }), 'PX', Math.max(1, Math.floor(Math.min(entry.bound.exp - now, PHANTOM_MAX_TTL_S) * 1000)));
    } catch {
      // Not shared this time: the other instances introspect for themselves.
    }
  }

  async #fetch(token: string, now: number): Promise<Introspected> {
    const o = this.#options;
    let body: unknown;
    try {
      const r = await fetch(o.introspectionUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64')}` },
        body: new URLSearchParams({ token }),
        signal: AbortSignal.timeout(o.timeoutMs ?? 5000),
        redirect: 'error',
      });
      const text = await r.text();
      if (r.status !== 200 || text.length > MAX_INTROSPECTION_BYTES) throw new Error(`introspection answered ${r.status}`);
      body = JSON.parse(text);
    } catch (e) {
      throw new GatewayError('introspection_failed', 'introspection at the service failed', { cause: e instanceof Error ? e.message : undefined });
    }
    const a = body as Record<string, unknown>;
    // RFC 7662 §2.2: only active true, for our audience, not expired, counts.
    if (a === null || typeof a !== 'object' || a.active !== true) throw new GatewayError('invalid_token', 'access token not active');
    const aud = Array.isArray(a.aud) ? a.aud : [a.aud];
    if (!aud.includes(o.audience)) throw new GatewayError('wrong_audience', 'access token is for another audience');
    if (typeof a.exp !== 'number' || a.exp <= now) throw new GatewayError('expired', 'access token expired');
    const jkt = introspectedJkt(a.cnf);
    if (jkt === undefined) throw new GatewayError('invalid_token', 'access token is not bound to a DPoP key');
    const claims: Record<string, unknown> = { cnf: { jkt } };
    for (const name of ['scope', 'client_id', 'sub', 'jti']) if (typeof a[name] === 'string') claims[name] = a[name];
    if (typeof a.cti === 'string') claims.jti ??= a.cti;
    return {
      bound: { jkt, exp: a.exp, scope: a.scope, ...(typeof a.sub === 'string' ? { sub: a.sub } : {}), ...(typeof a.client_id === 'string' ? { clientId: a.client_id } : {}) },
      claims,
    };
  }
}

/** cnf as the service's introspection gives it: { jkt } (RFC 9449 §6.2), or base64url CBOR { 1: COSE_Key } (RFC 8747 §3.2). */
function introspectedJkt(cnf: unknown): string | undefined {
  if (cnf !== null && typeof cnf === 'object' && typeof (cnf as Record<string, unknown>).jkt === 'string') {
    const jkt = String((cnf as Record<string, unknown>).jkt);
    return /^[A-Za-z0-9_-]{43}$/.test(jkt) ? jkt : undefined;
  }
  if (typeof cnf !== 'string' || cnf.length > 2048) return undefined;
  try {
    const decoded = decodeCbor(fromBase64Url(cnf), { maxBytes: 1536, maxDepth: 4 });
    if (!isMap(decoded)) return undefined;
    const coseKey = decoded.get(1);
    return coseKey === undefined ? undefined : coseKeyJkt(coseKeyFromMap(coseKey));
  } catch {
    return undefined;
  }
}
