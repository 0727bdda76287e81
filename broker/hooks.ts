/**
 * The broker's policy as aedes hooks (docs/Aedes.md order: preConnect → authenticate →
 * authorizeSubscribe / authorizePublish → authorizeForward). Each hook is documented here the
 * way aedes documents its own: what it is given, what it decides, what a failure does.
 *
 * - preConnect(client, packet): keeps the CONNECT's Will to check against the scope; never refuses.
 *   (Before it, server.ts has capped the CONNECT's size: packet-limits.ts.)
 * - authenticate(client, username, password): admission.ts (token + proof). Refusal: CONNACK 4
 *   (malformed or unverifiable credentials, replayed proof) or 5 (valid but not authorized:
 *   expired, revoked, wrong audience, Will topic outside scope, client id held by another key).
 *   The Will obeys the rules of a PUBLISH: its topic must be in scope, and when the token asks for
 *   per-message PoP its payload must be signed for this connection (message-pop.ts; refusal:
 *   CONNACK 4, `bad_proof`); its seq then floors the connection's later messages.
 *   One log line with the client id and the reason code; never the token or a key.
 * - authorizePublish(client, packet): topic-rules.ts. A PUBLISH outside scope is DROPPED, not
 *   fatal: RFC 9431 §4.2 lets the broker drop it or disconnect, and MQTT 3.1.1 §3.3.5 lets it
 *   acknowledge and discard; aedes closes a 3.1.1 connection on any hook error, which would let
 *   one stray publish end a device's session. We acknowledge (QoS 1/2 as usual) and route the
 *   packet to DROPPED_TOPIC, a $ topic no client may subscribe to and forward never delivers.
 *   `ace/authz-info` is a token refresh, taken here and never routed. An expired or revoked
 *   client is disconnected. Payloads on `ace/` relay topics are at most MAX_RELAY_PAYLOAD_BYTES,
 *   and QoS 1/2 bytes (what waits in a sleeping device's session) come out of byte budgets per
 *   device and per client, its token's subject else its key (byte-budget.ts); past one, the PUBLISH is dropped.
 *   A revocation list (`ace/trl/<aud>`) is first compared with the one retained in the shared
 *   store (another broker, an earlier run) and dropped unless newer.
 *   The Will, published by aedes at an unclean close: sent after expiry but not retained (a
 *   retained message lives no longer than its token, RFC 9431 §6); retained before expiry with
 *   the token's expiry; never sent for a revoked token. A Will with no client (of a broker that
 *   died) is sent but never retained, and not sent if the token whose hash it carries is revoked.
 * - authorizeSubscribe(client, sub): SUBACK 0x80 for a filter outside scope (RFC 9431 §4.3).
 * - clientDisconnect (disconnected): a clean session frees its client id; a persistent one rests
 *   until its token's expiry plus sessionGraceS, then is dropped from the store and its id freed
 *   (resting-sessions.ts), unless its id came back meanwhile.
 * - authorizeForward(client, packet): synchronous. Stops delivery to a client whose token has
 *   expired or been revoked (and disconnects it), whose scope no longer covers the topic (after a
 *   refresh narrowed it), or of a retained message that outlived its publisher's token or whose
 *   publisher's token was revoked (revocation also clears those retained messages at once).
 */
import { toHex, type Clock, type CryptoProvider } from '../cose/index.js';
import { hashPrefix, logText, type Logger } from '../device/index.js';
import type { BrokerMetrics, PublishRefusalReason } from './broker-metrics.js';
import { brokerLogger, type BrokerLog } from './broker-logger.js';
import type { Admit, AdmittedToken } from './admission.js';
import { PURPOSE_REFRESH } from './admission.js';
import { createByteBudgets, DEFAULT_CLIENT_QUEUE_RATE, DEFAULT_DEVICE_QUEUE_RATE, shareOf, type ByteBudgets } from './byte-budget.js';
import { memoryClientIdOwners, PERSISTENT_SESSION_GRACE_S, type ClientIdOwners } from './client-id-owners.js';
import { BrokerError, BROKER_ERR } from './errors.js';
import { verifyMessagePop } from './message-pop.js';
import { createTokenBucket, type RateLimit, type TokenBucket } from './rate-limiter.js';
import { startRestingSweeps, type RestingSessionLedger } from './resting-session-ledger.js';
import { createRestingSessions, MAX_RESTING_SESSIONS } from './resting-sessions.js';
import { MAX_RETAINED_TOPIC_BYTES, MAX_RETAINED_TOPIC_LEVELS, type RetainedExpiry } from './retained-expiry.js';
import type { RevocationLists } from './revocation-lists.js';
import type { TrustUpdateRelay } from './trust-update-relay.js';
import type { TokenVerifier, VerifiedToken } from './token-verifier.js';
import { mayReceive, maySubscribe, publishRoute, type Identity, type PublishRoute } from './topic-rules.js';
// setTimeout takes at most MAX_TIMER_MS; longer waits are re-armed.
import { MAX_TIMER_MS } from './timer-delay.js';

