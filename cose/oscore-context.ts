/**
 * An OSCORE security context (RFC 8613 §3): keys and Common IV derived with HKDF from the Master
 * Secret and Salt (§3.2.1, info = [id, id_context, alg_aead, type, L]), the sender's sequence
 * number, reserved ahead in storage so a reboot never reuses a nonce (Appendix B.1.1), and the
 * recipient's replay window (§7.4). Portable: the provider does HKDF and the AEAD.
 */
import { CoseError, ERR } from './errors.js';
import { algorithmById, type AeadCipher } from './algorithms.js';
import { encodeCbor } from './cbor-encode.js';
import type { CryptoProvider } from './crypto-provider.js';

export interface OscoreContextInput {
  masterSecret: Uint8Array;
  masterSalt?: Uint8Array;
  idContext?: Uint8Array;
  senderId: Uint8Array;
  recipientId: Uint8Array;
  /** Default 10, AES-CCM-16-64-128 (RFC 8613 §3.2.1). */
  aeadAlg?: number;
  /** Default -10, HKDF SHA-256. */
  hkdfAlg?: number;
  /** Replay window size in Partial IVs (default 32, RFC 8613 §7.4 / §B.1.2). */
  replayWindow?: number;
}

/**
 * Where a context keeps its sender sequence number across reboots (RFC 8613 §B.1.1): `save` is
 * called with a number before any sequence number at or above it is used, every
 * SEQUENCE_RESERVE messages; after a reboot sending resumes at what `load` gives.
 */
export interface OscoreSequenceStore {
  load(): number | undefined;
  save(next: number): void;
}

/** RFC 8613 §B.1.1 "K": sequence numbers reserved per storage write. */
export const SEQUENCE_RESERVE = 32;
/** RFC 8613 §7.2.1: Partial IVs are at most 5 bytes: 2^40 - 1. */
export const MAX_OSCORE_SEQUENCE = 1099511627775; // 2^40 - 1
/** RFC 8613 §3.2.1 HKDF SHA-256 (the only HKDF implemented here). */
const HKDF_SHA256 = -10;

export interface ReplayState {
  /** Highest Partial IV received, -1 before the first. */
  highest: number;
  /** Bit i set: highest - i was received (bit 0 is highest itself). */
  seen: number;
}

export interface OscoreContext {
  readonly aeadAlg: number;
  readonly aead: AeadCipher;
  readonly senderId: Uint8Array;
  readonly recipientId: Uint8Array;
  readonly idContext: Uint8Array | undefined;
  readonly senderKey: Uint8Array;
  readonly recipientKey: Uint8Array;
  readonly commonIv: Uint8Array;
  readonly windowSize: number;
  readonly provider: CryptoProvider;
  /** Next sender sequence number to use. */
  senderSequence: number;
  /** Sequence numbers below this one are covered by the last `save` (or the process is not persisting). */
  reservedUntil: number;
  readonly sequenceStore: OscoreSequenceStore | undefined;
  replay: ReplayState;
}

function unsupported(reason: string): CoseError {
  return new CoseError(ERR.OSCORE_UNSUPPORTED_ALG, `OSCORE: ${reason}`);
}

/** RFC 8613 §3.2.1: info = [id, id_context, alg_aead, type, L] in CBOR. */
function info(id: Uint8Array, idContext: Uint8Array | undefined, alg: number, type: 'Key' | 'IV', length: number): Uint8Array {
  return encodeCbor([id, idContext ?? null, alg, type, length]);
}

