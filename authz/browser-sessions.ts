/**
 * Browser sessions for the login, consent and device pages: a random id in an HttpOnly,
 * SameSite=Lax cookie, state in a SessionStore (memory by default: losing them on restart only
 * means signing in again; PostgreSQL for several instances). Bounded in count and lifetime.
 */
import { timingSafeEqual } from 'node:crypto';
import { addressKey } from './client-address.js';

/** Ten minutes to sign in and decide (the lifetime of the pending authorization request). */
export const SESSION_LIFETIME = 600;
/** Beyond this many live sessions the oldest are dropped: memory stays bounded under a flood. */
export const MAX_SESSIONS = 10_000;
export const SESSION_COOKIE = 'kb_session';
/**
 * Once MAX_SESSIONS are live, an address holding at least this many gives up its own oldest for a
 * new one, and only others take the oldest of all: a flood of sessions from one address (GET
 * /device needs no credential) cannot push out the session of a user who is signing in.
 */
export const SESSIONS_PER_ADDRESS_WHEN_FULL = 16;
/**
 * Authorization requests a session may have open at once (tabs); beyond it the oldest is dropped.
 * Each is approved only by a form that names its own id, so opening another request never
 * changes what an open consent page approves.
 */
export const MAX_PENDING_PER_SESSION = 4;

export interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  audience: string;
  scope: string;
  codeChallenge: string;
  state?: string;
  reqCnf?: Uint8Array;
  /** JARM: the response is a signed JWT (authorization-response.ts). Absent: query. */
  responseMode?: 'jwt';
  /** RFC 9449 §10: the DPoP key thumbprint the code will be bound to. */
  dpopJkt?: string;
}

export interface BrowserSession {
  id: string;
  csrf: string;
  createdAt: number;
  user?: string;
  /**
   * Open authorization requests by request id: 32 random bytes, placed in the consent (and login)
   * form of that request only. A record is never changed once stored: the id names exactly the
   * client, redirect URI, audience, scope and PKCE challenge the page showed.
   */
  pending: Map<string, PendingAuthorization>;
  /** The address (an IPv6 /64) that opened it (SESSIONS_PER_ADDRESS_WHEN_FULL). */
  address: string;
}


/**
 * Where sessions live: in this process (MemorySessionStore, the default) or, for several
 * instances behind one address, in the database (PgStore), so that a login at one instance
 * continues at another. takePending is atomic: one consent per request, whichever instance.
 */
export interface SessionStore {
  /** The session with this id, or undefined. */
  getSession(id: string): Promise<BrowserSession | undefined>;
  /** Stores a new session with its pending requests, within the store's bounds (MAX_SESSIONS). */
  putSession(s: BrowserSession): Promise<void>;
  deleteSession(id: string): Promise<void>;
  /** Opens a request in a session; beyond MAX_PENDING_PER_SESSION the oldest is dropped. */
  addPending(s: BrowserSession, requestId: string, request: PendingAuthorization): Promise<void>;
  /** Closes the request and returns it; undefined when it was not open (or another took it). */
  takePending(s: BrowserSession, requestId: string): Promise<PendingAuthorization | undefined>;
}

/** Sessions in memory: losing them on restart only means signing in again. Bounded. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, BrowserSession>();
  /** Session ids by address, oldest first. */
  private readonly byAddress = new Map<string, Set<string>>();

  async getSession(id: string): Promise<BrowserSession | undefined> {
    return this.sessions.get(id);
  }

  async putSession(s: BrowserSession): Promise<void> {
    if (this.sessions.size >= MAX_SESSIONS) {
      const own = this.byAddress.get(s.address);
      this.drop(own && own.size >= SESSIONS_PER_ADDRESS_WHEN_FULL ? own.values().next().value! : this.sessions.keys().next().value!);
    }
    this.sessions.set(s.id, s);
    let ids = this.byAddress.get(s.address);
    if (!ids) this.byAddress.set(s.address, (ids = new Set()));
    ids.add(s.id);
  }

  async deleteSession(id: string): Promise<void> {
    this.drop(id);
  }

  private drop(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    const ids = this.byAddress.get(s.address);
    ids?.delete(id);
    if (ids?.size === 0) this.byAddress.delete(s.address);
  }

  async addPending(s: BrowserSession, requestId: string, request: PendingAuthorization): Promise<void> {
    if (s.pending.size >= MAX_PENDING_PER_SESSION) s.pending.delete(s.pending.keys().next().value!);
    s.pending.set(requestId, request);
  }

  async takePending(s: BrowserSession, requestId: string): Promise<PendingAuthorization | undefined> {
    // A Map lookup by an unguessable id: nothing is learnt from its timing that the id does not already give.
    const p = s.pending.get(requestId);
    s.pending.delete(requestId);
    return p;
  }
}

