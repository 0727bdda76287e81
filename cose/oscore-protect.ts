/**
 * OSCORE message protection (RFC 8613 §4-8), portable: a CoAP message becomes an outer message
 * whose payload is the AES-CCM ciphertext of the inner code, the class E options and the payload,
 * under a nonce from the sender's ID and Partial IV and an AAD binding the request's kid and PIV.
 *
 * - Option classes (§4.1): Uri-Host, Uri-Port, Proxy-Uri, Proxy-Scheme and OSCORE stay outside
 *   (class U); Observe, Block1/2, Size1/2 and No-Response are both; everything else is inside.
 * - Outer codes (§4.2): a request travels as POST (FETCH with Observe), a response as 2.04
 *   Changed (2.05 Content with Observe).
 * - Server (§8.2): a malformed OSCORE option is 4.02, an unknown kid 4.01 "Security context not
 *   found", a sequence number seen or too old 4.01 "Replay detected", a failed tag 4.00
 *   "Decryption failed"; these answers go unprotected (§8.2, §7.4), as OscoreError's `coapCode`.
 */
import { encodeCbor } from './cbor-encode.js';
import { aesCcmDecrypt, aesCcmEncrypt } from './aes-ccm.js';
import { decodeCoapOptions, encodeCoapOptions, type CoapMessage, type CoapOption } from './coap-message.js';
import { CoseError } from './errors.js';
import { oscoreNonce, partialIv, OSCORE_TAG_BYTES, type OscoreContext } from './oscore-context.js';

export const OSCORE_OPTION = 9;
const OBSERVE = 6;
/** Class U alone (§4.1.3): they stay outside. */
const OUTER_ONLY = new Set([3, 7, 35, 39, OSCORE_OPTION]);
/** Both inner and outer (§4.1.3.4-6): Observe, Block2, Block1, Size2, Size1, No-Response. */
const BOTH = new Set([OBSERVE, 23, 27, 28, 60, 258]);
const POST = 0x02;
const FETCH = 0x05;
const CHANGED = 0x44;
const CONTENT = 0x45;

export type OscoreErrorCode = 'bad_option' | 'unknown_context' | 'replay' | 'decrypt_failed' | 'not_oscore';

/** An OSCORE refusal, with the CoAP code and diagnostic payload RFC 8613 §8.2/§8.4 give it. */
export class OscoreError extends Error {
  readonly code: OscoreErrorCode;
  /** The code byte of the unprotected answer: 4.02, 4.01 or 4.00. */
  readonly coapCode: number;
  constructor(code: OscoreErrorCode, message: string) {
    super(message);
    this.name = 'OscoreError';
    this.code = code;
    this.coapCode = code === 'bad_option' ? 0x82 : code === 'decrypt_failed' || code === 'not_oscore' ? 0x80 : 0x81;
  }
}

/** What the OSCORE option carries (§6.1). */
export interface OscoreOptionValue {
  piv?: Uint8Array;
  kid?: Uint8Array;
  kidContext?: Uint8Array;
}

export function encodeOscoreOption(v: OscoreOptionValue): Uint8Array {
  const piv = v.piv ?? new Uint8Array(0);
  if (piv.length > 5) throw new CoseError('ERR_COSE_BAD_LENGTH', 'Partial IV longer than 5 bytes');
  const flags = piv.length | (v.kid ? 0x08 : 0) | (v.kidContext ? 0x10 : 0);
  if (flags === 0) return new Uint8Array(0); // §6.1: all zero flags, no PIV/kid: the empty option
  const out = [flags, ...piv];
  if (v.kidContext) out.push(v.kidContext.length, ...v.kidContext);
  if (v.kid) out.push(...v.kid);
  return Uint8Array.from(out);
}