export function deriveOscoreContext(input: OscoreContextInput, provider: CryptoProvider, opts: { sequenceStore?: OscoreSequenceStore } = {}): OscoreContext {
  const aeadAlg = input.aeadAlg ?? 10;
  if ((input.hkdfAlg ?? HKDF_SHA256) !== HKDF_SHA256) throw unsupported(`HKDF algorithm ${String(input.hkdfAlg)} is not HKDF SHA-256 (-10)`);
  let alg;
  try {
    alg = algorithmById(aeadAlg);
  } catch {
    throw unsupported(`AEAD algorithm ${String(aeadAlg)} is unknown`);
  }
  if (alg.kind !== 'aead') throw unsupported(`algorithm ${aeadAlg} is not an AEAD`);
  const { aead } = alg;
  // RFC 8613 §3.3: an ID longer than nonce length - 6 cannot be placed in the nonce.
  const maxId = aead.nonceLength - 6;
  if (input.senderId.length > maxId || input.recipientId.length > maxId) throw new CoseError(ERR.COSE_BAD_LENGTH, `OSCORE: Sender/Recipient ID over ${maxId} bytes`);
  if (input.masterSecret.length === 0) throw new CoseError(ERR.COSE_BAD_LENGTH, 'OSCORE: empty Master Secret');
  const salt = input.masterSalt ?? new Uint8Array(0);
  const hk = (id: Uint8Array, type: 'Key' | 'IV', l: number) => provider.hkdf('SHA-256', input.masterSecret, salt, info(id, input.idContext, aeadAlg, type, l), l);
  const store = opts.sequenceStore;
  // §B.1.1: resume at the reserved number, never below: numbers between were maybe used.
  const start = store?.load() ?? 0;
  if (!Number.isSafeInteger(start) || start < 0 || start > MAX_OSCORE_SEQUENCE) throw new CoseError(ERR.OSCORE_SEQUENCE_EXHAUSTED, 'OSCORE: stored sequence number out of range');
  return {
    aeadAlg,
    aead,
    senderId: input.senderId.slice(),
    recipientId: input.recipientId.slice(),
    idContext: input.idContext?.slice(),
    senderKey: hk(input.senderId, 'Key', aead.keyLength),
    recipientKey: hk(input.recipientId, 'Key', aead.keyLength),
    commonIv: hk(new Uint8Array(0), 'IV', aead.nonceLength),
    windowSize: Math.min(32, Math.max(1, input.replayWindow ?? 32)),
    provider,
    senderSequence: start,
    reservedUntil: start,
    sequenceStore: store,
    replay: { highest: -1, seen: 0 },
  };
}

/** RFC 8613 §5.2: the AEAD nonce from an ID, a Partial IV and the Common IV. */
export function oscoreNonce(ctx: Pick<OscoreContext, 'commonIv'>, idPiv: Uint8Array, piv: Uint8Array): Uint8Array {
  const n = ctx.commonIv.length;
  const out = new Uint8Array(n);
  out[0] = idPiv.length;
  out.set(idPiv, n - 5 - idPiv.length);
  out.set(piv, n - piv.length);
  for (let i = 0; i < n; i++) out[i]! ^= ctx.commonIv[i]!;
  return out;
}

/** RFC 8613 §6.1: the Partial IV is the sequence number in the fewest bytes (0 is one zero byte). */
export function encodePartialIv(seq: number): Uint8Array {
  const bytes: number[] = [];
  let v = seq;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return Uint8Array.from(bytes);
}

export function decodePartialIv(piv: Uint8Array): number {
  let v = 0;
  for (const b of piv) v = v * 256 + b;
  return v;
}

/** The next sender sequence number, persisting a new reservation first when the last one is spent. */
export function takeSequence(ctx: OscoreContext): number {
  const seq = ctx.senderSequence;
  if (seq > MAX_OSCORE_SEQUENCE) throw new CoseError(ERR.OSCORE_SEQUENCE_EXHAUSTED, 'OSCORE: sender sequence numbers used up: derive a new context');
  if (ctx.sequenceStore && seq >= ctx.reservedUntil) {
    const until = Math.min(seq + SEQUENCE_RESERVE, MAX_OSCORE_SEQUENCE + 1);
    ctx.sequenceStore.save(until); // before the number is used (§B.1.1)
    ctx.reservedUntil = until;
  }
  ctx.senderSequence = seq + 1;
  return seq;
}

/** RFC 8613 §7.4: whether a Partial IV is new (inside the window, unseen, or above it). */
export function isFreshPiv(state: ReplayState, seq: number, windowSize: number): boolean {
  if (seq > state.highest) return true;
  const back = state.highest - seq;
  if (back >= windowSize) return false;
  return (state.seen & (1 << back)) === 0;
}

/** Records a verified Partial IV (call only after the AEAD opened). */
export function acceptPiv(state: ReplayState, seq: number, windowSize: number): void {
  if (seq > state.highest) {
    const shift = seq - state.highest;
    state.seen = shift >= windowSize ? 1 : ((state.seen << shift) | 1) >>> 0;
    if (windowSize < 32) state.seen &= (1 << windowSize) - 1;
    state.highest = seq;
  } else {
    state.seen = (state.seen | (1 << (state.highest - seq))) >>> 0;
  }
}
