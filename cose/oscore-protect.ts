/**
 * OSCORE message protection (RFC 8613 §8): a CoAP request or response becomes an outer message
 * whose payload is the AEAD of Code ‖ Class E options ‖ payload (§5.3), with the compressed
 * OSCORE option (§6.1) and the Class U options outside (§4.1). The request binding (request_kid,
 * request_piv) ties the response to its request through the external_aad (§5.4) and, when the
 * response carries no Partial IV, through the request's nonce (§8.3).
 */
import { concatBytes } from './bytes.js';
import { encodeCbor } from './cbor-encode.js';
import {
  COAP_CODE,
  COAP_OPTION,
  decodeCoapOptionsAndPayload,
  encodeCoapOptionsAndPayload,
  type CoapMessage,
  type CoapOption,
} from './coap-message.js';
import type { CryptoProvider } from './crypto-provider.js';
import { oscoreNonce, type OscoreContext } from './oscore-context.js';
import { OscoreError, OSCORE_ERR } from './oscore-errors.js';
import { decodeOscoreOption, encodeOscoreOption, numberToPartialIv, partialIvToNumber, type OscoreOptionValue } from './oscore-option.js';
import type { OscoreState } from './oscore-state.js';

/** What a response is bound to (RFC 8613 §5.4 request_kid, request_piv). */
export interface OscoreRequestBinding {
  /** The request's kid: the client's Sender ID. */
  readonly kid: Uint8Array;
  /** The request's Partial IV. */
  readonly piv: Uint8Array;
  /** Set once a response reused the request's nonce: a second one must carry its own Partial IV (§8.3). */
  nonceUsed?: boolean;
}

export interface ProtectedRequest {
  /** The OSCORE message to send. */
  message: CoapMessage;
  binding: OscoreRequestBinding;
}

export interface UnprotectedRequest {
  /** The request as the client wrote it: inner code, Class E options with the outer Class U ones, payload. */
  message: CoapMessage;
  binding: OscoreRequestBinding;
  /** The client's sender sequence number (the Partial IV as a number). */
  sequenceNumber: number;
}

export interface ProtectRequestOptions {
  /** Send the ID Context as 'kid context' (RFC 8613 §6.1, as in C.6); default false. */
  sendKidContext?: boolean;
}

export interface ProtectResponseOptions {
  /**
   * Use a fresh Partial IV from the server's own sequence numbers (RFC 8613 §8.3, as in C.8) rather
   * than the request's nonce (C.7). Forced for any response after the first to one request.
   */
  partialIv?: boolean;
}

/**
 * RFC 8613 §4.1 (Figure 5): options only the outer message carries (Class U), with Hop-Limit
 * (RFC 8768 §3, as libcoap does). Proxy-Uri is refused rather than decomposed (§4.1.3.3), and any
 * option not named here is Class E.
 */
const CLASS_U = new Set<number>([COAP_OPTION.URI_HOST, COAP_OPTION.URI_PORT, COAP_OPTION.PROXY_SCHEME, COAP_OPTION.HOP_LIMIT, COAP_OPTION.OSCORE]);

/** The oscore_version of the external_aad (RFC 8613 §5.4). */
const OSCORE_VERSION = 1;

/** A CBOR byte string head (RFC 8949 §3.1, major type 2) for `n` bytes. */
function bstrHead(n: number): number[] {
  if (n < 24) return [0x40 | n];
  if (n < 0x100) return [0x58, n];
  if (n < 0x10000) return [0x59, n >> 8, n & 0xff];
  throw new OscoreError(OSCORE_ERR.BAD_MESSAGE, 'AAD field too long');
}

/** "Encrypt0" as a CBOR text string (RFC 9052 §5.3 context). */
const ENCRYPT0 = [0x68, .../* @__PURE__ */ 'Encrypt0'.split('').map((c) => c.charCodeAt(0))];

/**
 * RFC 8613 §5.4: Enc_structure ["Encrypt0", h'', bstr(aad_array)], aad_array = [1, [alg], kid,
 * piv, h''] (no Class I options, so `options` is empty). Written directly (it is built for every
 * message, and its shape is fixed); test/oscore-vectors.test.ts checks it against C.4–C.8.
 */
