/**
 * The OSCORE security contexts a device holds, one per /authz-info exchange (RFC 9203 §4.3),
 * found by the device's Recipient ID (the kid of a client's requests, RFC 8613 §6.1) and bound to
 * the token that made it: a context lives no longer than its token (RFC 9203 §4.3: "MUST NOT use
 * the security context after the related token has expired"; revocation and exi floors alike).
 *
 * Budget (DeviceProfile.maxSessions, the bound the home-made sessions had): the table refuses
 * rather than grows. Posting a token needs only the token, which may be stolen (it travels in the
 * clear, RFC 9203 §4.1), not its Master Secret: a context counts as proven once a request has
 * verified under it. So a post never pushes out a proven context: unproven ones give way to new
 * ones, and one token keeps at most maxUnprovenPerToken of them, so a replayed token cannot churn
 * the table. Proven contexts hold at most maxContexts minus a reserve (a quarter of the slots, at
 * least one), so a post always finds a slot to wait in: a full table of proven contexts would
 * otherwise answer busy to every client, the same ones included, for their tokens' lifetime
 * (adversarial review, stop 34: two clients making a context per request did exactly that).
 * Only a proof makes room among proven contexts, and proving needs the key:
 * - one client (the tokens' subject) holds at most half the slots as proven contexts, so past
 *   that its own least recently used one goes (a client rebooting again and again is never locked
 *   out by its own dead contexts);
 * - past the proven limit, the least recently used context of the client holding the most proven
 *   ones goes (the overall least recently used when every client holds one). With no clock there
 *   is no "idle for an hour"; recency among proven contexts is the order they were last used in.
 * A thief's post costs a client nothing that is proven; a key holder proving context after
 * context retires its own first, and takes from others no more than a fair share. A token
 * without a subject (another AS may omit `sub`, RFC 8392 §3.1.2) is its own owner: tokens
 * without one share nothing, so one key holder's contexts never count as another's.
 *
 * Generic in the context type `C` (what cose/'s OSCORE derivation returns), so the table is the
 * same for any derivation and testable without one.
 */
