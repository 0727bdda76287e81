/**
 * The resource-server role of a device (the test tube of DESIGN.md's disconnected flow): takes
 * tokens on authz-info and verifies them offline with its provisioned anchors, keeps them in a
 * bounded store, demands proof of possession on every request (a PoP proof, or an OSCORE
 * context set up by RFC 9203 /authz-info), authorizes against the scope, applies revocation lists, and
 * answers every refusal with a typed code and AS Request Creation Hints (RFC 9200 §5.3).
 * Transport-neutral: every method takes and returns bytes or plain objects.
 * The core: OSCORE comes in through `oscore` (oscore-role.ts) and the crypto provider is
 * required, so that a verify-only build (verify-only.ts) pulls in neither.
 * resource-server.ts is the full device's entry with both defaults.
 */
import {
  fromHex,
  parseRestScope,
  restScopeAllows,
  toHex,
  type CborValue,
  type Clock,
  type CoseKey,
  type CryptoProvider,
  type OscoreInputMaterial,
  type RestMethod,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
import type { RequestHints } from './request-hints.js';
import type { DeviceStorage } from './storage.js';
import type { TrustStore } from './trust-store.js';
import { NOOP_LOGGER, hashPrefix, logText, type Logger } from './logger.js';
import { DEFAULT_DEVICE_PROFILE, type DeviceProfile } from './device-profile.js';
import { createTokenStore, TOKEN_ENTRY_OVERHEAD, type StoredToken, type TokenStore } from './token-store.js';
import { createExiTracker, type ExiTracker } from './exi-tracker.js';
import { createHintNonces, createNonceIssuer, type HintNonces, type NonceIssuer } from './nonce-issuer.js';
import { createReplayCache, type ReplayCache } from './replay-cache.js';
import { claimProofFreshness, verifyPopProof, type ProofFreshness } from './pop-proof.js';
import { createByValueAcceptance, type AcceptedTokenCache, type ByValueTokenAcceptance } from './token-acceptance.js';
import { createRevocationState, type RevocationState } from './revocation-state.js';
import { decodeStoredTokens, TOKENS_STORAGE_KEY } from './token-persistence.js';
import type { AuthzInfoRequest, DeviceResponseBody, PopRequest } from './device-messages.js';
import type { AuthzInfoAnswer } from './authz-info.js';
import type { OscoreContextTable } from './oscore-contexts.js';
import type { CoapMessage } from '../cose/index.js';
import type { DeviceOscoreContext } from './oscore-endpoint.js';
import type { OscoreRole, OscoreRoleFactory } from './oscore-role.js';

export const PURPOSE_REQUEST = 'request';

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
   * Told of every token accepted or refused, request served or refused and revocation list
   * applied (logger.ts; default: no-op). Never given a token, a proof or a key.
   */
  logger?: Logger;
  /**
   * Keep accepted tokens in `storage` (token-persistence.ts), so that a reboot loses none: one
   * storage write per new token or change of the store. Off by default: a simulated device's
   * flash budget does not pay for it, and a device that keeps nothing has nothing to write.
   */
  persistTokens?: boolean;
}

/** The core's options: a provider always (no default drags every curve in), sessions optional. */
export interface ResourceServerCoreOptions extends ResourceServerOptions {
  provider: CryptoProvider;
  /**
   * The ACE-OSCORE profile (RFC 9203): derives an OSCORE security context (cose/'s RFC 8613 §3.2
   * derivation). Without it a coap_oscore token posted to /authz-info is bad_request.
   */
  oscore?: OscoreRoleFactory;
}

export interface AuthzInfoResult {
  tokenHash: Uint8Array;
  expiresAt: number;
}