export function oscoreAad(ctx: OscoreContext, requestKid: Uint8Array, requestPiv: Uint8Array): Uint8Array {
  const alg = encodeCbor(ctx.aeadAlg);
  const external = [0x85, OSCORE_VERSION, 0x81, ...alg, ...bstrHead(requestKid.length), ...requestKid, ...bstrHead(requestPiv.length), ...requestPiv, 0x40];
  return Uint8Array.from([0x83, ...ENCRYPT0, 0x40, ...bstrHead(external.length), ...external]);
}

function hasObserve(m: CoapMessage): boolean {
  return m.options.some((o) => o.number === COAP_OPTION.OBSERVE);
}

function split(m: CoapMessage, response: boolean): { inner: CoapOption[]; outer: CoapOption[] } {
  const inner: CoapOption[] = [];
  const outer: CoapOption[] = [];
  for (const o of m.options) {
    if (o.number === COAP_OPTION.OSCORE) throw new OscoreError(OSCORE_ERR.BAD_MESSAGE, 'the message is already OSCORE-protected');
    if (o.number === COAP_OPTION.PROXY_URI) throw new OscoreError(OSCORE_ERR.BAD_MESSAGE, 'Proxy-Uri must be decomposed (RFC 8613 §4.1.3.3): not supported');
    if (o.number === COAP_OPTION.OBSERVE) {
      // RFC 8613 §4.1.3.5: Observe is both, the outer one for proxies; a notification's inner one
      // is empty (§4.1.3.5.2), its order being the Partial IV's.
      outer.push(o);
      inner.push(response ? { number: o.number, value: new Uint8Array(0) } : o);
    } else if (CLASS_U.has(o.number)) outer.push(o);
    else inner.push(o);
  }
  return { inner, outer };
}

/** RFC 8613 §5.3: plaintext = Code ‖ Class E options ‖ 0xFF ‖ payload. */
function plaintextOf(m: CoapMessage, inner: CoapOption[]): Uint8Array {
  if (!Number.isInteger(m.code) || m.code < 0 || m.code > 255) throw new OscoreError(OSCORE_ERR.BAD_MESSAGE, 'code must be one byte');
  try {
    return concatBytes(Uint8Array.of(m.code), encodeCoapOptionsAndPayload(inner, m.payload));
  } catch (cause) {
    throw new OscoreError(OSCORE_ERR.BAD_MESSAGE, 'options or payload cannot be encoded', { cause });
  }
}

function open(
  ctx: OscoreContext,
  provider: CryptoProvider,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  outer: CoapMessage,
): { code: number; options: CoapOption[]; payload: Uint8Array } {
  if (outer.payload.length < ctx.aead.tagLength + 1) throw new OscoreError(OSCORE_ERR.DECRYPT_FAILED, 'ciphertext shorter than a tag and a code');
  const plaintext = provider.aeadDecrypt(ctx.aead, key, nonce, aad, outer.payload);
  if (!plaintext) throw new OscoreError(OSCORE_ERR.DECRYPT_FAILED, 'the AEAD tag does not verify');
  let rest: { options: CoapOption[]; payload: Uint8Array };
  try {
    rest = decodeCoapOptionsAndPayload(plaintext, 1);
  } catch (cause) {
    throw new OscoreError(OSCORE_ERR.BAD_PLAINTEXT, 'the plaintext is not Code ‖ options ‖ payload', { cause });
  }
  // Class U options inside, or a nested OSCORE option, are not the sender's to set: drop them.
  const options = rest.options.filter((o) => !CLASS_U.has(o.number));
  return { code: plaintext[0]!, options, payload: rest.payload };
}