export function decodeOscoreOption(value: Uint8Array): OscoreOptionValue {
  if (value.length === 0) return {};
  const flags = value[0]!;
  // §6.1: bits 5-7 are reserved (the extension bit 7 too: this implementation knows no flag byte 2).
  if (flags & 0xe0) throw new OscoreError('bad_option', 'OSCORE option: reserved flag bits set');
  const n = flags & 0x07;
  if (n > 5) throw new OscoreError('bad_option', 'OSCORE option: Partial IV length 6-7 is reserved');
  let at = 1;
  if (at + n > value.length) throw new OscoreError('bad_option', 'OSCORE option: Partial IV truncated');
  const out: OscoreOptionValue = {};
  if (n) out.piv = value.slice(at, at + n);
  at += n;
  if (flags & 0x10) {
    if (at >= value.length) throw new OscoreError('bad_option', 'OSCORE option: kid context truncated');
    const s = value[at++]!;
    if (at + s > value.length) throw new OscoreError('bad_option', 'OSCORE option: kid context truncated');
    out.kidContext = value.slice(at, at + s);
    at += s;
  }
  if (flags & 0x08) out.kid = value.slice(at);
  else if (at !== value.length) throw new OscoreError('bad_option', 'OSCORE option: bytes after the fields its flags name');
  return out;
}

/** What a response's protection needs from its request (§5.4: the AAD's request_kid and request_piv). */
export interface OscoreRequestBinding {
  kid: Uint8Array;
  piv: Uint8Array;
  nonce: Uint8Array;
  observe: boolean;
}

function aad(ctx: OscoreContext, kid: Uint8Array, piv: Uint8Array): Uint8Array {
  // §5.4: external_aad = [version 1, [alg_aead], request_kid, request_piv, class I options (none)],
  // in the COSE Enc_structure ["Encrypt0", h'', external_aad].
  const external = encodeCbor([1, [ctx.aeadAlg], kid, piv, new Uint8Array(0)]);
  return encodeCbor(['Encrypt0', new Uint8Array(0), external]);
}

function split(m: CoapMessage): { inner: CoapOption[]; outer: CoapOption[] } {
  const inner: CoapOption[] = [];
  const outer: CoapOption[] = [];
  for (const o of m.options) {
    if (o.number === OSCORE_OPTION) continue;
    if (OUTER_ONLY.has(o.number)) outer.push(o);
    else if (o.number === OBSERVE) (inner.push(o), outer.push(o));
    else if (BOTH.has(o.number)) outer.push(o); // block-wise and sizes of the outer message (§4.1.3.4.2)
    else inner.push(o);
  }
  return { inner, outer };
}

function plaintext(code: number, options: CoapOption[], payload: Uint8Array): Uint8Array {
  const opts = encodeCoapOptions(options);
  const out = new Uint8Array(1 + opts.length + (payload.length ? 1 + payload.length : 0));
  out[0] = code;
  out.set(opts, 1);
  if (payload.length) {
    out[1 + opts.length] = 0xff;
    out.set(payload, 2 + opts.length);
  }
  return out;
}

function parsePlaintext(p: Uint8Array): { code: number; options: CoapOption[]; payload: Uint8Array } {
  if (p.length < 1) throw new OscoreError('decrypt_failed', 'empty OSCORE plaintext');
  try {
    const { options, payloadStart } = decodeCoapOptions(p, 1);
    return { code: p[0]!, options, payload: p.slice(payloadStart) };
  } catch {
    throw new OscoreError('decrypt_failed', 'OSCORE plaintext is not a CoAP message');
  }
}

const seqOf = (piv: Uint8Array) => piv.reduce((n, b) => n * 256 + b, 0);

/** Client: protects a request with the next sequence number; keep the binding for the response. */
export function protectRequest(ctx: OscoreContext, m: CoapMessage): { message: CoapMessage; binding: OscoreRequestBinding } {
  const piv = partialIv(ctx.nextSeq());
  const nonce = oscoreNonce(ctx.commonIv, ctx.senderId, piv);
  const { inner, outer } = split(m);
  const observe = m.options.some((o) => o.number === OBSERVE);
  const sealed = aesCcmEncrypt(ctx.senderKey, nonce, aad(ctx, ctx.senderId, piv), plaintext(m.code, inner, m.payload), OSCORE_TAG_BYTES);
  const option = encodeOscoreOption({ piv, kid: ctx.senderId, ...(ctx.idContext ? { kidContext: ctx.idContext } : {}) });
  return {
    message: { ...m, code: observe ? FETCH : POST, options: [...outer, { number: OSCORE_OPTION, value: option }], payload: sealed },
    binding: { kid: ctx.senderId, piv, nonce, observe },
  };
}

/** The kid a request names (to find its context), or throws 4.02 / not_oscore. */
export function requestKid(m: CoapMessage): Uint8Array {
  const option = m.options.find((o) => o.number === OSCORE_OPTION);
  if (!option) throw new OscoreError('not_oscore', 'no OSCORE option');
  const v = decodeOscoreOption(option.value);
  // §8.2: a request must carry a Partial IV and a kid.
  if (!v.piv || !v.kid) throw new OscoreError('bad_option', 'OSCORE request without Partial IV or kid');
  return v.kid;
}