export interface ResourceServer {
  readonly audience: string;
  /** RFC 9200 §5.10.1: verify and store a token (an OSCORE context is asked for by authzInfoExchange). */
  authzInfo(request: AuthzInfoRequest): AuthzInfoResult;
  /** A nonce for the next PoP proof (or for the cnonce hint). */
  issueNonce(): Uint8Array;
  /**
   * RFC 9203 §4.1–4.3: POST /authz-info as a CoAP exchange (payload and Content-Format in, code,
   * Content-Format and payload out; device/authz-info.ts). Never throws.
   */
  authzInfoExchange(payload: Uint8Array, contentFormat?: number): AuthzInfoAnswer;
  /** The OSCORE contexts made by authz-info exchanges, by the device's Recipient ID. */
  readonly oscoreContexts: OscoreContextTable<DeviceOscoreContext>;
  /**
   * One CoAP message (RFC 7252 §3) in, one out: POST /authz-info unprotected, everything else
   * under OSCORE (RFC 8613 §8.2, RFC 9203 §4.4; device/oscore-endpoint.ts). Never throws.
   */
  handleCoap(message: CoapMessage): CoapMessage;
  /** The same on encoded messages: the payload of `ace/<device>/req` on the broker relay. */
  serveCoap(bytes: Uint8Array): Uint8Array;
  /** Serves one request proven with a PoP proof (asymmetric or symmetric cnf, no session). */
  handlePopRequest(request: PopRequest): DeviceResponseBody;
  /** Applies a signed token revocation list; returns how many tokens it newly revoked. */
  applyRevocationList(signedList: Uint8Array): number;
  /** The hints to send with a refusal. */
  hints(scope?: CborValue): RequestHints;
  readonly stats: { tokens: number; tokenBytes: number; sessions: number; revoked: number; exiFloor: number };
}

function keyBytes(key: CoseKey): number {
  return (key.x?.length ?? 0) + (key.y?.length ?? 0) + (key.k?.length ?? 0) + (key.kid?.length ?? 0);
}

