/**
 * OSCORE message protection (RFC 8613 §8): a CoAP request or response in, its OSCORE form out, and
 * back. Class E options go inside the AEAD, class U ones stay outside (§4.1); the outer code is
 * POST for requests and 2.04 Changed for responses (§4.2); the AAD is the COSE Enc_structure over
 * external_aad = [1, [alg], request_kid, request_piv, h''] (§5.4); responses reuse the request's
 * nonce (§5.2, no Partial IV of their own). Failures are OscoreError with the RFC 8613 answer:
 * 4.02 for a bad OSCORE option, 4.01 "Replay detected", 4.00 "Decryption failed".
 */
import { CoseError, ERR } from './errors.js';
import { encodeCbor } from './cbor-encode.js';
import { decodeCoapOptions, encodeCoapOptions, type CoapMessage, type CoapOption } from './coap-message.js';
import {
  acceptPiv,
  decodePartialIv,
  encodePartialIv,
  isFreshPiv,
  oscoreNonce,
  takeSequence,
  type OscoreContext,
} from './oscore-context.js';

/** RFC 8613 §2 / RFC 7252 §12.2. */
export const OSCORE_OPTION = 9;
/** RFC 8613 §4.1.3: Uri-Host, Uri-Port, Proxy-Uri, Proxy-Scheme (and OSCORE itself) stay outside. */
const CLASS_U = new Set([3, 7, 35, 39, OSCORE_OPTION]);
const POST = 0x02;
const CHANGED = 0x44;

export class OscoreError extends CoseError {
  /** The CoAP answer RFC 8613 §8.2/§8.4 prescribes, as class × 100 + detail (401 = 4.01). */
  readonly coapCode: number;
  /** The diagnostic payload RFC 8613 names ("Replay detected", "Decryption failed"). */
  readonly diagnostic: string;
  constructor(code: string, coapCode: number, diagnostic: string) {
    super(code, `OSCORE: ${diagnostic}`);
    this.coapCode = coapCode;
    this.diagnostic = diagnostic;
  }
}

/** What a response must be bound to (§5.4 request_kid, request_piv; §5.2 the request's nonce). */
export interface OscoreRequestBinding {
  kid: Uint8Array;
  piv: Uint8Array;
}

export interface OscoreOptionValue {
  piv: Uint8Array | undefined;
  kid: Uint8Array | undefined;
  kidContext: Uint8Array | undefined;
}

const badOption = (why: string) => new OscoreError(ERR.OSCORE_BAD_OPTION, 402, `Bad OSCORE option: ${why}`);

/** RFC 8613 §6.1: flags (n: PIV length, k: kid, h: kid context), PIV, s + kid context, kid. */
export function encodeOscoreOption(v: OscoreOptionValue): Uint8Array {
  const piv = v.piv ?? new Uint8Array(0);
  if (piv.length > 5) throw badOption('Partial IV over 5 bytes');
  const flags = piv.length | (v.kid ? 0x08 : 0) | (v.kidContext ? 0x10 : 0);
  if (flags === 0) return new Uint8Array(0);
  const out = [flags, ...piv];
  if (v.kidContext) out.push(v.kidContext.length, ...v.kidContext);
  if (v.kid) out.push(...v.kid);
  return Uint8Array.from(out);
}

export function decodeOscoreOption(value: Uint8Array): OscoreOptionValue {
  if (value.length === 0) return { piv: undefined, kid: undefined, kidContext: undefined };
  const flags = value[0]!;
  // RFC 8613 §6.1: bits 5-7 reserved (must be zero); n = 6, 7 reserved.
  if (flags & 0xe0) throw badOption('reserved flag bits set');
  const n = flags & 0x07;
  if (n > 5) throw badOption('reserved Partial IV length');
  let i = 1;
  if (i + n > value.length) throw badOption('truncated Partial IV');
  const piv = n ? value.slice(i, i + n) : undefined;
  i += n;
  let kidContext: Uint8Array | undefined;
  if (flags & 0x10) {
    if (i >= value.length) throw badOption('truncated kid context');
    const s = value[i++]!;
    if (i + s > value.length) throw badOption('truncated kid context');
    kidContext = value.slice(i, i + s);
    i += s;
  }
  const kid = flags & 0x08 ? value.slice(i) : undefined;
  if (!(flags & 0x08) && i !== value.length) throw badOption('trailing bytes');
  return { piv, kid, kidContext };
}