/** Server: verifies and decrypts a request (§8.2); the inner message and the binding for the answer. */
export function unprotectRequest(ctx: OscoreContext, m: CoapMessage): { message: CoapMessage; binding: OscoreRequestBinding } {
  const option = m.options.find((o) => o.number === OSCORE_OPTION);
  if (!option) throw new OscoreError('not_oscore', 'no OSCORE option');
  const v = decodeOscoreOption(option.value);
  if (!v.piv || !v.kid) throw new OscoreError('bad_option', 'OSCORE request without Partial IV or kid');
  if (v.kid.length !== ctx.recipientId.length || !v.kid.every((b, i) => b === ctx.recipientId[i])) throw new OscoreError('unknown_context', 'Security context not found');
  const seq = seqOf(v.piv);
  if (!ctx.isFresh(seq)) throw new OscoreError('replay', 'Replay detected');
  const nonce = oscoreNonce(ctx.commonIv, ctx.recipientId, v.piv);
  const opened = aesCcmDecrypt(ctx.recipientKey, nonce, aad(ctx, v.kid, v.piv), m.payload, OSCORE_TAG_BYTES);
  if (!opened) throw new OscoreError('decrypt_failed', 'Decryption failed');
  ctx.accept(seq); // only after the tag verified (§7.4)
  const inner = parsePlaintext(opened);
  const outer = m.options.filter((o) => o.number !== OSCORE_OPTION && (OUTER_ONLY.has(o.number) || BOTH.has(o.number)) && o.number !== OBSERVE);
  const observe = m.options.some((o) => o.number === OBSERVE);
  return {
    message: { ...m, code: inner.code, options: [...outer, ...inner.options], payload: inner.payload },
    binding: { kid: v.kid, piv: v.piv, nonce, observe },
  };
}

/**
 * Server: protects the answer to `binding`'s request. Under the request's nonce by default
 * (§8.3); `freshPiv` takes a sequence number of the server's own (an Observe notification, or an
 * answer after a reboot where the request's nonce must not be used twice, §B.1.2).
 */
export function protectResponse(ctx: OscoreContext, binding: OscoreRequestBinding, m: CoapMessage, opts: { freshPiv?: boolean } = {}): CoapMessage {
  const { inner, outer } = split(m);
  let nonce = binding.nonce;
  let option: Uint8Array = new Uint8Array(0);
  if (opts.freshPiv || binding.observe) {
    const piv = partialIv(ctx.nextSeq());
    nonce = oscoreNonce(ctx.commonIv, ctx.senderId, piv);
    option = encodeOscoreOption({ piv });
  }
  const sealed = aesCcmEncrypt(ctx.senderKey, nonce, aad(ctx, binding.kid, binding.piv), plaintext(m.code, inner, m.payload), OSCORE_TAG_BYTES);
  return { ...m, code: binding.observe ? CONTENT : CHANGED, options: [...outer, { number: OSCORE_OPTION, value: option }], payload: sealed };
}

/** Client: verifies and decrypts the answer to the request of `binding` (§8.4). */
export function unprotectResponse(ctx: OscoreContext, binding: OscoreRequestBinding, m: CoapMessage): CoapMessage {
  const option = m.options.find((o) => o.number === OSCORE_OPTION);
  if (!option) throw new OscoreError('not_oscore', 'the answer is not OSCORE-protected');
  const v = decodeOscoreOption(option.value);
  const nonce = v.piv ? oscoreNonce(ctx.commonIv, ctx.recipientId, v.piv) : binding.nonce;
  const opened = aesCcmDecrypt(ctx.recipientKey, nonce, aad(ctx, binding.kid, binding.piv), m.payload, OSCORE_TAG_BYTES);
  if (!opened) throw new OscoreError('decrypt_failed', 'Decryption failed');
  const inner = parsePlaintext(opened);
  const outer = m.options.filter((o) => o.number !== OSCORE_OPTION && o.number !== OBSERVE && (OUTER_ONLY.has(o.number) || BOTH.has(o.number)));
  return { ...m, code: inner.code, options: [...outer, ...inner.options], payload: inner.payload };
}
