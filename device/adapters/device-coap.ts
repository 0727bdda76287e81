/**
 * The device's CoAP resources (issue 12), on the CoAP transport (coap-transport.ts), for the same
 * device node the broker relay serves (device-node.ts), so one token store and one replay state
 * answer both transports:
 * - `/authz-info` (POST, application/ace+cbor, RFC 9200 §5.10.1, RFC 9203 §4.1): the token post,
 *   device/authz-info.ts's exchange (nonce1/nonce2, ids, the OSCORE context); 2.01 or its refusal;
 * - `/req` (POST): what the relay's `ace/<device>/req` carries, answered 2.04 with the answer body.
 * Anything else is 4.04, another method 4.05 (RFC 7252 §5.9.2.5).
 */
import { decodeResponseBody, serveRequest, CONTENT_FORMAT_ACE_CBOR, type DeviceNode, type Logger } from '../index.js';
import { startCoapTransport, COAP_OPTION, type CoapExchange, type CoapReply, type CoapTransport } from './coap-transport.js';
import type { Block1Limits } from './block1-reassembly.js';


export interface DeviceCoapOptions {
  node: DeviceNode;
  logger: Logger;
  port?: number;
  host?: string;
  block1?: Partial<Block1Limits>;
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

export function deviceCoapHandler(node: DeviceNode): (exchange: CoapExchange) => CoapReply {
  return (exchange) => {
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
  const handler = deviceCoapHandler(opts.node);
  return startCoapTransport({
    handler,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.block1 ? { block1: opts.block1 } : {}),
    // Reasons and peers only: never a payload.
    onRefusal: (reason, peer) => opts.logger.warn({ event: 'coap_refused', reason, peer }, 'device: coap refused'),
  });
}