/** The OSCORE option of a message, decoded (undefined: the message is not OSCORE). */
export function readOscoreOption(m: CoapMessage): OscoreOptionValue | undefined {
  const opts = m.options.filter((o) => o.number === OSCORE_OPTION);
  if (opts.length === 0) return undefined;
  if (opts.length > 1) throw badOption('repeated');
  return decodeOscoreOption(opts[0]!.value);
}

/** RFC 8613 §5.4: Enc_structure ["Encrypt0", h'', external_aad]. */
function aad(ctx: OscoreContext, binding: OscoreRequestBinding): Uint8Array {
  const external = encodeCbor([1, [ctx.aeadAlg], binding.kid, binding.piv, new Uint8Array(0)]);
  return encodeCbor(['Encrypt0', new Uint8Array(0), external]);
}

/** RFC 8613 §5.3: code, class E options, payload marker and payload. */
function plaintextOf(m: CoapMessage): Uint8Array {
  const inner = encodeCoapOptions(m.options.filter((o) => !CLASS_U.has(o.number)));
  const out = [m.code, ...inner];
  if (m.payload.length > 0) out.push(0xff, ...m.payload);
  return Uint8Array.from(out);
}

function innerOf(plaintext: Uint8Array, outer: CoapMessage): CoapMessage {
  if (plaintext.length === 0) throw new OscoreError(ERR.OSCORE_DECRYPT_FAILED, 400, 'Decryption failed');
  const { options, payload } = decodeCoapOptions(plaintext, 1);
  const outerU = outer.options.filter((o) => CLASS_U.has(o.number) && o.number !== OSCORE_OPTION);
  return { code: plaintext[0]!, options: [...outerU, ...options], payload, ...(outer.token ? { token: outer.token } : {}), ...(outer.messageId !== undefined ? { messageId: outer.messageId } : {}), ...(outer.type !== undefined ? { type: outer.type } : {}) };
}

function outerMessage(m: CoapMessage, code: number, option: Uint8Array, ciphertext: Uint8Array): CoapMessage {
  const options: CoapOption[] = [...m.options.filter((o) => CLASS_U.has(o.number) && o.number !== OSCORE_OPTION), { number: OSCORE_OPTION, value: option }];
  return { ...(m.type !== undefined ? { type: m.type } : {}), code, ...(m.messageId !== undefined ? { messageId: m.messageId } : {}), ...(m.token ? { token: m.token } : {}), options, payload: ciphertext };
}

function seal(ctx: OscoreContext, nonce: Uint8Array, binding: OscoreRequestBinding, m: CoapMessage): Uint8Array {
  return ctx.provider.aeadEncrypt(ctx.aead, ctx.senderKey, nonce, aad(ctx, binding), plaintextOf(m));
}

function open(ctx: OscoreContext, nonce: Uint8Array, binding: OscoreRequestBinding, ciphertext: Uint8Array): Uint8Array {
  const plain = ciphertext.length > ctx.aead.tagLength ? ctx.provider.aeadDecrypt(ctx.aead, ctx.recipientKey, nonce, aad(ctx, binding), ciphertext) : null;
  if (!plain) throw new OscoreError(ERR.OSCORE_DECRYPT_FAILED, 400, 'Decryption failed');
  return plain;
}

