/**
 * One end of a protected session (DESIGN.md "Protected sessions", OSCORE-like, RFC 8613): each
 * message is a COSE_Encrypt0 whose nonce is the direction's IV XOR its Partial IV (6), the
 * sender's sequence number (RFC 8613 §5.2). The receiver keeps a sliding replay window (§7.4).
 * The sender persists its counter ahead in blocks (RFC 8613 Appendix B.1.1), so after a reboot it
 * resumes past anything it may have used and a nonce is never reused; the receiver persists its
 * window on every accepted message, so an old message is never accepted again after a reboot.
 */
import {
  CoseError,
  Tag,
  algorithmById,
  asSafeInteger,
  decodeCbor,
  decryptEncrypt0,
  encodeCbor,
  encStructure,
  isMap,
  nonceFromPartialIv,
  toHex,
  type CborMap,
  type CborValue,
  type CryptoProvider,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { acceptInWindow, emptyReplayWindow, isFresh, type ReplayWindowState } from './replay-window.js';
import type { Direction, SessionKeys } from './session-keys.js';
import type { DeviceStorage } from './storage.js';

/** Sequence numbers reserved per flash write: 64 messages per write, at most 64 lost per reboot. */
export const SEQUENCE_BLOCK = 64;
/** RFC 8613 §7.2.1: the Partial IV is at most 5 bytes, so sequence numbers stop at 2^40 - 1. */
export const MAX_SEQUENCE = 2 ** 40 - 1;
/** A session message is a small request or answer; larger ones are refused unread. */
export const MAX_SESSION_MESSAGE_BYTES = 2048;
const COSE_ENCRYPT0_TAG = 16;
const HDR_ALG = 1;
const HDR_KID = 4;
const HDR_PIV = 6;

export type SessionRole = 'client' | 'device';

/** What the device binds to a session: the token it came from, so refusals stay exact. */
export interface SessionBinding {
  tokenHash: Uint8Array;
  expiresAt: number;
  scopeClaim: CborValue;
  /** The token's sub, handed to the request handler. */
  subject?: string;
  /**
   * The exi sequence number of a clock-less token (RFC 9200 §5.10.3): once the signed exi floor
   * covers it the service drops the token from its list, so only this refuses the session then.
   */
  exiSequence?: number;
  /** The token's iat(6), so an issued-before floor from an overflowing list reaches the session. */
  issuedAt?: number;
}

export interface OpenedMessage {
  plaintext: Uint8Array;
  /** The sender's sequence number, as its Partial IV. */
  piv: Uint8Array;
  seq: number;
}

/** RFC 8613 §6.1: the Partial IV is the sequence number in the fewest bytes (0 as one 0x00). */
export function encodePartialIv(seq: number): Uint8Array {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQUENCE) throw new RangeError('sequence number out of range');
  const out: number[] = [];
  let v = seq;
  do {
    out.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return new Uint8Array(out);
}

function decodePartialIv(piv: Uint8Array): number {
  if (piv.length === 0 || piv.length > 5 || (piv.length > 1 && piv[0] === 0)) return -1;
  let v = 0;
  for (const b of piv) v = v * 256 + b;
  return v;
}

/** Reads the kid (4) and Partial IV (6) of a session message before anything is decrypted. */
export function peekSessionMessage(bytes: Uint8Array): { kid: Uint8Array; piv: Uint8Array; value: CborValue } {
  let value: CborValue;
  try {
    value = decodeCbor(bytes, { maxBytes: MAX_SESSION_MESSAGE_BYTES, maxDepth: 4 });
  } catch (cause) {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, `session message is not valid CBOR (${(cause as CoseError).code})`, { cause });
  }
  const arr = value instanceof Tag && value.tag === COSE_ENCRYPT0_TAG ? value.value : value;
  const unprotected = Array.isArray(arr) && arr.length === 3 ? arr[1] : undefined;
  const kid = isMap(unprotected as CborValue) ? (unprotected as CborMap).get(HDR_KID) : undefined;
  const piv = isMap(unprotected as CborValue) ? (unprotected as CborMap).get(HDR_PIV) : undefined;
  if (!(kid instanceof Uint8Array) || !(piv instanceof Uint8Array)) {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'session message must be a COSE_Encrypt0 with kid(4) and Partial IV(6) unprotected');
  }
  return { kid, piv, value };
}