import { toHex, type CryptoProvider } from '../cose/index.js';
import { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';

/** RFC 8613 §3.3: Recipient IDs of 2 bytes leave room for 65536 contexts and stay short on the wire. */
export const SERVER_RECIPIENT_ID_BYTES = 2;
/** Tries for a fresh ID2 before giving up: with ≤ 64 contexts in 65536 ids, a collision run is impossible in practice. */
const ID_TRIES = 16;

export interface OscoreContextEntry<C> {
  /** ID2, the device's Recipient ID: the kid a client's requests carry. */
  readonly recipientId: Uint8Array;
  /** ID1, the client's Recipient ID (the device's Sender ID). */
  readonly clientRecipientId: Uint8Array;
  /** The token it is bound to: replaced by an update of access rights (RFC 9203 §4.4, rebindToken). */
  tokenHash: Uint8Array;
  tokenHashHex: string;
  readonly subject: string | undefined;
  /** N1 as hex, so a replayed authz-info POST is recognized while the context lives. */
  readonly nonce1Hex: string;
  readonly context: C;
  /** Set when a request has verified under this context (verified()): it can no longer be pushed out by a post. */
  proven: boolean;
}

export interface OscoreContextTableOptions {
  provider: Pick<CryptoProvider, 'randomBytes'>;
  maxContexts: number;
  maxUnprovenPerToken: number;
  /**
   * Why the context's token no longer holds (expired, revoked, below an exi floor), or undefined.
   * Asked at every lookup and sweep, so a context dies the moment its token does.
   */
  tokenRefusal(tokenHash: Uint8Array): DeviceErrorCode | undefined;
  /** Told when a context is dropped, so its derived keys can be wiped. */
  onDrop?: (entry: OscoreContextEntry<unknown>) => void;
}

export interface OscoreContextTable<C> {
  /** RFC 9203 §4.2: an ID2 unused among the device's Recipient IDs and different from ID1. */
  allocateRecipientId(clientRecipientId: Uint8Array): Uint8Array;
  /** Whether a live context came from this token and this N1 (a replayed POST). */
  hasNonce1(tokenHashHex: string, nonce1Hex: string): boolean;
  /** Makes room among unproven contexts (busy only in a one-slot table held proven), then holds the entry. */
  install(entry: OscoreContextEntry<C>): void;
  /**
   * A request verified under this context: it is proven (it can no longer be pushed out by a
   * post) and the most recently used. If its client now holds more than its share of proven
   * contexts, its least recently used other one goes; else, past the proven limit, the least
   * recently used context of the largest holder.
   */
  verified(entry: OscoreContextEntry<C>): void;
  /** The live context for a request's kid; throws when its token has died (and drops it). */
  lookup(recipientId: Uint8Array): OscoreContextEntry<C> | undefined;
  /** Drops every context whose token died. */
  sweep(): void;
  /** Drops every context of one token (a revocation list named it). */
  dropToken(tokenHashHex: string): void;
  /**
   * RFC 9203 §4.4: the contexts of one token now belong to its successor (an update of access
   * rights, posted under one of them: they all derive from the same material), which lives and
   * dies for them from here on.
   */
  rebindToken(fromHashHex: string, to: { tokenHash: Uint8Array; tokenHashHex: string }): void;
  readonly size: number;
  entries(): IterableIterator<OscoreContextEntry<C>>;
}

export function createOscoreContextTable<C>(opts: OscoreContextTableOptions): OscoreContextTable<C> {
  const { provider, maxContexts, maxUnprovenPerToken, tokenRefusal } = opts;
  // Insertion order is age order: the first unproven entry found is the oldest (proven ones move
  // to the end at each verified request, verified()).
  const table = new Map<string, OscoreContextEntry<C>>();
  /** One client's (token subject's) share of proven contexts. */
  const share = Math.max(1, Math.floor(maxContexts / 2));
  /** Proven contexts held at most: the rest of the slots are where a post always finds room. */
  const provenLimit = maxContexts < 2 ? maxContexts : maxContexts - Math.max(1, Math.floor(maxContexts / 4));

  // Who owns a context: the token's subject, or the token itself when it names none (see above).
  const owner = (e: OscoreContextEntry<C>): string => (e.subject !== undefined ? `s:${e.subject}` : `t:${e.tokenHashHex}`);

  function drop(key: string): void {
    const entry = table.get(key);
    if (!entry) return;
    table.delete(key);
    opts.onDrop?.(entry);
  }

  function sweep(): void {
    for (const [key, e] of table) if (tokenRefusal(e.tokenHash) !== undefined) drop(key);
  }

  function oldestUnproven(tokenHashHex?: string): string | undefined {
    for (const [key, e] of table) if (!e.proven && (tokenHashHex === undefined || e.tokenHashHex === tokenHashHex)) return key;
    return undefined;
  }

  return {
    allocateRecipientId(clientRecipientId) {
      const id1 = toHex(clientRecipientId);
      for (let i = 0; i < ID_TRIES; i++) {
        const id = provider.randomBytes(SERVER_RECIPIENT_ID_BYTES);
        const hex = toHex(id);
        if (hex !== id1 && !table.has(hex)) return id;
      }
      throw new DeviceError(DEVICE_ERR.BUSY, 'no free OSCORE Recipient ID: retry later');
    },
    hasNonce1(tokenHashHex, nonce1Hex) {
      for (const e of table.values()) if (e.tokenHashHex === tokenHashHex && e.nonce1Hex === nonce1Hex) return true;
      return false;
    },
    install(entry) {
      sweep();
      let unprovenOfToken = 0;
      for (const e of table.values()) if (!e.proven && e.tokenHashHex === entry.tokenHashHex) unprovenOfToken++;
      if (unprovenOfToken >= Math.max(1, maxUnprovenPerToken)) drop(oldestUnproven(entry.tokenHashHex)!);
      // Past its share, a client's own unproven context gives way to the new one; a share that is
      // all proven keeps every context, and the new one waits unproven beside them (verified()).
      const mine = [...table].filter(([, e]) => owner(e) === owner(entry));
      if (mine.length >= share) {
        const own = mine.find(([, e]) => !e.proven);
        if (own) drop(own[0]);
      }
      if (table.size >= maxContexts) {
        const victim = oldestUnproven();
        // Only a one-slot table can be all proven (provenLimit): none gives way to a post.
        if (victim === undefined) throw new DeviceError(DEVICE_ERR.BUSY, 'every OSCORE context slot is in use by a proven client: retry later');
        drop(victim);
      }
      table.set(toHex(entry.recipientId), entry);
    },
    verified(entry) {
      const key = toHex(entry.recipientId);
      if (table.get(key) !== entry) return;
      const wasProven = entry.proven;
      entry.proven = true;
      // Map order is recency among proven contexts: the first of a client's is its least recently used.
      table.delete(key);
      table.set(key, entry);
      if (wasProven) return;
      const held = new Map<string, number>();
      let proven = 0;
      for (const e of table.values()) {
        if (!e.proven) continue;
        proven++;
        held.set(owner(e), (held.get(owner(e)) ?? 0) + 1);
      }
      const mine = held.get(owner(entry))!;
      if (mine > share) {
        for (const [k, e] of table) {
          if (e.proven && e !== entry && owner(e) === owner(entry)) return drop(k);
        }
      }
      if (proven <= provenLimit) return;
      // The largest holder gives way, its least recently used context first (map order); with
      // every holder at one, the least recently used of all. Never the context just proven.
      const most = Math.max(...held.values());
      for (const [k, e] of table) {
        if (e.proven && e !== entry && held.get(owner(e)) === most) return drop(k);
      }
    },
    lookup(recipientId) {
      const key = toHex(recipientId);
      const entry = table.get(key);
      if (!entry) return undefined;
      const refusal = tokenRefusal(entry.tokenHash);
      if (refusal !== undefined) {
        drop(key);
        throw new DeviceError(refusal, 'the token of this OSCORE context is no longer valid: post a new one to /authz-info');
      }
      return entry;
    },
    sweep,
    dropToken(tokenHashHex) {
      for (const [key, e] of table) if (e.tokenHashHex === tokenHashHex) drop(key);
    },
    rebindToken(fromHashHex, to) {
      for (const e of table.values()) {
        if (e.tokenHashHex !== fromHashHex) continue;
        e.tokenHash = to.tokenHash.slice();
        e.tokenHashHex = to.tokenHashHex;
      }
    },
    get size() {
      return table.size;
    },
    entries: () => table.values(),
  };
}
