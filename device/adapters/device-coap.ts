/**
 * The device's CoAP resources (issue 12), on the CoAP transport (coap-transport.ts), for the same
 * device node the broker relay serves (device-node.ts), so one token store and one replay state
 * answer both transports:
 * - `/authz-info` (POST, application/ace+cbor, RFC 9200 §5.10.1, RFC 9203 §4.1): the token post,
 *   device/authz-info.ts's exchange (nonce1/nonce2, ids, the OSCORE context); 2.01 or its refusal;
 * - `/req` (POST): what the relay's `ace/<device>/req` carries, answered 2.04 with the answer body.
 * - OSCORE-protected requests (RFC 8613) under a static context (`--oscore-conf`, libcoap's
 *   `-E` without ACE): verified and decrypted with cose/'s OSCORE, the inner request served by the
 *   device's resources (the demo's `/result`, or `--handler`'s), the answer protected under the
 *   request's nonce. A replay is 4.01 "Replay detected", a failed tag 4.00, an unknown kid 4.01,
 *   a malformed OSCORE option 4.02, unprotected as §8.2 says. The context's sequence numbers and
 *   replay window live in the device's storage (§B.1.1), so a restart neither reuses a nonce nor
 *   lets an old request in again.
 * Anything else is 4.04, another method 4.05 (RFC 7252 §5.9.2.5).
 */
import {
  coapCodeByte,
  coapCodeText,
  decodeCbor,
  encodeCbor,
  utf8,
  protectResponse,
  unprotectRequest,
  OscoreError,
  OSCORE_OPTION,
  type CoapOption,
  type OscoreContext,
  type OscoreContextStore,
} from '../../cose/index.js';
import { decodeResponseBody, serveRequest, CONTENT_FORMAT_ACE_CBOR, type DeviceHandler, type DeviceNode, type DeviceStorage, type Logger } from '../index.js';
import { startCoapTransport, COAP_OPTION, type CoapExchange, type CoapReply, type CoapTransport } from './coap-transport.js';
import type { Block1Limits } from './block1-reassembly.js';


export interface DeviceCoapOptions {
  node: DeviceNode;
  logger: Logger;
  port?: number;
  host?: string;
  block1?: Partial<Block1Limits>;
  /** A static OSCORE context and the resources it reaches (no token: holding the context is the right). */
  oscore?: { context: OscoreContext; handler: DeviceHandler };
}

/** The storage of a static context's state: sequence reservation and replay window (RFC 8613 §B.1). */
export function oscoreContextStore(storage: DeviceStorage, name: string): OscoreContextStore {
  const read = (key: string) => {
    const bytes = storage.get(key);
    return bytes ? decodeCbor(bytes, { maxBytes: 64, maxDepth: 2 }) : undefined;
  };
  return {
    loadSeq() {
      const v = read(`oscore-${name}-seq`);
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
    },
    saveSeq: (next) => storage.put(`oscore-${name}-seq`, encodeCbor(next)),
    loadWindow() {
      const v = read(`oscore-${name}-window`);
      return Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'number' ? { highest: v[0], bits: v[1] } : undefined;
    },
    saveWindow: (w) => storage.put(`oscore-${name}-window`, encodeCbor([w.highest, w.bits])),
  };
}

/** RFC 8613 §8.2: an unprotected refusal with its diagnostic payload; Max-Age 0 so no proxy keeps it. */
function oscoreRefusal(error: OscoreError): CoapReply {
  return { code: coapCodeText(error.coapCode), options: [{ number: COAP_OPTION.MAX_AGE, value: new Uint8Array(0) }], payload: utf8(error.message) };
}

const METHOD_OF: Record<number, string> = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE', 5: 'FETCH' };

