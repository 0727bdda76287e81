/**
 * Browser sessions for the login, consent and device pages: a random id in an HttpOnly,
 * SameSite=Lax cookie, state in memory (losing them on restart only means signing in again;
 * codes and tokens are in the store). Bounded in count and lifetime.
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


export class BrowserSessions {
  private readonly sessions = new Map<string, BrowserSession>();
  /** Session ids by address, oldest first. */
  private readonly byAddress = new Map<string, Set<string>>();

  constructor(
    private readonly random: (n: number) => Uint8Array,
    private readonly clock: () => number,
    /**
     * Served over HTTPS: the cookie is Secure (RFC 6265 §4.1.2.5). Without it a browser sends the
     * session to plain HTTP on the same host (cookies ignore ports), to whoever is on the path.
     */
    private readonly secure = false,
  ) {}

  private token(): string {
    return Buffer.from(this.random(32)).toString('base64url');
  }

  get(cookieHeader: string | undefined): BrowserSession | undefined {
    const id = parseCookie(cookieHeader, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (s && this.clock() - s.createdAt > SESSION_LIFETIME) {
      this.drop(s.id);
      return undefined;
    }
    return s;
  }

  private add(s: BrowserSession): void {
    this.sessions.set(s.id, s);
    let ids = this.byAddress.get(s.address);
    if (!ids) this.byAddress.set(s.address, (ids = new Set()));
    ids.add(s.id);
  }

  private drop(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    const ids = this.byAddress.get(s.address);
    ids?.delete(id);
    if (ids?.size === 0) this.byAddress.delete(s.address);
  }

  /** A new session for a client at `remoteAddress`. */
  create(remoteAddress = ''): BrowserSession {
    const address = addressKey(remoteAddress);
    if (this.sessions.size >= MAX_SESSIONS) {
      const own = this.byAddress.get(address);
      this.drop(own && own.size >= SESSIONS_PER_ADDRESS_WHEN_FULL ? own.values().next().value! : this.sessions.keys().next().value!);
    }
    const s: BrowserSession = { id: this.token(), csrf: this.token(), createdAt: this.clock(), pending: new Map(), address };
    this.add(s);
    return s;
  }

  /** The request's session, or a new one with the Set-Cookie header that starts it. */
  getOrCreate(cookieHeader: string | undefined, remoteAddress = ''): { session: BrowserSession; setCookie?: Record<string, string> } {
    const existing = this.get(cookieHeader);
    if (existing) return { session: existing };
    const session = this.create(remoteAddress);
    return { session, setCookie: { 'set-cookie': this.cookie(session) } };
  }

  /** On sign-in the id changes (session fixation) and the CSRF token with it. */
  renew(s: BrowserSession): BrowserSession {
    this.drop(s.id);
    const next: BrowserSession = { ...s, id: this.token(), csrf: this.token(), createdAt: this.clock() };
    this.add(next);
    return next;
  }

  /** Opens a request and returns its id (the oldest open one goes beyond MAX_PENDING_PER_SESSION). */
  addPending(s: BrowserSession, request: PendingAuthorization): string {
    if (s.pending.size >= MAX_PENDING_PER_SESSION) s.pending.delete(s.pending.keys().next().value!);
    const id = this.token();
    s.pending.set(id, request);
    return id;
  }

  /** Closes the request a form names and returns it; undefined when the id is absent or not open. */
  static takePending(s: BrowserSession, requestId: string | null): PendingAuthorization | undefined {
    // A Map lookup by an unguessable id: nothing is learnt from its timing that the id does not already give.
    if (!requestId) return undefined;
    const p = s.pending.get(requestId);
    s.pending.delete(requestId);
    return p;
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