export function createResourceServerCore(opts: ResourceServerCoreOptions): ResourceServer {
  const { trust, storage, clock, handler } = opts;
  const { provider } = opts;
  const log = opts.logger ?? NOOP_LOGGER;
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
    ? () => storage.put(TOKENS_STORAGE_KEY, tokens.encoded())
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
  const acceptance: ByValueTokenAcceptance = createByValueAcceptance({
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

  /**
   * A held token whose signing key a trust-anchor update took out of the set is dead: the
   * service keeps a key in the set while its tokens live, so one that left it was retired early
   * (a leak). Checked at every use, so the trust store may change under a running device.
   */
  function stillTrusted(entry: StoredToken): StoredToken {
    if (entry.signerKid === undefined) return entry;
    const kid = toHex(entry.signerKid);
    if (trust.anchors.some((a) => a.kty !== 'Symmetric' && a.kid !== undefined && toHex(a.kid) === kid)) return entry;
    tokenCache.delete(entry.hashHex);
    throw refuse(DEVICE_ERR.UNKNOWN_KEY, 'the key that signed this token is no longer a trust anchor');
  }
  const ingest = (token: Uint8Array, bound?: OscoreInputMaterial): StoredToken => stillTrusted(acceptance.accept(token, bound) as StoredToken);
  const findToken = (hash: Uint8Array): StoredToken => stillTrusted(acceptance.find(hash) as StoredToken);

  function authorize(entry: { scopeClaim: unknown; scope?: StoredToken['scope'] }, method: string, resource: string) {
    const scope = entry.scope ?? parseRestScope(entry.scopeClaim as CborValue);
    if (!restScopeAllows(scope, { method: method as RestMethod, resource })) {
      throw new DeviceError(DEVICE_ERR.INSUFFICIENT_SCOPE, `scope does not allow ${method.slice(0, 8)} on this resource`, {
        hints: hints(),
      });
    }
  }

  function serve(method: string, resource: string, payload: Uint8Array, subject: string | undefined): DeviceResponseBody {
    return handler({ method, resource, payload, subject });
  }

  const oscore: OscoreRole | undefined = opts.oscore?.({ audience, provider, profile, log, ingest, findToken, forgetToken: (hash) => tokenCache.delete(toHex(hash)), hints, authorize, serve });
  const noOscore = (): never => {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'this device build has no OSCORE');
  };

  /** A refusal's log line: its registry code, never its cause's bytes. */
  function logRefusal(event: string, error: unknown, fields: Record<string, string | undefined>): void {
    const code = error instanceof DeviceError ? error.code : 'internal';
    log.warn({ event, audience, code, ...fields }, `device: ${event.replaceAll('_', ' ')}: ${code}`);
  }

  function authzInfo(request: AuthzInfoRequest): AuthzInfoResult {
    const entry = ingest(request.token);
    return { tokenHash: entry.hash, expiresAt: entry.expiresAt };
  }

  function handlePopRequest(request: PopRequest): { body: DeviceResponseBody; entry: StoredToken } {
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
    return { body: serve(request.method, request.resource, request.payload, entry.subject), entry };
  }

  function applyRevocationList(signedList: Uint8Array): number {
    const { added, exiFloor } = revocation.apply(signedList);
    for (const hash of added) tokens.delete(hash);
    // A revoked clock-less token leaves the service's list once the floor covers it (finding 2):
    // from then on the floor, kept in storage by the exi tracker, is what refuses it (its OSCORE
    // contexts die with the token: the sweep below).
    if (exiFloor !== undefined) tokens.dropWhere((e) => e.exiSequence !== undefined && exi.isBelowFloor(e.exiSequence));
    // An overflowing list gave up its oldest revocations whole: so do the tokens held.
    tokens.dropWhere((e) => !e.reference && revocation.isIssuedBeforeFloor(e.issuedAt));
    persistTokens();
    oscore?.contexts.sweep();
    return added.length;
  }

  return {
    audience,
    authzInfo(request) {
      try {
        const result = authzInfo(request);
        log.info({ event: 'token_accepted', audience, tokenHash: hashPrefix(toHex(result.tokenHash)) }, 'device: token accepted');
        return result;
      } catch (error) {
        logRefusal('token_refused', error, {});
        throw error;
      }
    },
    // A verify-only build has no CoAP or OSCORE: each of these refuses (bad_request).
    authzInfoExchange: oscore?.authzInfoExchange ?? noOscore,
    get oscoreContexts() {
      return oscore?.contexts ?? noOscore();
    },
    handleCoap: oscore?.handleCoap ?? noOscore,
    serveCoap: oscore?.serveCoap ?? noOscore,
    issueNonce: () => nonces.issue(),
    handlePopRequest(request) {
      try {
        const { body, entry } = handlePopRequest(request);
        log.info({ event: 'request_served', audience, subject: logText(entry.subject), tokenHash: hashPrefix(toHex(entry.hash)), method: logText(request.method), resource: logText(request.resource) }, 'device: request served');
        return body;
      } catch (error) {
        logRefusal('request_refused', error, { method: logText(request.method), resource: logText(request.resource) });
        throw error;
      }
    },
    applyRevocationList(signedList) {
      try {
        const added = applyRevocationList(signedList);
        log.info({ event: 'revocation_list_applied', audience, revoked: added }, 'device: revocation list applied');
        return added;
      } catch (error) {
        // The retained list comes again at every wake: one not newer is no news (as trust_ignored).
        if (error instanceof DeviceError && error.code === DEVICE_ERR.REPLAY) log.info({ event: 'revocation_list_ignored', audience }, 'device: revocation list ignored');
        else logRefusal('revocation_list_refused', error, {});
        throw error;
      }
    },
    hints,
    get stats() {
      return { tokens: tokens.size, tokenBytes: tokens.used, sessions: oscore?.contexts.size ?? 0, revoked: revocation.size, exiFloor: exi.floor() };
    },
  };
}