/** Where refused publishes go: `$` topics never match wildcards (MQTT 3.1.1 §4.7.2) and are never granted. */
export const DROPPED_TOPIC = '$keybound/dropped';
/** Per-client memo of forward and publish decisions: bounded, cleared on refresh (measured: bench/broker.ts). */
const MEMO_ENTRIES = 256;
/**
 * Distinct filters one connection may be granted. Each is kept in aedes' topic tree (and, for a
 * persistent session, in its store): without a bound one admitted client grew the broker's memory
 * by ~100 MB a minute with in-scope filters (adversarial review, stop 34).
 */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 1000;
/**
 * A payload on an `ace/` relay topic (a token envelope, a request, a response): a token is at most
 * 4 KiB (MAX_TOKEN_BYTES) and device messages are smaller; a signed message adds ~100 bytes.
 */
export const MAX_RELAY_PAYLOAD_BYTES = 8 * 1024;
/** `ace/<device>/authz-info|req`: the device a relay publish waits for (its answers are not charged to it). */
const RELAY_DEVICE = /^ace\/([^/]+)\/(?:authz-info|req)$/;

/** The parts of an aedes Client the hooks touch. */
export interface HookClient {
  readonly id: string;
  /** MQTT 3.1.1 §3.1.2.4: false keeps the session (subscriptions, queued messages) after the connection. */
  readonly clean?: boolean;
  close(cb?: () => void): void;
  /** aedes' connection stream: a socket (TCP) or a WebSocket stream; where the client is, for the log. */
  readonly conn?: { remoteAddress?: string };
  readonly req?: { socket?: { remoteAddress?: string } };
}

/** The peer's address of an aedes client (TCP socket, or the WebSocket upgrade request). */
function remoteOf(client: HookClient): string | undefined {
  return client.conn?.remoteAddress ?? client.req?.socket?.remoteAddress;
}

export interface HookPacket {
  topic: string;
  payload: Buffer | Uint8Array | string;
  retain?: boolean;
  qos?: number;
  /**
   * On a Will: the hash (hex) of the token it was accepted under. aedes stores the Will with
   * every own property (shared persistence), so a peer that publishes it after this broker died
   * can still refuse it for a revoked token.
   */
  keyboundToken?: string;
}

interface Session {
  client: HookClient;
  token: VerifiedToken;
  identity: Identity;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** keyId(token): the PoP key this session is bound to (a refresh must keep it). */
  popKeyId: string;
  /**
   * Whose queue budgets this session spends: the token's signed subject (its hash) when it has
   * one, else its key. A client picks its PoP keys, and the service binds a token to each: by key
   * alone, four keys of one client filled a device's whole budget (review, stop 35).
   */
  budgetHolder: string;
  /** Per-message PoP: the CONNECT proof's jti that signed messages must name, and the last seq accepted on it. */
  connection: Uint8Array;
  /** A persistent session (clean=false): its client id stays held by its key after the connection. */
  persistent: boolean;
  lastSeq: number;
  bucket: TokenBucket;
  forward: Map<string, boolean>;
  /** Per-client memo of publish routes by topic (scoped/denied only): the hot path is one lookup. */
  routes: Map<string, PublishRoute>;
  /**
   * The filters granted on this connection and, for a persistent session, those it held in the
   * store at CONNECT (at most MAX_SUBSCRIPTIONS_PER_CONNECTION together), and those refused past it.
   */
  subscribed: Set<string>;
  overSubscribed: number;
  will: HookPacket | undefined;
  closing: boolean;
  /** Disconnected because its token was revoked: its Will is never sent. */
  revoked: boolean;
}

export interface HookDeps {
  audience: string;
  admit: Admit;
  verifier: TokenVerifier;
  revocation: RevocationLists;
  retained: RetainedExpiry;
  clock: Clock;
  provider: CryptoProvider;
  /** Structured, pino-shaped (device/logger.ts), or plain lines; never given a token, a proof or a key. */
  log: Logger | BrokerLog;
  /** Counters and the admission latency (broker-metrics.ts); none when absent. */
  metrics?: BrokerMetrics;
  /** Monotonic milliseconds, for the admission latency (default: performance.now). */
  now?: () => number;
  relayRate?: RateLimit;
  /**
   * QoS 1/2 bytes per device, per sender (client: subject, else key) toward one device (a share of
   * the device's), and per client (default: byte-budget.ts's defaults).
   */
  queueBudgets?: { device: ByteBudgets; sender: ByteBudgets; client: ByteBudgets };
  /** Clears a retained message from persistence (wired to aedes.publish). */
  clearRetained(topic: string): void;
  /** Reads the revocation list retained for `audience` in the shared store and accepts it if newer. */
  catchUpRevocationList?(audience: string): Promise<void>;
  /** Who holds each client id (default: in this process; on Redis: cluster-wide). */
  owners?: ClientIdOwners;
  /** How long a persistent session outlives its token at rest, seconds (default PERSISTENT_SESSION_GRACE_S). */
  sessionGraceS?: number;
  /**
   * The filters a persistent session holds in the store (what aedes restores at CONNECT,
   * whatever the new token's scope): they count toward MAX_SUBSCRIPTIONS_PER_CONNECTION.
   */
  storedFilters?(clientId: string): Promise<readonly string[]>;
  /** Drops a persistent session at rest from the store (its filters, its queued messages): its grace is over. */
  endSession?(clientId: string): Promise<void>;
  /**
   * Sessions at rest shared by every broker on the store and outliving this one (on Redis:
   * resting-session-ledger.ts). Without it, only this process's timers end them.
   */
  restingLedger?: RestingSessionLedger;
  /** Trust-anchor updates on ace/<device>/trust (without it, none is routed). */
  trustUpdates?: TrustUpdateRelay;
}

