/**
 * OSCORE security contexts (RFC 8613 §3), portable: keys and Common IV derived with HKDF from
 * the Master Secret and Salt (§3.2.1), the sender's sequence number reserved ahead in storage so a
 * reboot never reuses a nonce (§B.1.1), and the recipient's replay window (§7.4), which the
 * device can persist too, so that after a reboot a replayed request stays refused while the
 * client's next one is accepted.
 *
 * Only the mandatory-to-implement algorithms: AES-CCM-16-64-128 (COSE 10) and HKDF SHA-256 (-10).
 */
import { encodeCbor } from './cbor-encode.js';
import type { CryptoProvider } from './crypto-provider.js';
import { CoseError } from './errors.js';

export const OSCORE_AEAD_AES_CCM_16_64_128 = 10;
export const OSCORE_HKDF_SHA_256 = -10;
/** AES-CCM-16-64-128: 16-byte key, 13-byte nonce, 8-byte tag (RFC 9053 §4.2). */
export const OSCORE_KEY_BYTES = 16;
export const OSCORE_NONCE_BYTES = 13;
export const OSCORE_TAG_BYTES = 8;
/** RFC 8613 §3.3: an ID is at most nonce length - 6 bytes. */
export const OSCORE_MAX_ID_BYTES = OSCORE_NONCE_BYTES - 6;
/** RFC 8613 §7.2.1: sequence numbers are at most 2^40 - 1. */
export const OSCORE_MAX_SEQ = 2 ** 40 - 1;
/** How many sender sequence numbers are reserved in storage at once (§B.1.1). */
export const DEFAULT_SEQ_RESERVE = 32;

/** Where a context keeps what must survive a reboot (the device's storage under one key each). */
export interface OscoreContextStore {
  /** The first sender sequence number not yet reserved (§B.1.1), or undefined at first start. */
  loadSeq(): number | undefined;
  saveSeq(next: number): void;
  /** The replay window, or undefined at first start. */
  loadWindow?(): { highest: number; bits: number } | undefined;
  saveWindow?(window: { highest: number; bits: number }): void;
}

export interface OscoreContextInput {
  masterSecret: Uint8Array;
  masterSalt?: Uint8Array;
  idContext?: Uint8Array;
  senderId: Uint8Array;
  recipientId: Uint8Array;
  aeadAlg?: number;
  hkdfAlg?: number;
  /** The recipient's replay window size, 1 to 32 (default 32, RFC 8613 §7.4). */
  replayWindow?: number;
  store?: OscoreContextStore;
  seqReserve?: number;
}

export interface OscoreContext {
  readonly senderId: Uint8Array;
  readonly recipientId: Uint8Array;
  readonly idContext: Uint8Array | undefined;
  readonly senderKey: Uint8Array;
  readonly recipientKey: Uint8Array;
  readonly commonIv: Uint8Array;
  readonly aeadAlg: number;
  /** The next sender sequence number, taken (and reserved in storage when needed). */
  nextSeq(): number;
  /** RFC 8613 §7.4: whether a request's sequence number is new (not yet accepted, not too old). */
  isFresh(seq: number): boolean;
  /** Records an accepted request's sequence number (after its tag verified). */
  accept(seq: number): void;
}

function hkdfInfo(id: Uint8Array, idContext: Uint8Array | undefined, alg: number, type: 'Key' | 'IV', length: number): Uint8Array {
  // RFC 8613 §3.2.1: info = [id, id_context (nil when absent), alg_aead, type, L].
  return encodeCbor([id, idContext ?? null, alg, type, length]);
}

