/**
 * Test-only CoAP/UDP ends around keybound's OSCORE (cose/): a client that protects one request,
 * retransmits it as RFC 7252 §4.2 does and verifies the answer (answering a libcoap server's
 * Echo challenge, RFC 8613 §B.1.2 / RFC 9175 §2.4, by repeating the request with the Echo value),
 * and a responder that unprotects requests, serves one resource and answers refusals as RFC 8613
 * §8.2 says. node:dgram only; the device's real CoAP transport is device/adapters' (h-coap).
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  COAP_CODE,
  COAP_OPTION,
  decodeCoapMessage,
  encodeCoapMessage,
  OscoreError,
  oscoreRefusal,
  portableProvider,
  protectRequest,
  protectResponse,
  unprotectRequest,
  unprotectResponse,
  utf8,
  type CoapMessage,
  type CoapOption,
  type OscoreContext,
  type OscoreState,
  type ProtectRequestOptions,
} from '../../cose/index.js';

export interface UdpAnswer {
  /** The verified inner response, or undefined for an unprotected refusal. */
  inner?: CoapMessage;
  /** The outer (wire) response. */
  outer: CoapMessage;
  /** The server challenged the first request with Echo, and this is the answer to the repeat. */
  echoed?: boolean;
}

let nextMessageId = Math.floor(Math.random() * 0xffff);

/** One CON exchange: resolves with the first response that matches the token. */
export function exchange(bytes: Uint8Array, token: Uint8Array, port: number, host = '127.0.0.1', tries = 8): Promise<CoapMessage> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    let attempt = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (f: () => void) => {
      clearTimeout(timer);
      socket.close();
      f();
    };
    const send = () => {
      if (attempt++ >= tries) return done(() => reject(new Error(`no CoAP answer from ${host}:${port}`)));
      socket.send(bytes, port, host);
      timer = setTimeout(send, 250 * attempt);
    };
    socket.on('message', (buf) => {
      let m: CoapMessage;
      try {
        m = decodeCoapMessage(new Uint8Array(buf));
      } catch {
        return;
      }
      // An empty ACK means a separate response follows (RFC 7252 §5.2.2): keep waiting.
      if (m.code === COAP_CODE.EMPTY) return void clearTimeout(timer);
      if (!m.token || Buffer.compare(Buffer.from(m.token), Buffer.from(token)) !== 0) return;
      if (m.type === 0) socket.send(encodeCoapMessage({ type: 2, code: 0, messageId: m.messageId!, options: [], payload: new Uint8Array(0) }), port, host);
      done(() => resolve(m));
    });
    socket.bind(0, host, send);
  });
}

/** GET coap://host:port/<path> over OSCORE with `ctx`/`state`; answers an Echo challenge once. */
export async function oscoreGet(
  ctx: OscoreContext,
  state: OscoreState,
  port: number,
  path: string[],
  extra: CoapOption[] = [],
  opts: ProtectRequestOptions = {},
): Promise<UdpAnswer> {
  const token = Uint8Array.from(Buffer.from(Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0'), 'hex'));
  const request: CoapMessage = {
    type: 0,
    code: COAP_CODE.GET,
    messageId: (nextMessageId = (nextMessageId + 1) & 0xffff),
    token,
    options: [...path.map((p) => ({ number: COAP_OPTION.URI_PATH, value: utf8(p) })), ...extra],
    payload: new Uint8Array(0),
  };
  const { message, binding } = protectRequest(ctx, state, request, portableProvider, opts);
  const outer = await exchange(encodeCoapMessage(message), token, port);
  if (!outer.options.some((o) => o.number === COAP_OPTION.OSCORE)) return { outer };
  const inner = unprotectResponse(ctx, state, outer, binding, portableProvider);
  const echo = inner.options.find((o) => o.number === COAP_OPTION.ECHO);
  if (inner.code === COAP_CODE.UNAUTHORIZED && echo && !extra.some((o) => o.number === COAP_OPTION.ECHO)) {
    return { ...(await oscoreGet(ctx, state, port, path, [...extra, echo], opts)), echoed: true };
  }
  return { inner, outer };
}

export interface Responder {
  port: number;
  /** Every datagram received, as bytes (to replay one). */
  received: Uint8Array[];
  /** The OscoreError codes of refused requests, in order. */
  refusals: string[];
  close(): Promise<void>;
}

/**
 * A UDP responder: each OSCORE request is unprotected with `ctx`/`state`; GET /result answers
 * 2.05 with `body`; a refusal is the unprotected RFC 8613 §8.2 answer with its diagnostic.
 */
export function startResponder(ctx: OscoreContext, state: OscoreState, body: string): Promise<Responder> {
  const socket: Socket = createSocket('udp4');
  const received: Uint8Array[] = [];
  const refusals: string[] = [];
  socket.on('message', (buf, peer) => {
    received.push(new Uint8Array(buf));
    let req: CoapMessage;
    try {
      req = decodeCoapMessage(new Uint8Array(buf));
    } catch {
      return; // RFC 7252 §4.2: a message format error is silently ignored (or rejected with RST)
    }
    if (req.code === COAP_CODE.EMPTY || req.type === 2 || req.type === 3) return;
    let answer: CoapMessage;
    try {
      const { message, binding } = unprotectRequest(ctx, state, req, portableProvider);
      const path = message.options.filter((o) => o.number === COAP_OPTION.URI_PATH).map((o) => Buffer.from(o.value).toString());
      const found = message.code === COAP_CODE.GET && path.join('/') === 'result';
      const inner: CoapMessage = found
        ? { code: COAP_CODE.CONTENT, options: [{ number: COAP_OPTION.CONTENT_FORMAT, value: new Uint8Array(0) }], payload: utf8(body) }
        : { code: COAP_CODE.NOT_FOUND, options: [], payload: new Uint8Array(0) };
      answer = protectResponse(ctx, state, inner, binding, portableProvider);
    } catch (e) {
      const refusal = e instanceof OscoreError ? oscoreRefusal(e) : undefined;
      if (!refusal) throw e;
      refusals.push((e as OscoreError).code);
      answer = refusal;
    }
    const reply = { ...answer, type: req.type === 0 ? (2 as const) : (1 as const), messageId: req.messageId!, token: req.token! };
    socket.send(encodeCoapMessage(reply), peer.port, peer.address);
  });
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () =>
      resolve({
        port: socket.address().port,
        received,
        refusals,
        close: () => new Promise<void>((r) => socket.close(() => r())),
      }),
    ),
  );
}

/** A UDP port free right now (for peers that cannot bind port 0 and report it). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