type AuthError = Error & { returnCode: number };

function bytesOf(payload: HookPacket['payload']): Uint8Array {
  if (typeof payload === 'string') return new TextEncoder().encode(payload);
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** A topic the retained table may hold: bounded in bytes, and shallow enough for its expiry sidecar. */
function retainable(topic: string): boolean {
  return new TextEncoder().encode(topic).length <= MAX_RETAINED_TOPIC_BYTES && topic.split('/').length <= MAX_RETAINED_TOPIC_LEVELS;
}

/** overBudget's answer as a metric reason. */
function overReason(why: string): PublishRefusalReason {
  return why.startsWith('relay payload') ? 'relay_size' : 'queue_budget';
}

function keyId(token: VerifiedToken): string {
  const k = token.popKey;
  return `${k.kty}:${toHex(k.x ?? new Uint8Array())}:${toHex(k.y ?? new Uint8Array())}:${toHex(k.k ?? new Uint8Array())}`;
}

/** Bounded text for a log line: client ids are attacker-chosen. */
/** A refusal's reason in a log line is cut here: it may quote a token anyone can send (test/review-broker-log-bloat.test.ts). */
const MAX_REASON_TEXT = 200;

function reasonText(message: string): string {
  return message.length > MAX_REASON_TEXT ? `${message.slice(0, MAX_REASON_TEXT)}...` : message;
}

function safe(text: string): string {
  return JSON.stringify(text.slice(0, 64));
}

export function createHooks(deps: HookDeps) {
  const { clock } = deps;
  const log = brokerLogger(deps.log);
  const now = deps.now ?? (() => performance.now());
  const sessions = new WeakMap<HookClient, Session>();
  const byClientId = new Map<string, Session>();
  const wills = new WeakMap<HookClient, HookPacket>();
  const owners = deps.owners ?? memoryClientIdOwners(clock);
  const sessionGraceS = deps.sessionGraceS ?? PERSISTENT_SESSION_GRACE_S;
  // With a shared ledger, this broker's timers only say when to look: the ledger decides who ends
  // a session (one broker, once), and one that restarted still ends what it watched before.
  const ledger = deps.restingLedger;
  const sweeps = ledger
    ? startRestingSweeps(ledger, clock, (entry) => endAtRest(entry.clientId, entry.connection), (e) =>
        log.error({ event: 'session_not_ended', error: e.message.slice(0, 80) }, `broker: sessions at rest not swept (${e.message.slice(0, 80)})`),
      )
    : undefined;
  /** Sessions at rest whose ledger entry could not be written (Redis failed then): this broker's timer ends them itself. */
  const unrecorded = new Set<string>();
  const resting = createRestingSessions(clock, (clientId, connection) => {
    if (sweeps && !unrecorded.delete(clientId)) sweeps.kick();
    else void endAtRest(clientId, connection);
  });

  /**
   * A persistent session's grace after its token's expiry is over (resting-sessions.ts): unless
   * its id came back (here, or at a peer: then the record is another connection's), the id is
   * freed and the session dropped, so a session at rest holds nothing for ever. False when it
   * could not be done (the store failed): the ledger offers it again.
   */
  async function endAtRest(clientId: string, connection: string): Promise<boolean> {
    try {
      if (byClientId.has(clientId) || !(await owners.release(clientId, connection))) return true;
      await deps.endSession?.(clientId);
      log.info({ event: 'session_ended', clientId: logText(clientId), reason: 'expired' }, `broker: persistent session ${safe(clientId)} ended at rest: its token expired ${sessionGraceS} s ago`);
      return true;
    } catch (e) {
      log.error({ event: 'session_not_ended', clientId: logText(clientId), error: (e as Error).message.slice(0, 80) }, `broker: persistent session ${safe(clientId)} not ended (${(e as Error).message.slice(0, 80)})`);
      return false;
    }
  }
  const budgets = deps.queueBudgets ?? {
    device: createByteBudgets(clock, DEFAULT_DEVICE_QUEUE_RATE),
    sender: createByteBudgets(clock, shareOf(DEFAULT_DEVICE_QUEUE_RATE)),
    client: createByteBudgets(clock, DEFAULT_CLIENT_QUEUE_RATE),
  };

  /** Relay payload size, then the QoS 1/2 byte budgets; a reason to drop, or undefined. */
  function overBudget(session: Session, packet: HookPacket): string | undefined {
    const relay = packet.topic.startsWith('ace/');
    if (!relay && !packet.qos && !packet.retain) return undefined; // the hot path: QoS 0 is never queued for an offline session
    const bytes = bytesOf(packet.payload).length;
    if (relay && bytes > MAX_RELAY_PAYLOAD_BYTES) return `relay payload over ${MAX_RELAY_PAYLOAD_BYTES} bytes`;
    if (!packet.qos) {
      // QoS 0 is never queued, but a retained message is stored (memory, Redis) whatever its QoS:
      // its bytes come out of the same client's budget (its subject's, else its key's); past it, it is delivered, not kept.
      if (packet.retain && !budgets.client.take(session.budgetHolder, bytes)) {
        packet.retain = false;
        log.warn({ event: 'retain_refused', clientId: logText(session.client.id), topic: logText(packet.topic), reason: 'queue_budget' }, `broker: not retained from ${safe(session.client.id)} on ${safe(packet.topic)}: queue budget of the client`);
      }
      return undefined;
    }
    const device = relay ? RELAY_DEVICE.exec(packet.topic)?.[1] : undefined;
    // One sender's share of the device first: a client (subject, else key) that spent its share is refused before it
    // takes anything else, and the device's remaining budget stays for its other senders.
    // The device name is topic text: JSON keeps the pair unambiguous whatever it holds.
    const pair = device !== undefined ? JSON.stringify([device, session.budgetHolder]) : undefined;
    if (pair !== undefined && !budgets.sender.has(pair, bytes)) return 'queue budget of the sender toward the device';
    if (device !== undefined && !budgets.device.has(device, bytes)) return 'queue budget of the device';
    if (!budgets.client.take(session.budgetHolder, bytes)) return 'queue budget of the client';
    if (device !== undefined && pair !== undefined) {
      budgets.sender.take(pair, bytes);
      budgets.device.take(device, bytes);
    }
    return undefined;
  }

  /** RFC 9431 §6 for the Will: never for a revoked token; retained only while the token lives. */
  function willAllowed(session: Session, packet: HookPacket): boolean {
    if (session.revoked || deps.revocation.isTokenRevoked(session.token)) {
      log.warn({ event: 'will_refused', clientId: logText(session.client.id), tokenHash: hashPrefix(session.token.hashHex), reason: 'revoked' }, `broker: Will of ${safe(session.client.id)} not sent: its token is revoked`);
      return false;
    }
    if (packet.retain) {
      const expired = session.token.expiresAt <= clock();
      if (expired || !retainable(packet.topic) || !deps.retained.set(packet.topic, session.token.expiresAt, undefined, session.token.hashHex)) {
        packet.retain = false;
        log.warn({ event: 'retain_refused', clientId: logText(session.client.id), topic: logText(packet.topic), reason: expired ? 'expired' : 'retained_budget' }, `broker: Will of ${safe(session.client.id)} sent but not retained: ${expired ? 'its token has expired' : 'over a retained-message budget'}`);
      }
    }
    return true;
  }

  function live(session: Session): boolean {
    return !session.closing && session.token.expiresAt > clock() && !deps.revocation.isTokenRevoked(session.token);
  }

  function disconnect(session: Session, reason: 'expired' | 'revoked' | 'expired or revoked'): void {
    if (reason !== 'expired' && deps.revocation.isTokenRevoked(session.token)) session.revoked = true;
    if (session.closing) return;
    session.closing = true;
    if (session.timer) clearTimeout(session.timer);
    log.info({ event: 'disconnect', clientId: logText(session.client.id), tokenHash: hashPrefix(session.token.hashHex), reason }, `broker: disconnect ${safe(session.client.id)}: ${reason}`);
    // Not on this stack: aedes may be in the middle of a hook for this client.
    setImmediate(() => session.client.close());
  }

  function arm(session: Session): void {
    if (session.timer) clearTimeout(session.timer);
    const ms = Math.max(0, (session.token.expiresAt - clock()) * 1000);
    session.timer = setTimeout(() => {
      if (session.token.expiresAt <= clock()) disconnect(session, 'expired');
      else arm(session);
    }, Math.min(ms, MAX_TIMER_MS));
    session.timer.unref?.();
  }

  /** Whose queue budgets a token spends: its signed subject (hashed once, by admission), else its key. */
  function budgetHolderOf(token: AdmittedToken): string {
    return token.subjectName ?? `k:${token.keyThumbprint}`;
  }

  function identityOf(clientId: string, token: VerifiedToken): Identity {
    return { scope: token.scope, clientId, subject: token.subject };
  }

  function refuse(client: HookClient, error: BrokerError | Error, started: number): AuthError {
    const clientId = client.id;
    const remote = remoteOf(client);
    const code = error instanceof BrokerError ? error.code : 'error';
    deps.metrics?.connectRefused(code);
    deps.metrics?.admissionSeconds((now() - started) / 1000);
    const returnCode = error instanceof BrokerError ? error.returnCode : 5;
    log.warn({ event: 'connect_refused', clientId: logText(clientId), audience: deps.audience, code, remoteAddress: remote }, `broker: refused CONNECT ${safe(clientId)}: ${code}${error instanceof BrokerError ? ` (${reasonText(error.message)})` : ''}`);
    return Object.assign(new Error(`refused: ${code}`), { returnCode });
  }

  /**
   * Holds `clientId` for the token's key until its expiry, and a persistent session's for the
   * grace after it (client-id-owners.ts); false when a session under another key holds it. A
   * revoked holder holds nothing; a token of the holder's subject takes it (a rotated key); a
   * token whose subject is the client id takes it from a holder whose subject is not.
   */
  async function takeClientId(clientId: string, token: AdmittedToken, connection: Uint8Array, persistent: boolean): Promise<boolean> {
    const owner = {
      key: token.keyThumbprint,
      token: token.hashHex,
      connection: toHex(connection),
      until: token.expiresAt + (persistent ? sessionGraceS : 0),
      named: token.subject === clientId,
      ...(token.subject !== undefined ? { subject: token.subject } : {}),
    };
    let holder = await owners.claim(clientId, owner);
    if (holder !== undefined && deps.revocation.isRevoked(holder)) holder = await owners.claim(clientId, owner, holder);
    return holder === undefined;
  }

  async function refresh(session: Session, payload: Uint8Array): Promise<void> {
    try {
      const token = await deps.admit(session.client.id, undefined, payload, PURPOSE_REFRESH);
      const identity = identityOf(session.client.id, token);
      // The session stays bound to its key: a token for another key is a new CONNECT (with the
      // client-id takeover check and its own message-PoP counter), not a refresh.
      if (keyId(token) !== session.popKeyId) {
        log.warn({ event: 'refresh_refused', clientId: logText(session.client.id), code: 'not_authorized' }, `broker: refresh refused for ${safe(session.client.id)}: the new token is bound to another key`);
        return;
      }
      if (session.will && publishRoute(identity, session.will.topic).kind !== 'scoped') {
        log.warn({ event: 'refresh_refused', clientId: logText(session.client.id), code: 'not_authorized' }, `broker: refresh refused for ${safe(session.client.id)}: the Will topic is outside the new scope`);
        return;
      }
      // A token that now asks for per-message PoP holds the Will to it too (checked at CONNECT
      // only when the first token asked).
      if (session.will && token.messagePop && !session.token.messagePop) {
        try {
          verifyMessagePop(bytesOf(session.will.payload), token.popKey, session.will.topic, -1, { provider: deps.provider, connection: session.connection });
        } catch {
          log.warn({ event: 'refresh_refused', clientId: logText(session.client.id), code: 'bad_proof' }, `broker: refresh refused for ${safe(session.client.id)}: the new token requires a signed Will`);
          return;
        }
      }
      // The client id stays held until the new token's expiry (and its grace, for a persistent session).
      if (!(await takeClientId(session.client.id, token, session.connection, session.persistent))) {
        log.warn({ event: 'refresh_refused', clientId: logText(session.client.id), code: 'not_authorized' }, `broker: refresh refused for ${safe(session.client.id)}: the client id is held by another key`);
        return;
      }
      session.token = token;
      // The budgets are the holder's of the token the session now holds (its subject may differ:
      // one key may be bound to tokens of two subjects), not the first token's (review 36b).
      session.budgetHolder = budgetHolderOf(token);
      session.identity = identity;
      session.forward.clear();
      session.routes.clear();
      arm(session);
      log.info({ event: 'token_refreshed', clientId: logText(session.client.id), audience: deps.audience, subject: logText(token.subject), keyThumbprint: hashPrefix(token.keyThumbprint), tokenHash: hashPrefix(token.hashHex) }, `broker: token refreshed for ${safe(session.client.id)}`);
    } catch (error) {
      log.warn({ event: 'refresh_refused', clientId: logText(session.client.id), code: (error as BrokerError).code ?? 'error' }, `broker: refresh refused for ${safe(session.client.id)}: ${(error as BrokerError).code ?? 'error'}`);
    }
  }

  /** Drops a PUBLISH; a refusal has a reason (counted), a token refresh is taken, not refused. */
  function drop(packet: HookPacket, session: Session, why: string, reason: PublishRefusalReason | 'refresh'): void {
    if (reason === 'refresh') log.info({ event: 'refresh_received', clientId: logText(session.client.id) }, `broker: token refresh from ${safe(session.client.id)}`);
    else {
      deps.metrics?.publishRefused(reason);
    log.warn({ event: 'publish_refused', clientId: logText(session.client.id), topic: logText(packet.topic), reason }, `broker: dropped PUBLISH from ${safe(session.client.id)} on ${safe(packet.topic)}: ${why}`);
    }
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    // aedes still routes the packet (and, at QoS 2, stores it until PUBREL, MQTT 3.1.1 §4.3.3):
    // without its payload, a drop stores and carries across the cluster no bytes past a budget.
    packet.payload = Buffer.alloc(0);
  }

  return {
    sessions: byClientId,

    /** Has this connection been admitted (CONNACK 0 given)? Its packets may then be larger. */
    isAdmitted: (client: HookClient): boolean => sessions.has(client),

    preConnect(client: HookClient, packet: { will?: HookPacket }, cb: (err: Error | null, ok: boolean) => void): void {
      if (packet.will) wills.set(client, packet.will);
      cb(null, true);
    },

    authenticate(client: HookClient, username: string | undefined, password: Uint8Array | undefined, done: (err: AuthError | null, ok: boolean | null) => void): void {
      const started = now();
      deps.admit(client.id, username, password).then(
        (token) => {
          const identity = identityOf(client.id, token);
          const will = wills.get(client);
          // RFC 9431 §4.1: the Will topic must be within the token's publish scope at CONNECT.
          if (will && publishRoute(identity, will.topic).kind !== 'scoped') {
            return done(refuse(client, new BrokerError('not_authorized', 'the Will topic is outside the token scope'), started), null);
          }
          // A Will is a PUBLISH the broker sends later: with per-message PoP it must be signed by
          // the cnf key for its topic and this connection, like every other message.
          let lastSeq = -1;
          if (will && token.messagePop) {
            try {
              lastSeq = verifyMessagePop(bytesOf(will.payload), token.popKey, will.topic, -1, { provider: deps.provider, connection: token.proofJti }).seq;
            } catch (error) {
              return done(refuse(client, error instanceof BrokerError ? new BrokerError(BROKER_ERR.BAD_PROOF, `the Will: ${error.message}`) : (error as Error), started), null);
            }
          }
          // A client id held by a session under another key (connected here or at a peer, or a
          // persistent session at rest) is not taken over: the proof binds the id, but anyone
          // admitted can sign any id, and a takeover would cut a device off or drain its queue.
          // A persistent session's stored filters count toward its bound: aedes restores them all
          // (MQTT 3.1.1 §3.1.2.4) and keeps them whether or not the new token's scope covers them,
          // so without counting them reconnects with fresh proofs and other scopes gathered
          // thousands (adversarial review).
          const persistent = client.clean === false;
          const claimed = takeClientId(client.id, token, token.proofJti, persistent).then(async (taken) => ({
            taken,
            stored: taken && persistent && deps.storedFilters ? await deps.storedFilters(client.id) : [],
          }));
          return claimed.then(
            ({ taken, stored }) => {
              if (!taken) return done(refuse(client, new BrokerError('not_authorized', 'client id held by a session under another key'), started), null);
              const session: Session = {
                client,
                token,
                identity,
                timer: undefined,
                popKeyId: keyId(token),
                budgetHolder: budgetHolderOf(token),
                connection: token.proofJti,
                persistent,
                lastSeq,
                bucket: createTokenBucket(clock, deps.relayRate),
                forward: new Map(),
                routes: new Map(),
                subscribed: new Set(stored),
                overSubscribed: 0,
                will,
                closing: false,
                revoked: false,
              };
              if (will) will.keyboundToken = token.hashHex; // stored with the Will (aedes storeWill runs next)
              sessions.set(client, session);
              byClientId.set(client.id, session);
              resting.wake(client.id);
              arm(session);
              deps.metrics?.connectAdmitted();
              deps.metrics?.admissionSeconds((now() - started) / 1000);
              log.info(
                {
                  event: 'connect_admitted',
                  clientId: logText(client.id),
                  audience: deps.audience,
                  subject: logText(token.subject),
                  keyThumbprint: hashPrefix(token.keyThumbprint),
                  tokenHash: hashPrefix(token.hashHex),
                  proofJti: hashPrefix(toHex(token.proofJti)),
                  expiresAt: Number.isFinite(token.expiresAt) ? Math.floor(token.expiresAt) : undefined,
                  remoteAddress: remoteOf(client),
                },
                `broker: admitted CONNECT ${safe(client.id)}`,
              );
              done(null, true);
            },
            // Only a shared (Redis) client-id or session store can fail here: fail closed, and say why.
            (error: Error) => done(refuse(client, error instanceof BrokerError ? error : new BrokerError(BROKER_ERR.REDIS_UNAVAILABLE, 'the shared client-id or session store cannot be reached: try again shortly', { cause: error }), started), null),
          );
        },
        (error: Error) => done(refuse(client, error, started), null),
      );
    },

    authorizePublish(client: HookClient | null, packet: HookPacket, cb: (err?: Error | null) => void): void {
      // aedes publishes the Will of a client of a dead broker with no client: it was checked at
      // CONNECT there, but its token's expiry is unknown here, so it is not kept; its token's hash
      // travelled with it, so revocation is known.
      if (!client) {
        packet.retain = false;
        if (typeof packet.keyboundToken === 'string' && deps.revocation.isRevoked(packet.keyboundToken)) {
          // Not an error: aedes would stop its Will sweep at the first refusal and retry it forever.
          log.warn({ event: 'will_refused', topic: logText(packet.topic), tokenHash: hashPrefix(packet.keyboundToken), reason: 'revoked' }, `broker: Will on ${safe(packet.topic)} of a client of a gone broker not sent: its token is revoked`);
          packet.topic = DROPPED_TOPIC;
          packet.payload = Buffer.alloc(0);
        }
        return cb(null);
      }
      const session = sessions.get(client);
      if (!session) return cb(new Error('no session'));
      // RFC 9431 §6: the Will is sent even after the token expired (it was authorized at CONNECT),
      // but not for a revoked token, and not retained past the token's life.
      if (packet === session.will) return cb(willAllowed(session, packet) ? null : new Error('Will of a revoked token'));
      if (!live(session)) {
        disconnect(session, deps.revocation.isTokenRevoked(session.token) ? 'revoked' : 'expired');
        return cb(new Error('token no longer valid'));
      }
      let route = session.routes.get(packet.topic);
      if (route === undefined) {
        route = publishRoute(session.identity, packet.topic);
        if (route.kind === 'scoped' || route.kind === 'denied') {
          if (session.routes.size >= MEMO_ENTRIES) session.routes.clear();
          session.routes.set(packet.topic, route);
        }
      }
      switch (route.kind) {
        case 'denied':
          drop(packet, session, route.reason, 'outside_scope');
          return cb(null);
        case 'refresh': {
          // Drawn from the same allowance as the relay topics, before any signature is checked:
          // a flood of refreshes costs the broker its checks (and a log line) each.
          if (!session.bucket.take()) {
            drop(packet, session, 'token refresh rate limit', 'rate_limit');
            return cb(null);
          }
          const payload = bytesOf(packet.payload);
          drop(packet, session, 'token refresh (taken by the broker)', 'refresh');
          void refresh(session, payload);
          return cb(null);
        }
        case 'authz-info': {
          // Tokens wait for a sleeping device in its persistent session (QoS 1), never as retained
          // messages: those would outlive every token and grow without bound under any device name.
          packet.retain = false;
          if (!session.bucket.take()) drop(packet, session, 'authz-info rate limit', 'rate_limit');
          else {
            const over = overBudget(session, packet);
            if (over) drop(packet, session, over, overReason(over));
          }
          return cb(null);
        }
        case 'trl': {
          if (!session.bucket.take()) {
            drop(packet, session, 'revocation list rate limit', 'rate_limit');
            return cb(null);
          }
          const audience = route.audience;
          // The shared store may hold a newer list than this broker has heard of (published at a
          // peer a moment ago, or before this broker started): an older one never replaces it.
          void (deps.catchUpRevocationList?.(audience) ?? Promise.resolve())
            .catch(() => undefined)
            .then(() => {
              try {
                const added = deps.revocation.accept(audience, bytesOf(packet.payload));
                packet.retain = true; // draft-ietf-ace-revoked-token-notification: the latest list waits for sleepers
                applyRevoked(added, audience);
              } catch (error) {
                drop(packet, session, `revocation list refused (${(error as BrokerError).code ?? 'error'})`, 'revocation_list_refused');
              }
              cb(null);
            });
          return;
        }
        case 'trust': {
          if (!session.bucket.take()) drop(packet, session, 'trust update rate limit', 'rate_limit');
          else {
            try {
              if (!deps.trustUpdates) throw new BrokerError(BROKER_ERR.NOT_AUTHORIZED, 'no trust updates here');
              deps.trustUpdates.accept(route.device, bytesOf(packet.payload));
              packet.retain = true; // the newest update waits for the device's next wake
            } catch (error) {
              // The relay's message names the update's own refusal code (bad_signature, stale...).
              drop(packet, session, error instanceof BrokerError ? error.message.slice(0, 200) : 'trust update refused (error)', 'trust_update_refused');
            }
          }
          return cb(null);
        }
        case 'scoped': {
          if (session.token.messagePop) {
            try {
              session.lastSeq = verifyMessagePop(bytesOf(packet.payload), session.token.popKey, packet.topic, session.lastSeq, {
                provider: deps.provider,
                connection: session.connection,
              }).seq;
            } catch (error) {
              drop(packet, session, `message PoP (${(error as BrokerError).code ?? 'error'})`, 'message_pop');
              return cb(null);
            }
          }
          // After the proof: a PUBLISH injected into the stream by someone without the key spends
          // nothing of the client's budget.
          const over = overBudget(session, packet);
          if (over) {
            drop(packet, session, over, overReason(over));
            return cb(null);
          }
          if (packet.retain) {
            // RFC 9431 §6: a retained message lives no longer than its publisher's token. Past a
            // budget (topic size or depth, this token's share, the table) it is delivered, not kept.
            if (bytesOf(packet.payload).length === 0) deps.retained.clear(packet.topic);
            else if (!retainable(packet.topic) || !deps.retained.set(packet.topic, session.token.expiresAt, undefined, session.token.hashHex)) {
              packet.retain = false;
              log.warn({ event: 'retain_refused', clientId: logText(session.client.id), topic: logText(packet.topic), reason: 'retained_budget' }, `broker: not retained from ${safe(session.client.id)} on ${safe(packet.topic)}: over a retained-message budget`);
            }
          }
          return cb(null);
        }
      }
    },

    authorizeSubscribe(client: HookClient, sub: { topic: string; qos: number }, cb: (err: Error | null, sub?: { topic: string; qos: number } | null) => void): void {
      const session = sessions.get(client);
      if (!session) return cb(null, null);
      if (!live(session)) {
        disconnect(session, 'expired or revoked');
        return cb(null, null);
      }
      if (maySubscribe(session.identity, sub.topic)) {
        if (!session.subscribed.has(sub.topic) && session.subscribed.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
          // Said once a connection: past the bound, a packet of thousands of filters is not thousands of lines.
          if (session.overSubscribed++ === 0) log.warn({ event: 'subscribe_refused', clientId: logText(client.id), topic: logText(sub.topic), code: 'too_many_subscriptions' }, `broker: refused SUBSCRIBE from ${safe(client.id)} to ${safe(sub.topic)}: more than ${MAX_SUBSCRIPTIONS_PER_CONNECTION} filters on one connection`);
          return cb(null, null);
        }
        session.subscribed.add(sub.topic);
        return cb(null, sub);
      }
      log.warn({ event: 'subscribe_refused', clientId: logText(client.id), topic: logText(sub.topic), code: 'insufficient_scope' }, `broker: refused SUBSCRIBE from ${safe(client.id)} to ${safe(sub.topic)}: outside the token scope`);
      cb(null, null);
    },

    authorizeForward<P extends HookPacket>(client: HookClient, packet: P): P | null {
      const session = sessions.get(client);
      if (!session) return null;
      if (!live(session)) {
        disconnect(session, deps.revocation.isTokenRevoked(session.token) ? 'revoked' : 'expired');
        return null;
      }
      if (packet.retain) {
        const record = deps.retained.get(packet.topic);
        if (record && (record.expiresAt <= clock() || (record.owner !== undefined && deps.revocation.isRevoked(record.owner)))) return null;
      }
      let ok = session.forward.get(packet.topic);
      if (ok === undefined) {
        ok = mayReceive(session.identity, packet.topic);
        if (session.forward.size >= MEMO_ENTRIES) session.forward.clear();
        session.forward.set(packet.topic, ok);
      }
      return ok ? packet : null;
    },

    /** aedes 'clientDisconnect': forget the session. */
    disconnected(client: HookClient): void {
      const session = sessions.get(client);
      if (!session) return;
      session.closing = true;
      if (session.timer) clearTimeout(session.timer);
      if (byClientId.get(client.id) === session) byClientId.delete(client.id);
      // A persistent session rests until its token's expiry and the grace after it (then it ends).
      if (session.persistent) {
        const until = session.token.expiresAt + sessionGraceS;
        resting.rest(client.id, toHex(session.connection), until);
        if (ledger && Number.isFinite(until)) {
          const id = client.id;
          unrecorded.delete(id);
          ledger.rest(id, toHex(session.connection), until).catch((e: Error) => {
            if (unrecorded.size < MAX_RESTING_SESSIONS) unrecorded.add(id);
            log.error({ event: 'session_rest_not_recorded', clientId: logText(id), error: e.message.slice(0, 80) }, `broker: persistent session ${safe(id)} not recorded at rest (${e.message.slice(0, 80)}); only this broker's timer ends it`);
          });
        }
      }
      // A clean session ends with its connection, and so does its hold on the client id.
      else {
        owners.release(client.id, toHex(session.connection)).catch((e: Error) => log.error({ event: 'client_id_not_released', clientId: logText(client.id), error: e.message.slice(0, 80) }, `broker: client id ${safe(client.id)} not released (${e.message.slice(0, 80)})`));
      }
    },

    /** A list for our audience arrived from elsewhere (another broker, the service): apply it. */
    applyRevoked,

    /** Ends the sessions at rest in the shared ledger that are due (the broker is up: then by itself). */
    sweepResting(): void {
      sweeps?.kick();
    },

    /** Clears retained messages that outlived their publisher's token. */
    sweepRetained(): void {
      for (const topic of deps.retained.takeExpired(clock())) deps.clearRetained(topic);
    },

    closeAll(): void {
      for (const s of byClientId.values()) if (s.timer) clearTimeout(s.timer);
      resting.close();
      sweeps?.close();
    },
  };

  /** A signed list was accepted (from any path): count it, log it, and act on what it newly revokes. */
  function applyRevoked(added: string[], audience?: string): void {
    deps.metrics?.revocationListApplied();
    log.info({ event: 'revocation_list_applied', audience: logText(audience), revoked: added.length }, `broker: revocation list applied (${added.length} newly revoked)`);
    if (added.length === 0) return;
    const set = new Set(added);
    for (const h of added) deps.verifier.forget(h);
    for (const session of byClientId.values()) if (set.has(session.token.hashHex) || deps.revocation.isTokenRevoked(session.token)) disconnect(session, 'revoked');
    // RFC 9431 §6: a retained message lives no longer than its publisher's token; revocation ends it.
    for (const topic of deps.retained.takeOwnedBy(set)) deps.clearRetained(topic);
  }
}

export type BrokerHooks = ReturnType<typeof createHooks>;