/** Serves one OSCORE-protected request under `ctx` with `handler`; never throws. */
export function serveOscore(ctx: OscoreContext, handler: DeviceHandler, exchange: CoapExchange, onRefusal: (reason: string) => void): CoapReply {
  let opened;
  try {
    opened = unprotectRequest(ctx, { code: coapCodeByte(exchange.code), options: exchange.options, payload: exchange.payload });
  } catch (error) {
    if (error instanceof OscoreError) {
      onRefusal(`oscore_${error.code}`);
      return oscoreRefusal(error);
    }
    onRefusal('oscore_bad_request');
    return { code: '4.00' };
  }
  const inner = opened.message;
  const path = '/' + inner.options.filter((o) => o.number === COAP_OPTION.URI_PATH).map((o) => new TextDecoder().decode(o.value)).join('/');
  const method = METHOD_OF[inner.code];
  const body = method ? handler({ method, resource: path, payload: inner.payload, subject: undefined }) : { code: 405 };
  const options: CoapOption[] = []; // the resource names no Content-Format: none is claimed
  const code = Math.floor(body.code / 100) * 32 + (body.code % 100);
  const answer = protectResponse(ctx, opened.binding, { code, options, payload: body.payload ?? new Uint8Array(0) });
  return { code: coapCodeText(answer.code), options: answer.options, payload: answer.payload };
}

/** An HTTP-like number (401) as a CoAP code ("4.01"). */
export function coapCode(n: number): string {
  return `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`;
}

const ACE_CBOR = [{ number: COAP_OPTION.CONTENT_FORMAT, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }];

function uintBytes(n: number): Uint8Array {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.from(out);
}

function contentFormatOf(exchange: CoapExchange): number | undefined {
  const o = exchange.options.find((x) => x.number === COAP_OPTION.CONTENT_FORMAT);
  if (!o) return undefined;
  let n = 0;
  for (const b of o.value) n = n * 256 + b;
  return n;
}

/** The code an answer body carries (a refusal), or `success` when it is no refusal body. */
function answerCode(body: Uint8Array, success: string): string {
  try {
    const { code, error } = decodeResponseBody(body);
    return error !== undefined && code >= 400 && code < 600 ? coapCode(code) : success;
  } catch {
    return success; // the success answers are other maps (authz-info's nonce2 / ids)
  }
}

export function deviceCoapHandler(node: DeviceNode, opts: Pick<DeviceCoapOptions, 'oscore'> & { onRefusal?: (reason: string) => void } = {}): (exchange: CoapExchange) => CoapReply {
  const onRefusal = opts.onRefusal ?? (() => undefined);
  return (exchange) => {
    if (exchange.options.some((o) => o.number === OSCORE_OPTION)) {
      if (!opts.oscore) {
        onRefusal('oscore_no_context');
        return oscoreRefusal(new OscoreError('unknown_context', 'Security context not found'));
      }
      return serveOscore(opts.oscore.context, opts.oscore.handler, exchange, onRefusal);
    }
    if (exchange.path === '/authz-info') {
      if (exchange.method !== 'POST') return { code: '4.05' };
      // RFC 9203 §4.1 / RFC 9200 §5.10.1: device/authz-info.ts checks the format, the body and the token.
      const answer = node.server.authzInfoExchange(exchange.payload, contentFormatOf(exchange));
      return {
        code: coapCode(answer.code),
        ...(answer.contentFormat !== undefined ? { options: [{ number: COAP_OPTION.CONTENT_FORMAT, value: uintBytes(answer.contentFormat) }] } : {}),
        payload: answer.payload,
      };
    }
    if (exchange.path === '/req') {
      if (exchange.method !== 'POST') return { code: '4.05' };
      const answer = serveRequest(node.server, exchange.payload);
      return { code: answerCode(answer, '2.04'), options: ACE_CBOR, payload: answer };
    }
    return { code: '4.04' };
  };
}

export function startDeviceCoap(opts: DeviceCoapOptions): Promise<CoapTransport> {
  const handler = deviceCoapHandler(opts.node, {
    ...(opts.oscore ? { oscore: opts.oscore } : {}),
    onRefusal: (reason) => opts.logger.warn({ event: 'coap_refused', reason }, 'device: coap refused'),
  });
  return startCoapTransport({
    handler,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.block1 ? { block1: opts.block1 } : {}),
    // Reasons and peers only: never a payload.
    onRefusal: (reason, peer) => opts.logger.warn({ event: 'coap_refused', reason, peer }, 'device: coap refused'),
  });
}