export function deriveOscoreContext(input: OscoreContextInput, provider: Pick<CryptoProvider, 'hkdf'>): OscoreContext {
  const aeadAlg = input.aeadAlg ?? OSCORE_AEAD_AES_CCM_16_64_128;
  const hkdfAlg = input.hkdfAlg ?? OSCORE_HKDF_SHA_256;
  if (aeadAlg !== OSCORE_AEAD_AES_CCM_16_64_128) throw new CoseError('ERR_COSE_ALG_UNSUPPORTED', `OSCORE AEAD ${aeadAlg} is not supported (10)`);
  if (hkdfAlg !== OSCORE_HKDF_SHA_256) throw new CoseError('ERR_COSE_ALG_UNSUPPORTED', `OSCORE HKDF ${hkdfAlg} is not supported (-10)`);
  if (input.senderId.length > OSCORE_MAX_ID_BYTES || input.recipientId.length > OSCORE_MAX_ID_BYTES) throw new CoseError('ERR_COSE_BAD_LENGTH', 'OSCORE ID longer than 7 bytes');
  if (input.masterSecret.length === 0) throw new CoseError('ERR_COSE_KEY_INVALID', 'OSCORE Master Secret is empty');
  const windowSize = input.replayWindow ?? 32;
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize > 32) throw new CoseError('ERR_COSE_MALFORMED', 'OSCORE replay window is 1 to 32');
  const salt = input.masterSalt ?? new Uint8Array(0);
  const derive = (id: Uint8Array, type: 'Key' | 'IV', length: number) =>
    provider.hkdf('SHA-256', input.masterSecret, salt, hkdfInfo(id, input.idContext, aeadAlg, type, length), length);
  const senderKey = derive(input.senderId, 'Key', OSCORE_KEY_BYTES);
  const recipientKey = derive(input.recipientId, 'Key', OSCORE_KEY_BYTES);
  const commonIv = derive(new Uint8Array(0), 'IV', OSCORE_NONCE_BYTES);

  const store = input.store;
  const reserve = input.seqReserve ?? DEFAULT_SEQ_RESERVE;
  // §B.1.1: after a reboot, start where the reservation ended: numbers used before it never come again.
  let seq = store?.loadSeq() ?? 0;
  let reservedUpTo = seq;
  let window = store?.loadWindow?.() ?? { highest: -1, bits: 0 };

  return {
    senderId: input.senderId,
    recipientId: input.recipientId,
    idContext: input.idContext,
    senderKey,
    recipientKey,
    commonIv,
    aeadAlg,
    nextSeq() {
      if (seq > OSCORE_MAX_SEQ) throw new CoseError('ERR_COSE_MALFORMED', 'OSCORE sender sequence numbers exhausted (§7.2.1): a new context is needed');
      if (seq >= reservedUpTo) {
        reservedUpTo = Math.min(seq + reserve, OSCORE_MAX_SEQ + 1);
        store?.saveSeq(reservedUpTo); // before the number is used
      }
      return seq++;
    },
    isFresh(n) {
      if (!Number.isInteger(n) || n < 0 || n > OSCORE_MAX_SEQ) return false;
      if (n > window.highest) return true;
      const age = window.highest - n;
      if (age >= windowSize) return false;
      return (window.bits & (1 << age)) === 0;
    },
    accept(n) {
      if (n > window.highest) {
        const shift = n - window.highest;
        const bits = shift >= 32 ? 0 : (window.bits << shift) >>> 0;
        window = { highest: n, bits: (bits | 1) >>> 0 };
      } else {
        window = { highest: window.highest, bits: (window.bits | (1 << (window.highest - n))) >>> 0 };
      }
      store?.saveWindow?.(window);
    },
  };
}

/** RFC 8613 §5.2: the AEAD nonce from the ID of the PIV's sender, the PIV and the Common IV. */
export function oscoreNonce(commonIv: Uint8Array, idPiv: Uint8Array, piv: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(OSCORE_NONCE_BYTES);
  nonce[0] = idPiv.length;
  nonce.set(idPiv, 1 + OSCORE_MAX_ID_BYTES - idPiv.length);
  nonce.set(piv, OSCORE_NONCE_BYTES - piv.length);
  for (let i = 0; i < OSCORE_NONCE_BYTES; i++) nonce[i]! ^= commonIv[i]!;
  return nonce;
}

/** A sequence number as a Partial IV: big-endian, no leading zeros, at least one byte (§6.1). */
export function partialIv(seq: number): Uint8Array {
  const out: number[] = [];
  for (let v = seq; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return Uint8Array.from(out.length ? out : [0]);
}