function externalAad(id: Uint8Array, dir: Direction, piv: Uint8Array, requestPiv: Uint8Array | undefined): Uint8Array {
  // RFC 8613 §5.4: bind the ids and Partial IVs; a response also binds its request's Partial IV.
  return encodeCbor([id, dir, piv, requestPiv ?? null]);
}

export class ProtectedSession {
  readonly role: SessionRole;
  readonly keys: SessionKeys;
  readonly binding: SessionBinding | undefined;
  #storage: DeviceStorage;
  #provider: CryptoProvider;
  #nextSeq: number;
  #limit: number;
  #window: ReplayWindowState;

  private constructor(
    role: SessionRole,
    keys: SessionKeys,
    binding: SessionBinding | undefined,
    storage: DeviceStorage,
    provider: CryptoProvider,
    nextSeq: number,
    limit: number,
    window: ReplayWindowState,
  ) {
    this.role = role;
    this.keys = keys;
    this.binding = binding;
    this.#storage = storage;
    this.#provider = provider;
    this.#nextSeq = nextSeq;
    this.#limit = limit;
    this.#window = window;
  }

  static storageKey(role: SessionRole, id: Uint8Array): string {
    return `${role === 'device' ? 's' : 'cs'}/${toHex(id)}`;
  }

  /** A new session, persisted before it is used. */
  static create(role: SessionRole, keys: SessionKeys, storage: DeviceStorage, provider: CryptoProvider, binding?: SessionBinding): ProtectedSession {
    const s = new ProtectedSession(role, keys, binding, storage, provider, 0, SEQUENCE_BLOCK, emptyReplayWindow());
    s.#persist();
    return s;
  }

  /** The session as persisted, or undefined. The sender resumes at the reserved limit. */
  static load(role: SessionRole, id: Uint8Array, storage: DeviceStorage, provider: CryptoProvider): ProtectedSession | undefined {
    const bytes = storage.get(ProtectedSession.storageKey(role, id));
    if (!bytes) return undefined;
    const m = decodeCbor(bytes, { maxBytes: 1024, maxDepth: 4 });
    if (!isMap(m)) return undefined;
    const b = (l: number) => m.get(l) as Uint8Array;
    const keys: SessionKeys = { id: b(1), alg: asSafeInteger(m.get(2))!, c2d: { key: b(3), iv: b(4) }, d2c: { key: b(5), iv: b(6) } };
    const limit = asSafeInteger(m.get(7)) ?? MAX_SEQUENCE;
    const window: ReplayWindowState = { highest: asSafeInteger(m.get(8)) ?? -1, bitmap: BigInt(`0x${toHex(b(9)) || '0'}`) };
    const binding: SessionBinding | undefined = m.has(10)
      ? { tokenHash: b(10), expiresAt: asSafeInteger(m.get(11)) ?? 0, scopeClaim: m.get(12) as CborValue }
      : undefined;
    const subject = m.get(13);
    if (binding && typeof subject === 'string') binding.subject = subject;
    const exiSequence = asSafeInteger(m.get(14));
    if (binding && exiSequence !== undefined) binding.exiSequence = exiSequence;
    const issuedAt = asSafeInteger(m.get(15));
    if (binding && issuedAt !== undefined) binding.issuedAt = issuedAt;
    // Everything below the reserved limit may have been used before the reboot: start past it.
    return new ProtectedSession(role, keys, binding, storage, provider, limit, limit, window);
  }