/** RFC 8613 §8.1 (client): the request protected under the next sender sequence number. */
export function protectRequest(ctx: OscoreContext, request: CoapMessage): { message: CoapMessage; binding: OscoreRequestBinding } {
  const piv = encodePartialIv(takeSequence(ctx));
  const binding = { kid: ctx.senderId, piv };
  const ciphertext = seal(ctx, oscoreNonce(ctx, ctx.senderId, piv), binding, request);
  const option = encodeOscoreOption({ piv, kid: ctx.senderId, kidContext: ctx.idContext });
  return { message: outerMessage(request, POST, option, ciphertext), binding };
}

/** Public identifiers (kid context, ID Context): nothing secret, a plain comparison. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * RFC 8613 §8.2 (server): the request opened under the context its kid named (the caller looked
 * it up). Replay is checked before and recorded only after the AEAD opened (§7.4).
 */
export function unprotectRequest(ctx: OscoreContext, message: CoapMessage): { request: CoapMessage; binding: OscoreRequestBinding } {
  const opt = readOscoreOption(message);
  if (!opt || !opt.piv || !opt.kid) throw badOption('a request needs a Partial IV and a kid');
  // RFC 8613 §8.2 step 2: the context is retrieved by kid and, when the request carries one, kid
  // context; a kid context that is not this context's ID Context names another context (the
  // field is outer and unprotected: an on-path sender could otherwise add or change it at will).
  if (opt.kidContext && !(ctx.idContext && sameBytes(opt.kidContext, ctx.idContext))) throw new OscoreError(ERR.OSCORE_CONTEXT_NOT_FOUND, 401, 'Security context not found');
  const seq = decodePartialIv(opt.piv);
  if (!isFreshPiv(ctx.replay, seq, ctx.windowSize)) throw new OscoreError(ERR.OSCORE_REPLAY, 401, 'Replay detected');
  const binding = { kid: opt.kid, piv: opt.piv };
  const plain = open(ctx, oscoreNonce(ctx, opt.kid, opt.piv), binding, message.payload);
  acceptPiv(ctx.replay, seq, ctx.windowSize);
  return { request: innerOf(plain, message), binding };
}

/**
 * RFC 8613 §8.3 (server): the response under the request's nonce (no Partial IV), or with a
 * fresh one of its own (`ownPiv`, needed when the same request nonce could be answered twice,
 * e.g. after a reboot of a server that keeps no replay window).
 */
export function protectResponse(ctx: OscoreContext, response: CoapMessage, binding: OscoreRequestBinding, opts: { ownPiv?: boolean } = {}): CoapMessage {
  if (opts.ownPiv) {
    const piv = encodePartialIv(takeSequence(ctx));
    const ciphertext = seal(ctx, oscoreNonce(ctx, ctx.senderId, piv), binding, response);
    return outerMessage(response, CHANGED, encodeOscoreOption({ piv, kid: undefined, kidContext: undefined }), ciphertext);
  }
  const ciphertext = seal(ctx, oscoreNonce(ctx, binding.kid, binding.piv), binding, response);
  return outerMessage(response, CHANGED, new Uint8Array(0), ciphertext);
}

/** RFC 8613 §8.4 (client): the response to the request with `binding`. */
export function unprotectResponse(ctx: OscoreContext, message: CoapMessage, binding: OscoreRequestBinding): CoapMessage {
  const opt = readOscoreOption(message);
  if (!opt) throw badOption('the response is not OSCORE');
  const nonce = opt.piv ? oscoreNonce(ctx, ctx.recipientId, opt.piv) : oscoreNonce(ctx, binding.kid, binding.piv);
  if (opt.piv && !isFreshPiv(ctx.replay, decodePartialIv(opt.piv), ctx.windowSize)) throw new OscoreError(ERR.OSCORE_REPLAY, 401, 'Replay detected');
  const plain = open(ctx, nonce, binding, message.payload);
  if (opt.piv) acceptPiv(ctx.replay, decodePartialIv(opt.piv), ctx.windowSize);
  return innerOf(plain, message);
}