export class BrowserSessions {
  constructor(
    private readonly random: (n: number) => Uint8Array,
    private readonly clock: () => number,
    /**
     * Served over HTTPS: the cookie is Secure (RFC 6265 §4.1.2.5). Without it a browser sends the
     * session to plain HTTP on the same host (cookies ignore ports), to whoever is on the path.
     */
    private readonly secure = false,
    private readonly store: SessionStore = new MemorySessionStore(),
  ) {}

  private token(): string {
    return Buffer.from(this.random(32)).toString('base64url');
  }

  async get(cookieHeader: string | undefined): Promise<BrowserSession | undefined> {
    const id = parseCookie(cookieHeader, SESSION_COOKIE);
    // Session ids are 32 random bytes in base64url (43 characters): anything else is no session.
    const s = id && /^[A-Za-z0-9_-]{43}$/.test(id) ? await this.store.getSession(id) : undefined;
    if (s && this.clock() - s.createdAt > SESSION_LIFETIME) {
      await this.store.deleteSession(s.id);
      return undefined;
    }
    return s;
  }

  /** A new session for a client at `remoteAddress`. */
  async create(remoteAddress = ''): Promise<BrowserSession> {
    const s: BrowserSession = { id: this.token(), csrf: this.token(), createdAt: this.clock(), pending: new Map(), address: addressKey(remoteAddress) };
    await this.store.putSession(s);
    return s;
  }

  /** The request's session, or a new one with the Set-Cookie header that starts it. */
  async getOrCreate(cookieHeader: string | undefined, remoteAddress = ''): Promise<{ session: BrowserSession; setCookie?: Record<string, string> }> {
    const existing = await this.get(cookieHeader);
    if (existing) return { session: existing };
    const session = await this.create(remoteAddress);
    return { session, setCookie: { 'set-cookie': this.cookie(session) } };
  }

  /** On sign-in the id changes (session fixation) and the CSRF token with it. */
  async renew(s: BrowserSession): Promise<BrowserSession> {
    await this.store.deleteSession(s.id);
    const next: BrowserSession = { ...s, id: this.token(), csrf: this.token(), createdAt: this.clock() };
    await this.store.putSession(next);
    return next;
  }

  /** Opens a request and returns its id (the oldest open one goes beyond MAX_PENDING_PER_SESSION). */
  async addPending(s: BrowserSession, request: PendingAuthorization): Promise<string> {
    const id = this.token();
    await this.store.addPending(s, id, request);
    return id;
  }

  /** Closes the request a form names and returns it; undefined when the id is absent or not open. */
  async takePending(s: BrowserSession, requestId: string | null): Promise<PendingAuthorization | undefined> {
    if (!requestId) return undefined;
    return this.store.takePending(s, requestId);
  }

  cookie(s: BrowserSession): string {
    return `${SESSION_COOKIE}=${s.id}; HttpOnly;${this.secure ? ' Secure;' : ''} SameSite=Lax; Path=/; Max-Age=${SESSION_LIFETIME}`;
  }

  static checkCsrf(s: BrowserSession, presented: string | null): boolean {
    if (!presented) return false;
    const a = Buffer.from(s.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

function parseCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
