/**
 * RFC 9175 §2.4 / RFC 7252 §11.3 on the device's CoAP transport: an unprotected answer is sent to
 * an unverified source only when it is at most AMPLIFICATION_FACTOR times the request's datagram.
 * A larger one (the RFC 9200 §5.2 AS Request Creation Hints to a 4-byte GET, "Security context not
 * found" to a short OSCORE request) needs the request to carry an Echo value the device issued for
 * that address (echo-challenge.ts); without one, the answer is 4.01 with a fresh Echo, itself within
 * the bound. OSCORE-protected answers pass: only a holder of the context can make a request that
 * verifies (a replay is refused before an answer is made), RFC 8613 §7.4.
 *
 * The handler has run before the size is known; what it did for an answer that is then held back is
 * nothing: the unprotected answers are refusals and hints, and /authz-info's 2.01 (the one that
 * stores a token) is smaller than the token it answers.
 */
import { type CoapExchange, type CoapHandler, type CoapRawOption, type CoapReply } from './coap-transport.js';
import { AMPLIFICATION_FACTOR, ECHO_OPTION, type EchoChallenge } from './echo-challenge.js';

const OSCORE_OPTION = 9;
/** The Block1 option the transport adds to the answer of a block-wise body (RFC 7959 §2.3): at most 1 + 1 + 3 bytes, and a delta byte it may move. */
const BLOCK1_ANSWER_BYTES = 6;

/** RFC 7252 §3.1: an option's encoded size (delta and length with their extended bytes, then the value). */
function optionBytes(delta: number, length: number): number {
  const ext = (n: number) => (n < 13 ? 0 : n < 269 ? 1 : 2);
  return 1 + ext(delta) + ext(length) + length;
}

/** The answer's datagram size as the transport sends it (header, token, options in order, payload marker). */
export function answerBytes(exchange: Pick<CoapExchange, 'tokenBytes' | 'blockwise'>, reply: Pick<CoapReply, 'options' | 'payload'>): number {
  let size = 4 + exchange.tokenBytes + (exchange.blockwise ? BLOCK1_ANSWER_BYTES : 0);
  let last = 0;
  for (const o of [...(reply.options ?? [])].sort((a, b) => a.number - b.number)) {
    size += optionBytes(o.number - last, o.value.length);
    last = o.number;
  }
  const payload = reply.payload?.length ?? 0;
  return payload > 0 ? size + 1 + payload : size;
}

const isProtected = (options: CoapRawOption[] | undefined) => (options ?? []).some((o) => o.number === OSCORE_OPTION);

export function guardAmplification(handler: CoapHandler, challenge: EchoChallenge, onChallenge?: (peer: string) => void): CoapHandler {
  return async (exchange) => {
    const reply = await handler(exchange);
    if (isProtected(reply.options)) return reply;
    if (answerBytes(exchange, reply) <= AMPLIFICATION_FACTOR * exchange.requestBytes) return reply;
    const echo = exchange.options.find((o) => o.number === ECHO_OPTION);
    if (echo && challenge.verify(exchange.peer.address, echo.value)) return reply;
    onChallenge?.(`${exchange.peer.address}:${exchange.peer.port}`);
    // RFC 9175 §2.4 item 3: 4.01 with Echo and nothing else; the client repeats the request with it.
    return { code: '4.01', options: [{ number: ECHO_OPTION, value: challenge.issue(exchange.peer.address) }] };
  };
}
