/**
 * The protected sessions of a resource server (RFC 9203 §4.1 key exchange over authz-info, then
 * AEAD-protected requests): their table, its budget and eviction rules, and serving a protected
 * message. Apart from resource-server-core.ts so that a verify-only device (PoP proofs only,
 * device/verify-only.ts) carries none of it: no AES, no HKDF, no session storage.
 */
import { toHex, type CborValue, type Clock, type CryptoProvider } from '../cose/index.js';
import { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
import type { RequestHints } from './request-hints.js';
import type { DeviceStorage } from './storage.js';
import type { DeviceProfile } from './device-profile.js';
import type { StoredToken } from './token-store.js';
import type { ExiTracker } from './exi-tracker.js';
import type { RevocationState } from './revocation-state.js';
import { hashPrefix, logText, type Logger } from './logger.js';
import { deriveSessionKeys, SESSION_ID_BYTES } from './session-keys.js';
import { ProtectedSession, peekSessionMessage, type SessionBinding } from './protected-session.js';
import { decodeRequestBody, encodeResponseBody, type DeviceResponseBody } from './device-messages.js';

/** RFC 9203 §4.1: the device's nonce N2, 16 bytes like the client's. */
const NONCE2_BYTES = 16;

/** What the session table borrows from the resource server it belongs to. */
export interface SessionTableContext {
  audience: string;
  storage: DeviceStorage;
  provider: CryptoProvider;
  clock: Clock;
  profile: DeviceProfile;
  revocation: RevocationState;
  exi: ExiTracker;
  log: Logger;
  hints(scope?: CborValue): RequestHints;
  refuse(code: DeviceErrorCode, message: string): DeviceError;
  authorize(entry: { scopeClaim: unknown }, method: string, resource: string): void;
  serve(method: string, resource: string, payload: Uint8Array, subject: string | undefined): DeviceResponseBody;
}

export interface SessionTable {
  /** Opens a session for a stored token with a symmetric PoP key and the client's nonce1. */
  open(entry: StoredToken, nonce1: Uint8Array): { id: Uint8Array; nonce2: Uint8Array };
  /** Serves one protected message; returns the protected response. */
  handle(message: Uint8Array): Uint8Array;
  /** Closes sessions whose token was revoked or expired. */
  sweep(): void;
  readonly size: number;
}

export type SessionTableFactory = (ctx: SessionTableContext) => SessionTable;

export function createSessionTable(ctx: SessionTableContext): SessionTable {
  const { audience, storage, provider, clock, profile, revocation, exi, log, hints, refuse, authorize, serve } = ctx;
  const sessions = new Map<string, ProtectedSession>();

  /** Why a session's token no longer holds: revoked, expired, or an exi token under the floor. */
  function bindingRefusal(binding: SessionBinding | undefined): DeviceErrorCode | undefined {
    if (!binding) return DEVICE_ERR.INVALID_TOKEN;
    if (revocation.isRevoked(binding.tokenHash) || revocation.isIssuedBeforeFloor(binding.issuedAt)) return DEVICE_ERR.REVOKED;
    // The floor, not the list, refuses a revoked exi token once it covers it (finding 2); a
    // session outlives its token in the RAM store and across reboots, so it is checked here too.
    if (binding.expiresAt <= clock() || (binding.exiSequence !== undefined && exi.isBelowFloor(binding.exiSequence))) return DEVICE_ERR.EXPIRED;
    return undefined;
  }

  function sweepSessions(): void {
    for (const [k, s] of sessions) {
      if (bindingRefusal(s.binding) !== undefined) {
        s.destroy();
        sessions.delete(k);
      }
    }
  }

  // Opening a session takes only the token (maybe stolen), not its key: a session counts as proven
  // once a message has decrypted under its keys (its replay window has moved; that is in storage,
  // so it holds across reboots). Unproven sessions give way to others; proven ones never do.
  const isProven = (s: ProtectedSession): boolean => s.replayWindow.highest >= 0;

  /**
   * Room for one more session of `subject`'s: sweep; an owner already holding half the slots makes
   * room only by its own oldest unproven session, else it is `busy` (so one client proving session
   * after session never holds them all, and a thief opening sessions with a client's stolen tokens
   * never closes that client's proven ones); then the oldest unproven one goes; else `busy`.
   */
  function makeRoomForSession(subject: string | undefined): void {
    if (sessions.size >= profile.maxSessions) sweepSessions();
    const mine = [...sessions].filter(([, s]) => s.binding?.subject === subject);
    if (mine.length >= Math.max(1, Math.floor(profile.maxSessions / 2))) {
      const unproven = mine.find(([, x]) => !isProven(x));
      if (!unproven) throw new DeviceError(DEVICE_ERR.BUSY, 'this client already holds its share of proven sessions');
      unproven[1].destroy();
      sessions.delete(unproven[0]);
    }
    if (sessions.size >= profile.maxSessions) {
      for (const [k, s] of sessions) {
        if (isProven(s)) continue;
        s.destroy();
        sessions.delete(k);
        break;
      }
    }
    if (sessions.size >= profile.maxSessions) throw new DeviceError(DEVICE_ERR.BUSY, `${profile.maxSessions} proven sessions already open`);
  }

  /** Keeps a token below its cap of unproven sessions, dropping its oldest first. */
  function capUnproven(hash: Uint8Array): void {
    const mine = toHex(hash);
    const unproven = [...sessions].filter(([, s]) => !isProven(s) && s.binding !== undefined && toHex(s.binding.tokenHash) === mine);
    const cap = Math.max(1, profile.maxUnprovenSessionsPerToken);
    while (unproven.length >= cap) {
      const [k, s] = unproven.shift()!;
      s.destroy();
      sessions.delete(k);
    }
  }

  function openSession(entry: StoredToken, nonce1: Uint8Array): { id: Uint8Array; nonce2: Uint8Array } {
    if (entry.popKey.kty !== 'Symmetric') {
      throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'a protected session needs a symmetric PoP key; use PoP proofs with this token');
    }
    capUnproven(entry.hash);
    makeRoomForSession(entry.subject);
    const nonce2 = provider.randomBytes(NONCE2_BYTES);
    let id = provider.randomBytes(SESSION_ID_BYTES);
    while (sessions.has(toHex(id)) || storage.get(ProtectedSession.storageKey('device', id))) id = provider.randomBytes(SESSION_ID_BYTES);
    const keys = deriveSessionKeys(entry.popKey.k!, nonce1, nonce2, id, profile.sessionAlg, provider);
    const session = ProtectedSession.create('device', keys, storage, provider, {
      tokenHash: entry.hash,
      expiresAt: Number.isFinite(entry.expiresAt) ? entry.expiresAt : Number.MAX_SAFE_INTEGER,
      scopeClaim: entry.scopeClaim as CborValue,
      ...(entry.subject !== undefined ? { subject: entry.subject } : {}),
      ...(entry.exiSequence !== undefined ? { exiSequence: entry.exiSequence } : {}),
      ...(entry.issuedAt !== undefined ? { issuedAt: entry.issuedAt } : {}),
    });
    sessions.set(toHex(id), session);
    return { id, nonce2 };
  }

  function findSession(id: Uint8Array): ProtectedSession {
    const key = toHex(id);
    let session = sessions.get(key);
    if (!session) {
      // After a reboot the session is still in storage, with its window and sequence block.
      // Our ids are SESSION_ID_BYTES long: any other kid names no session (and no storage key).
      if (id.length === SESSION_ID_BYTES) session = ProtectedSession.load('device', id, storage, provider);
      if (!session) throw refuse(DEVICE_ERR.UNKNOWN_KEY, 'no protected session with this kid(4): post the token again');
      makeRoomForSession(session.binding?.subject);
      sessions.set(key, session);
    }
    return session;
  }

function handle(message: Uint8Array): Uint8Array {
    const { kid } = peekSessionMessage(message);
    const session = findSession(kid);
    const opened = session.unprotect(message);
    const binding = session.binding!;
    const answer = (body: DeviceResponseBody) => session.protect(encodeResponseBody(body), opened.piv);
    // Authenticated from here on: refusals travel protected, so a client can trust them.
    const code = bindingRefusal(binding);
    if (code !== undefined) {
      const response = answer({ code: 401, error: code, hints: hints() });
      session.destroy();
      sessions.delete(toHex(kid));
      log.warn({ event: 'session_message_refused', audience, code, subject: logText(binding.subject), tokenHash: hashPrefix(toHex(binding.tokenHash)) }, `device: session message refused: ${code}`);
      return response;
    }
    let request;
    try {
      request = decodeRequestBody(opened.plaintext);
      authorize({ scopeClaim: binding.scopeClaim }, request.method, request.resource);
    } catch (cause) {
      if (cause instanceof DeviceError) {
        log.warn({ event: 'session_message_refused', audience, code: cause.code, subject: logText(binding.subject), tokenHash: hashPrefix(toHex(binding.tokenHash)) }, `device: session message refused: ${cause.code}`);
        return answer({ code: cause.code === DEVICE_ERR.INSUFFICIENT_SCOPE ? 403 : 400, error: cause.code, hints: hints(binding.scopeClaim) });
      }
      throw cause;
    }
    log.info({ event: 'request_served', audience, subject: logText(binding.subject), tokenHash: hashPrefix(toHex(binding.tokenHash)), method: logText(request.method), resource: logText(request.resource), session: true }, 'device: request served');
    return answer(serve(request.method, request.resource, request.payload, binding.subject));
  }

  return {
    open: openSession,
    handle,
    sweep: sweepSessions,
    get size() {
      return sessions.size;
    },
  };
}
