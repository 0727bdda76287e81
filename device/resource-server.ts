/**
 * The resource-server role of a device (the test tube of DESIGN.md's disconnected flow): takes
 * tokens on authz-info and verifies them offline with its provisioned anchors, keeps them in a
 * bounded store, demands proof of possession on every request (a PoP proof, or a protected
 * session for symmetric keys), authorizes against the scope, applies revocation lists, and
 * answers every refusal with a typed code and AS Request Creation Hints (RFC 9200 §5.3).
 * Transport-neutral: every method takes and returns bytes or plain objects.
 */
import {
  fromHex,
  parseRestScope,
  portableProvider,
  restScopeAllows,
  toHex,
  type CborValue,
  type Clock,
  type CoseKey,
  type CryptoProvider,
  type RestMethod,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
import type { RequestHints } from './request-hints.js';
import type { DeviceStorage } from './storage.js';
import type { TrustStore } from './trust-store.js';
import { DEFAULT_DEVICE_PROFILE, type DeviceProfile } from './device-profile.js';
import { createTokenStore, TOKEN_ENTRY_OVERHEAD, type StoredToken, type TokenStore } from './token-store.js';
import { createExiTracker, type ExiTracker } from './exi-tracker.js';
import { createHintNonces, createNonceIssuer, type HintNonces, type NonceIssuer } from './nonce-issuer.js';
import { createReplayCache, type ReplayCache } from './replay-cache.js';
import { claimProofFreshness, verifyPopProof, type ProofFreshness } from './pop-proof.js';
import { createTokenAcceptance, type AcceptedTokenCache, type TokenAcceptance } from './token-acceptance.js';
import { createRevocationState, type RevocationState } from './revocation-state.js';
import { decodeStoredTokens, encodeStoredTokens, TOKENS_STORAGE_KEY } from './token-persistence.js';
import { deriveSessionKeys, SESSION_ID_BYTES } from './session-keys.js';
import { ProtectedSession, peekSessionMessage, type SessionBinding } from './protected-session.js';
import {
  decodeRequestBody,
  encodeResponseBody,
  type AuthzInfoRequest,
  type DeviceResponseBody,
  type PopRequest,
} from './device-messages.js';

export const PURPOSE_REQUEST = 'request';
/** RFC 9203 §4.1: the device's nonce N2, 16 bytes like the client's. */
const NONCE2_BYTES = 16;
/** Storage key written once, when the first iat-fresh proof is accepted (see iatGuard below). */
const IAT_MARKER_KEY = 'iat';

export interface DeviceRequest {
  method: string;
  resource: string;
  payload: Uint8Array;
  /** The token's subject (the client), when it names one. */
  subject: string | undefined;
}

export type DeviceHandler = (request: DeviceRequest) => DeviceResponseBody;

export interface ResourceServerOptions {
  trust: TrustStore;
  storage: DeviceStorage;
  /** Seconds; on a clock-less device, a monotonic count since first boot. */
  clock: Clock;
  handler: DeviceHandler;
  provider?: CryptoProvider;
  profile?: Partial<DeviceProfile>;
  /**
   * Keep accepted tokens in `storage` (token-persistence.ts), so that a reboot loses none: one
   * storage write per new token or change of the store. Off by default: a simulated device's
   * flash budget does not pay for it, and a device that keeps nothing has nothing to write.
   */
  persistTokens?: boolean;
}

export interface AuthzInfoResult {
  tokenHash: Uint8Array;
  expiresAt: number;
  /** Set when a protected session was opened (symmetric cnf and a nonce1 from the client). */
  session?: { id: Uint8Array; nonce2: Uint8Array };
}

export interface ResourceServer {
  readonly audience: string;
  /** RFC 9200 §5.10.1: verify and store a token; open a session when asked (RFC 9203 §4.1). */
  authzInfo(request: AuthzInfoRequest): AuthzInfoResult;
  /** A nonce for the next PoP proof (or for the cnonce hint). */
  issueNonce(): Uint8Array;
  /** Serves one request proven with a PoP proof (asymmetric or symmetric cnf, no session). */
  handlePopRequest(request: PopRequest): DeviceResponseBody;
  /** Serves one protected-session message; returns the protected response. */
  handleSessionMessage(message: Uint8Array): Uint8Array;
  /** Applies a signed token revocation list; returns how many tokens it newly revoked. */
  applyRevocationList(signedList: Uint8Array): number;
  /** The hints to send with a refusal. */
  hints(scope?: CborValue): RequestHints;
  readonly stats: { tokens: number; tokenBytes: number; sessions: number; revoked: number; exiFloor: number };
}

function keyBytes(key: CoseKey): number {
  return (key.x?.length ?? 0) + (key.y?.length ?? 0) + (key.k?.length ?? 0) + (key.kid?.length ?? 0);
}

export function createResourceServer(opts: ResourceServerOptions): ResourceServer {
  const { trust, storage, clock, handler } = opts;
  const provider = opts.provider ?? portableProvider;
  const profile: DeviceProfile = { ...DEFAULT_DEVICE_PROFILE, ...opts.profile };
  const audience = trust.audience;
  const tokens: TokenStore = createTokenStore(clock, profile.tokenBudgetBytes);
  const exi: ExiTracker = createExiTracker(audience, storage, clock);
  const nonces: NonceIssuer = createNonceIssuer(clock, provider, { maxNonces: profile.maxNonces });
  // Refusals share a hint nonce from their own pool; a proof may use either kind, once.
  const hintNonces: HintNonces = createHintNonces(clock, provider);
  const proofNonces: NonceIssuer = { issue: () => nonces.issue(), consume: (n) => nonces.consume(n) || hintNonces.consume(n) };
  const jtis: ReplayCache = createReplayCache(clock, profile.replayCacheEntries);
  // Replay after a reboot: the jti cache lives in RAM, so a new runtime cannot tell whether an
  // iat-fresh proof was already accepted before it. Any proof accepted before this boot had
  // iat <= (then) + iatWindow < bootTime + iatWindow, so after a reboot we refuse iat-fresh proofs
  // with iat <= bootTime + iatWindow: for one window after boot only nonce-fresh proofs work (the
  // refusal carries a cnonce hint, so a client retries at once). Chosen over persisting the jti
  // cache, which would cost a flash write per request: this costs one write in the device's life
  // (the marker, set when the first iat proof is accepted; with no marker there is nothing to
  // replay). Assumes the clock does not go back across a reboot (DESIGN.md: it is monotonic).
  let iatMarked = storage.get(IAT_MARKER_KEY) !== undefined;
  const iatGuard = iatMarked ? clock() + profile.iatWindow : Number.NEGATIVE_INFINITY;

  /** Spends a verified proof's nonce or jti; an iat proof from before this boot is refused first. */
  function claimFreshness(freshness: ProofFreshness, subject: string | undefined): void {
    if (freshness.kind === 'iat') {
      if (freshness.iat <= iatGuard) {
        throw refuse(DEVICE_ERR.REPLAY, 'PoP proof: iat(5) proofs are refused for one window after a reboot; retry with the cnonce hint as nonce(4)');
      }
      claimProofFreshness(freshness, { replayCache: jtis, ...(subject !== undefined ? { owner: subject } : {}) });
      if (!iatMarked) {
        storage.put(IAT_MARKER_KEY, new Uint8Array([1]));
        iatMarked = true;
      }
      return;
    }
    claimProofFreshness(freshness, { nonces: proofNonces });
  }
  const revocation: RevocationState = createRevocationState(audience, trust.resolve, storage, provider, exi);
  /** Whether a held token is dead by a revocation list (listed, under its floor) or an exi floor. */
  const revokedOrBelowFloor = (e: StoredToken): boolean =>
    revocation.isRevoked(e.hash) ||
    (!e.reference && revocation.isIssuedBeforeFloor(e.issuedAt)) ||
    (e.exiSequence !== undefined && exi.isBelowFloor(e.exiSequence));
  const persistTokens = opts.persistTokens
    ? () => storage.put(TOKENS_STORAGE_KEY, encodeStoredTokens(tokens.values()))
    : () => undefined;
  const savedTokens = opts.persistTokens ? storage.get(TOKENS_STORAGE_KEY) : undefined;
  if (savedTokens) {
    // A crash between a revocation list's write and the store's leaves a revoked token here: not loaded.
    for (const entry of decodeStoredTokens(savedTokens, parseRestScope)) {
      if (entry.expiresAt <= clock() || revokedOrBelowFloor(entry)) continue;
      try {
        tokens.add(entry);
      } catch {
        // a smaller budget than before the reboot: the rest is posted again
      }
    }
  }
  const sessions = new Map<string, ProtectedSession>();

  const hints = (scope?: CborValue): RequestHints => ({
    ...(trust.asUrl ? { as: trust.asUrl } : {}),
    audience,
    ...(scope !== undefined ? { scope } : {}),
    // RFC 9200 §5.3.1: a clock-less device asks for a token built around its own nonce.
    // Shared by refusals (not minted per refusal), so unauthenticated junk flushes no nonce.
    cnonce: hintNonces.current(),
  });
  const refuse = (code: DeviceErrorCode, message: string, cause?: unknown): DeviceError =>
    new DeviceError(code, message, { hints: hints(), ...(cause !== undefined ? { cause } : {}) });

  // The token store is the acceptance core's cache: accepted tokens, charged against the budget.
  const costOf = (popKey: CoseKey, tokenBytes: number) => tokenBytes + keyBytes(popKey) + TOKEN_ENTRY_OVERHEAD;
  const tokenCache: AcceptedTokenCache = {
    get: (hashHex) => tokens.lookup(fromHex(hashHex)),
    reserve: (entry, bytes) => tokens.checkFits(costOf(entry.popKey, bytes), entry.expiresAt, entry.subject),
    add: (entry, bytes) => {
      tokens.add({ ...entry, cost: costOf(entry.popKey, bytes) });
      persistTokens(); // before the answer: an acknowledged token survives a power cut
    },
    delete: (hashHex) => {
      if (tokens.delete(fromHex(hashHex))) persistTokens();
    },
  };
  const acceptance: TokenAcceptance = createTokenAcceptance({
    audience,
    trust,
    clock,
    provider,
    scopeKind: 'aif-rest',
    parseScope: parseRestScope,
    leeway: profile.leeway,
    isRevoked: (hash) => revocation.isRevoked(hash),
    isIssuedBeforeFloor: (iat) => revocation.isIssuedBeforeFloor(iat),
    cache: tokenCache,
    exi,
    cnonces: hintNonces,
    hints,
  });

  const ingest = (token: Uint8Array): StoredToken => acceptance.accept(token) as StoredToken;
  const findToken = (hash: Uint8Array): StoredToken => acceptance.find(hash) as StoredToken;

  function authorize(entry: { scopeClaim: unknown; scope?: StoredToken['scope'] }, method: string, resource: string) {
    const scope = entry.scope ?? parseRestScope(entry.scopeClaim as CborValue);
    if (!restScopeAllows(scope, { method: method as RestMethod, resource })) {
      throw new DeviceError(DEVICE_ERR.INSUFFICIENT_SCOPE, `scope does not allow ${method.slice(0, 8)} on this resource`, {
        hints: hints(),
      });
    }
  }

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

  function serve(method: string, resource: string, payload: Uint8Array, subject: string | undefined): DeviceResponseBody {
    return handler({ method, resource, payload, subject });
  }

  return {
    audience,
    authzInfo(request) {
      const entry = ingest(request.token);
      const result: AuthzInfoResult = { tokenHash: entry.hash, expiresAt: entry.expiresAt };
      if (request.nonce1) result.session = openSession(entry, request.nonce1);
      return result;
    },
    issueNonce: () => nonces.issue(),
    handlePopRequest(request) {
      const entry = request.token ? ingest(request.token) : findToken(request.tokenHash!);
      const { freshness } = verifyPopProof(
        request.proof,
        entry.popKey,
        { purpose: PURPOSE_REQUEST, audience, tokenHash: entry.hash, method: request.method, resource: request.resource, payload: request.payload },
        { clock, iatWindow: profile.iatWindow },
        { provider },
      );
      claimFreshness(freshness, entry.subject);
      authorize(entry, request.method, request.resource);
      return serve(request.method, request.resource, request.payload, entry.subject);
    },
    handleSessionMessage(message) {
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
        return response;
      }
      let request;
      try {
        request = decodeRequestBody(opened.plaintext);
        authorize({ scopeClaim: binding.scopeClaim }, request.method, request.resource);
      } catch (cause) {
        if (cause instanceof DeviceError) return answer({ code: cause.code === DEVICE_ERR.INSUFFICIENT_SCOPE ? 403 : 400, error: cause.code, hints: hints(binding.scopeClaim) });
        throw cause;
      }
      return answer(serve(request.method, request.resource, request.payload, binding.subject));
    },
    applyRevocationList(signedList) {
      const { added, exiFloor } = revocation.apply(signedList);
      for (const hash of added) tokens.delete(hash);
      // A revoked clock-less token leaves the service's list once the floor covers it (finding 2):
      // from then on the floor, kept in storage by the exi tracker, is what refuses it (its
      // sessions too: they carry its exi sequence, see bindingRefusal).
      if (exiFloor !== undefined) tokens.dropWhere((e) => e.exiSequence !== undefined && exi.isBelowFloor(e.exiSequence));
      // An overflowing list gave up its oldest revocations whole: so do the tokens held.
      tokens.dropWhere((e) => !e.reference && revocation.isIssuedBeforeFloor(e.issuedAt));
      persistTokens();
      sweepSessions();
      return added.length;
    },
    hints,
    get stats() {
      return { tokens: tokens.size, tokenBytes: tokens.used, sessions: sessions.size, revoked: revocation.size, exiFloor: exi.floor() };
    },
  };
}