  #persist(): void {
    const m: CborMap = new Map<CborValue, CborValue>([
      [1, this.keys.id],
      [2, this.keys.alg],
      [3, this.keys.c2d.key],
      [4, this.keys.c2d.iv],
      [5, this.keys.d2c.key],
      [6, this.keys.d2c.iv],
      [7, this.#limit],
      [8, this.#window.highest],
      [9, bitmapBytes(this.#window.bitmap)],
    ]);
    if (this.binding) {
      m.set(10, this.binding.tokenHash);
      m.set(11, this.binding.expiresAt);
      m.set(12, this.binding.scopeClaim);
      if (this.binding.subject !== undefined) m.set(13, this.binding.subject);
      if (this.binding.exiSequence !== undefined) m.set(14, this.binding.exiSequence);
      if (this.binding.issuedAt !== undefined) m.set(15, this.binding.issuedAt);
    }
    this.#storage.put(ProtectedSession.storageKey(this.role, this.keys.id), encodeCbor(m));
  }

  get nextSequence(): number {
    return this.#nextSeq;
  }

  get replayWindow(): ReplayWindowState {
    return this.#window;
  }

  #senderDirection(): Direction {
    return this.role === 'client' ? 'c2d' : 'd2c';
  }

  /** Encrypts one message with the next sequence number; `requestPiv` binds a response to its request. */
  protect(plaintext: Uint8Array, requestPiv?: Uint8Array): Uint8Array {
    const seq = this.#nextSeq;
    if (seq > MAX_SEQUENCE) throw new DeviceError(DEVICE_ERR.BUSY, 'session sequence numbers exhausted: start a new session');
    if (seq >= this.#limit) {
      // Reserve the next block before the first number of it is used (RFC 8613 Appendix B.1.1).
      this.#limit = Math.min(seq + SEQUENCE_BLOCK, MAX_SEQUENCE + 1);
      this.#persist();
    }
    this.#nextSeq = seq + 1;
    const dir = this.#senderDirection();
    const keys = this.keys[dir];
    const alg = algorithmById(this.keys.alg);
    if (alg.kind !== 'aead') throw new RangeError('session algorithm must be an AEAD');
    const piv = encodePartialIv(seq);
    const protectedBytes = encodeCbor(new Map([[HDR_ALG, this.keys.alg]]));
    const aad = encStructure('Encrypt0', protectedBytes, externalAad(this.keys.id, dir, piv, requestPiv));
    const nonce = nonceFromPartialIv(keys.iv, piv, alg.aead.nonceLength);
    const ciphertext = this.#provider.aeadEncrypt(alg.aead, keys.key, nonce, aad, plaintext);
    const unprotected: CborMap = new Map<CborValue, CborValue>([[HDR_KID, this.keys.id], [HDR_PIV, piv]]);
    return encodeCbor(new Tag([protectedBytes, unprotected, ciphertext], COSE_ENCRYPT0_TAG));
  }

  /**
   * Decrypts a message from the other end: refuses a replay before decrypting, a forgery by the
   * AEAD tag, and moves (and persists) the window only for an authentic message.
   */
  unprotect(bytes: Uint8Array, requestPiv?: Uint8Array): OpenedMessage {
    const { piv, value } = peekSessionMessage(bytes);
    const seq = decodePartialIv(piv);
    if (seq < 0) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'Partial IV(6) must be 1 to 5 bytes, minimally encoded');
    if (!isFresh(this.#window, seq)) throw new DeviceError(DEVICE_ERR.REPLAY, `sequence number ${seq} already seen or too old`);
    const dir: Direction = this.role === 'client' ? 'd2c' : 'c2d';
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = decryptEncrypt0(value, { kty: 'Symmetric', k: this.keys[dir].key }, {
        baseIv: this.keys[dir].iv,
        externalAad: externalAad(this.keys.id, dir, piv, requestPiv),
        algorithms: [this.keys.alg],
        provider: this.#provider,
        limits: { maxBytes: MAX_SESSION_MESSAGE_BYTES, maxDepth: 4 },
      }));
    } catch (cause) {
      if (cause instanceof CoseError) throw new DeviceError(DEVICE_ERR.BAD_PROOF, `session message does not decrypt (${cause.code})`, { cause });
      throw cause;
    }
    this.#window = acceptInWindow(this.#window, seq);
    this.#persist();
    return { plaintext, piv, seq };
  }

  /** Forgets the session, in RAM and in storage (revocation, expiry). */
  destroy(): void {
    this.#storage.delete(ProtectedSession.storageKey(this.role, this.keys.id));
  }
}

function bitmapBytes(bitmap: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, bitmap & 0xffff_ffff_ffff_ffffn);
  return out;
}