/** The OSCORE option of a message, decoded (4.02 when malformed), or undefined when there is none. */
export function readOscoreOption(m: CoapMessage): OscoreOptionValue | undefined {
  const found = m.options.filter((o) => o.number === COAP_OPTION.OSCORE);
  if (found.length === 0) return undefined;
  if (found.length > 1) throw new OscoreError(OSCORE_ERR.BAD_OPTION, 'OSCORE option repeated');
  return decodeOscoreOption(found[0]!.value);
}

function outerMessage(m: CoapMessage, code: number, outer: CoapOption[], option: Uint8Array, ciphertext: Uint8Array): CoapMessage {
  const message: CoapMessage = { code, options: [...outer, { number: COAP_OPTION.OSCORE, value: option }], payload: ciphertext };
  // The header is the transport's: type, Message ID and Token pass through unchanged (RFC 8613 §4.2).
  if (m.type !== undefined) message.type = m.type;
  if (m.messageId !== undefined) message.messageId = m.messageId;
  if (m.token !== undefined) message.token = m.token;
  return message;
}

function innerMessage(outer: CoapMessage, opened: { code: number; options: CoapOption[]; payload: Uint8Array }): CoapMessage {
  // §8.2 step 7 / §8.4 step 6: the decrypted code, options and payload, with the outer Class U options.
  const outerU = outer.options.filter((o) => CLASS_U.has(o.number) && o.number !== COAP_OPTION.OSCORE);
  // A notification's inner Observe is empty (§4.1.3.5.2): its value is the outer one.
  const outerObserve = outer.options.find((o) => o.number === COAP_OPTION.OBSERVE);
  const inner = opened.options.map((o) => (o.number === COAP_OPTION.OBSERVE && o.value.length === 0 && outerObserve ? outerObserve : o));
  const message: CoapMessage = { code: opened.code, options: [...outerU, ...inner], payload: opened.payload };
  if (outer.type !== undefined) message.type = outer.type;
  if (outer.messageId !== undefined) message.messageId = outer.messageId;
  if (outer.token !== undefined) message.token = outer.token;
  return message;
}

/** RFC 8613 §8.1: protects a request with the next sender sequence number. */
export function protectRequest(
  ctx: OscoreContext,
  state: OscoreState,
  request: CoapMessage,
  provider: CryptoProvider,
  opts: ProtectRequestOptions = {},
): ProtectedRequest {
  const { inner, outer } = split(request, false);
  const kidContext = opts.sendKidContext ? ctx.idContext : undefined;
  if (opts.sendKidContext && !kidContext) throw new OscoreError(OSCORE_ERR.BAD_CONTEXT, 'no ID Context to send as kid context');
  const plaintext = plaintextOf(request, inner);
  // Everything that can refuse is checked before a sequence number is spent.
  const piv = numberToPartialIv(state.nextSequenceNumber());
  const kid = ctx.senderId;
  const ciphertext = provider.aeadEncrypt(ctx.aead, ctx.senderKey, oscoreNonce(ctx, kid, piv), oscoreAad(ctx, kid, piv), plaintext);
  const option = encodeOscoreOption({ partialIv: piv, kid, ...(kidContext && { kidContext }) });
  // RFC 8613 §4.2: the outer code is POST, or FETCH for an Observe registration.
  const code = hasObserve(request) ? COAP_CODE.FETCH : COAP_CODE.POST;
  return { message: outerMessage(request, code, outer, option, ciphertext), binding: { kid: kid.slice(), piv } };
}

/**
 * RFC 8613 §8.2: verifies and decrypts a request for this context. Errors carry the answer the
 * RFC prescribes (`OscoreError.coap`): 4.02 malformed option, 4.01 unknown kid (or kid context)
 * and replay, 4.00 decryption failed.
 */
