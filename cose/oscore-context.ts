/**
 * OSCORE security contexts (RFC 8613 §3): the Sender Key, Recipient Key and Common IV derived with
 * HKDF from the Master Secret and Salt, and the AEAD nonce from an ID and a Partial IV (§5.2).
 * Pure derivation: the mutable parts (sequence numbers, replay window) live in oscore-state.ts.
 */
import { ALG, algorithmById, type AeadCipher, type HashName } from './algorithms.js';
import { encodeCbor } from './cbor-encode.js';
import type { CryptoProvider } from './crypto-provider.js';
import { OscoreError, OSCORE_ERR } from './oscore-errors.js';

export interface OscoreContextInput {
  masterSecret: Uint8Array;
  /** RFC 8613 §3.1: absent is the empty byte string. */
  masterSalt?: Uint8Array;
  /** RFC 8613 §3.1: ID Context; absent is nil in the HKDF info. */
  idContext?: Uint8Array;
  senderId: Uint8Array;
  recipientId: Uint8Array;
  /** COSE AEAD algorithm; default 10 (AES-CCM-16-64-128), RFC 8613 §3.2.1. */
  aeadAlg?: number;
  /** COSE HKDF algorithm; default -10 (HKDF SHA-256). -11 is HKDF SHA-512. */
  hkdfAlg?: number;
  /** Replay window size for the recipient (RFC 8613 §7.4 asks at least 32); default 32. */
  replayWindow?: number;
}

export interface OscoreContext {
  readonly senderId: Uint8Array;
  readonly recipientId: Uint8Array;
  readonly idContext: Uint8Array | undefined;
  readonly aeadAlg: number;
  readonly aead: AeadCipher;
  readonly hkdfAlg: number;
  readonly senderKey: Uint8Array;
  readonly recipientKey: Uint8Array;
  readonly commonIv: Uint8Array;
  readonly replayWindow: number;
}

export const OSCORE_DEFAULT_AEAD = ALG.AES_CCM_16_64_128;
export const OSCORE_DEFAULT_HKDF = -10;
export const OSCORE_DEFAULT_REPLAY_WINDOW = 32;
/** The largest replay window we keep (a bitmap of this many bits per context). */
export const OSCORE_MAX_REPLAY_WINDOW = 1024;
/** RFC 8613 §3.1: bounds on what we accept as secret, salt and ID context (hostile configuration). */
export const OSCORE_MAX_INPUT_BYTES = 256;

/** RFC 9053 §5.1 (COSE "direct+HKDF" identifiers as RFC 8613 §3.1 uses them for the HKDF). */
const HKDF_HASH: Record<number, HashName> = { [-10]: 'SHA-256', [-11]: 'SHA-512' };

function bad(message: string): never {
  throw new OscoreError(OSCORE_ERR.BAD_CONTEXT, message);
}

function bytesOf(value: unknown, what: string, max = OSCORE_MAX_INPUT_BYTES): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(`${what} must be bytes`);
  if (value.length > max) bad(`${what} is ${value.length} bytes, at most ${max}`);
  return value;
}

/** RFC 8613 §3.2.1: info = [id, id_context, alg_aead, type, L] in CBOR. */
export function oscoreHkdfInfo(id: Uint8Array, idContext: Uint8Array | undefined, aeadAlg: number, type: 'Key' | 'IV', length: number): Uint8Array {
  return encodeCbor([id, idContext ?? null, aeadAlg, type, length]);
}

export function deriveOscoreContext(input: OscoreContextInput, provider: CryptoProvider): OscoreContext {
  const aeadAlg = input.aeadAlg ?? OSCORE_DEFAULT_AEAD;
  const alg = (() => {
    try {
      return algorithmById(aeadAlg);
    } catch {
      return bad(`AEAD algorithm ${String(aeadAlg)} is not supported`);
    }
  })();
  if (alg.kind !== 'aead') bad(`algorithm ${alg.name} is not an AEAD`);
  const hkdfAlg = input.hkdfAlg ?? OSCORE_DEFAULT_HKDF;
  const hash = HKDF_HASH[hkdfAlg];
  if (!hash) bad(`HKDF algorithm ${String(hkdfAlg)} is not supported`);
  const replayWindow = input.replayWindow ?? OSCORE_DEFAULT_REPLAY_WINDOW;
  if (!Number.isInteger(replayWindow) || replayWindow < 32 || replayWindow > OSCORE_MAX_REPLAY_WINDOW) {
    bad(`replay window must be 32..${OSCORE_MAX_REPLAY_WINDOW}`);
  }
  const { nonceLength, keyLength } = alg.aead;
  // RFC 8613 §3.3: IDs are at most nonce length - 6 bytes long (7 for AES-CCM-16-64-128).
  const maxId = nonceLength - 6;
  const senderId = bytesOf(input.senderId, 'Sender ID', maxId);
  const recipientId = bytesOf(input.recipientId, 'Recipient ID', maxId);
  // RFC 8613 §3.3: the two IDs of one context must differ, or the nonces would collide.
  if (senderId.length === recipientId.length && senderId.every((b, i) => b === recipientId[i])) bad('Sender ID and Recipient ID are equal');
  const secret = bytesOf(input.masterSecret, 'Master Secret');
  if (secret.length === 0) bad('Master Secret is empty');
  const salt = input.masterSalt === undefined ? new Uint8Array(0) : bytesOf(input.masterSalt, 'Master Salt');
  const idContext = input.idContext === undefined ? undefined : bytesOf(input.idContext, 'ID Context');
  const derive = (id: Uint8Array, type: 'Key' | 'IV', length: number): Uint8Array =>
    provider.hkdf(hash, secret, salt, oscoreHkdfInfo(id, idContext, aeadAlg, type, length), length);
  return {
    senderId: senderId.slice(),
    recipientId: recipientId.slice(),
    idContext: idContext?.slice(),
    aeadAlg,
    aead: alg.aead,
    hkdfAlg,
    senderKey: derive(senderId, 'Key', keyLength),
    recipientKey: derive(recipientId, 'Key', keyLength),
    commonIv: derive(new Uint8Array(0), 'IV', nonceLength),
    replayWindow,
  };
}

/**
 * RFC 8613 §5.2: the ID padded with zeros to nonce length - 6 bytes, prefixed by its length byte,
 * followed by the Partial IV padded to 5 bytes, all XORed with the Common IV.
 */
export function oscoreNonce(ctx: OscoreContext, id: Uint8Array, partialIv: Uint8Array): Uint8Array {
  const n = ctx.commonIv.length;
  if (id.length > n - 6 || partialIv.length > 5) {
    throw new OscoreError(OSCORE_ERR.BAD_OPTION, `ID (${id.length} bytes) or Partial IV (${partialIv.length} bytes) too long for the nonce`);
  }
  const nonce = new Uint8Array(n);
  nonce[0] = id.length;
  nonce.set(id, n - 5 - id.length);
  nonce.set(partialIv, n - partialIv.length);
  for (let i = 0; i < n; i++) nonce[i]! ^= ctx.commonIv[i]!;
  return nonce;
}