export function unprotectRequest(ctx: OscoreContext, state: OscoreState, outer: CoapMessage, provider: CryptoProvider): UnprotectedRequest {
  const option = readOscoreOption(outer);
  if (!option) throw new OscoreError(OSCORE_ERR.BAD_OPTION, 'no OSCORE option');
  // §8.2 step 2: a request carries kid and Partial IV.
  if (!option.kid || !option.partialIv) throw new OscoreError(OSCORE_ERR.BAD_OPTION, 'a request needs kid and Partial IV');
  if (!sameBytes(option.kid, ctx.recipientId)) throw new OscoreError(OSCORE_ERR.UNKNOWN_CONTEXT, 'kid names no context here');
  if (option.kidContext && !(ctx.idContext && sameBytes(option.kidContext, ctx.idContext))) {
    throw new OscoreError(OSCORE_ERR.UNKNOWN_CONTEXT, 'kid context names no context here');
  }
  const piv = option.partialIv;
  const seq = partialIvToNumber(piv);
  // §7.4: refuse a seen number before spending an AEAD on it; mark it only once it verified.
  if (!state.isFresh(seq)) throw new OscoreError(OSCORE_ERR.REPLAY, `sequence number ${seq} replayed or below the window`);
  const opened = open(ctx, provider, ctx.recipientKey, oscoreNonce(ctx, option.kid, piv), oscoreAad(ctx, option.kid, piv), outer);
  state.acceptSequenceNumber(seq);
  return { message: innerMessage(outer, opened), binding: { kid: option.kid, piv }, sequenceNumber: seq };
}

/** RFC 8613 §8.3: protects the response to the request `binding` came from. */
export function protectResponse(
  ctx: OscoreContext,
  state: OscoreState,
  response: CoapMessage,
  binding: OscoreRequestBinding,
  provider: CryptoProvider,
  opts: ProtectResponseOptions = {},
): CoapMessage {
  const { inner, outer } = split(response, true);
  const plaintext = plaintextOf(response, inner);
  const aad = oscoreAad(ctx, binding.kid, binding.piv);
  // §8.3: only the first response may reuse the request's nonce (a second would repeat key and
  // nonce), and a notification always carries its own Partial IV.
  const fresh = opts.partialIv === true || binding.nonceUsed === true || hasObserve(response);
  let nonce: Uint8Array;
  let option: Uint8Array;
  if (fresh) {
    const piv = numberToPartialIv(state.nextSequenceNumber());
    nonce = oscoreNonce(ctx, ctx.senderId, piv);
    option = encodeOscoreOption({ partialIv: piv });
  } else {
    binding.nonceUsed = true;
    nonce = oscoreNonce(ctx, binding.kid, binding.piv);
    option = new Uint8Array(0);
  }
  const ciphertext = provider.aeadEncrypt(ctx.aead, ctx.senderKey, nonce, aad, plaintext);
  // RFC 8613 §4.2: the outer code is 2.04 (Changed), or 2.05 (Content) for an Observe notification.
  const code = hasObserve(response) ? COAP_CODE.CONTENT : COAP_CODE.CHANGED;
  return outerMessage(response, code, outer, option, ciphertext);
}

/**
 * RFC 8613 §8.4: verifies and decrypts the response to the request `binding` came from. A response
 * with its own Partial IV (a notification, or a second response) also passes the replay window
 * (§7.4.1), so a captured one cannot be delivered twice.
 */
export function unprotectResponse(ctx: OscoreContext, state: OscoreState, outer: CoapMessage, binding: OscoreRequestBinding, provider: CryptoProvider): CoapMessage {
  const option = readOscoreOption(outer);
  if (!option) throw new OscoreError(OSCORE_ERR.BAD_OPTION, 'no OSCORE option in the response');
  const aad = oscoreAad(ctx, binding.kid, binding.piv);
  if (!option.partialIv) return innerMessage(outer, open(ctx, provider, ctx.recipientKey, oscoreNonce(ctx, binding.kid, binding.piv), aad, outer));
  // §8.4 step 3: with a Partial IV the nonce is the server's own.
  const seq = partialIvToNumber(option.partialIv);
  if (!state.isFresh(seq)) throw new OscoreError(OSCORE_ERR.REPLAY, `response sequence number ${seq} replayed or below the window`);
  const opened = open(ctx, provider, ctx.recipientKey, oscoreNonce(ctx, ctx.recipientId, option.partialIv), aad, outer);
  state.acceptSequenceNumber(seq);
  return innerMessage(outer, opened);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
