/**
 * One CoAP request from the command line, on node-coap's client (retransmission, Block1 sending
 * and Block2 receiving, RFC 7252/7959), with raw options in and out so that an OSCORE layer can
 * set the outer message exactly (RFC 8613 §4.1: the OSCORE option and class U options outside,
 * the rest inside the ciphertext). The answer is bounded in size and time.
 */
import { Agent, request as coapRequest, type IncomingMessage } from 'coap';

export interface RawOption {
  number: number;
  value: Uint8Array;
}

export interface CoapCall {
  /** GET, POST, PUT, DELETE, FETCH. */
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'FETCH';
  /** Uri-Path from the URL: leave it out for OSCORE, where the path travels inside. */
  path?: string;
  options: RawOption[];
  payload: Uint8Array;
}

export interface CoapAnswer {
  code: string;
  options: RawOption[];
  payload: Uint8Array;
}

export class CoapCallError extends Error {
  constructor(
    message: string,
    readonly code: 'timeout' | 'too_large' | 'transport',
  ) {
    super(message);
    this.name = 'CoapCallError';
  }
}

/** Numbers of the options node-coap names (coap-packet's table). */
const NUMBERS: Record<string, number> = {
  'If-Match': 1, 'Uri-Host': 3, ETag: 4, 'If-None-Match': 5, Observe: 6, 'Uri-Port': 7, 'Location-Path': 8, OSCORE: 9,
  'Uri-Path': 11, 'Content-Format': 12, 'Max-Age': 14, 'Uri-Query': 15, Accept: 17, 'Location-Query': 20, Block2: 23,
  Block1: 27, Size2: 28, 'Proxy-Uri': 35, 'Proxy-Scheme': 39, Size1: 60,
};

/** RFC 7959 §2.2: the largest block, SZX 6; a body over it goes block-wise. */
const BLOCK_BYTES = 1024;

function uintBytes(n: number): Uint8Array {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.from(out);
}

/** node-coap turns known option values into numbers and strings in place: back to bytes. */
function rawOptionsOf(res: IncomingMessage): RawOption[] {
  const out: RawOption[] = [];
  for (const o of (res as unknown as { options: unknown }).options as { name: string | number; value: unknown }[]) {
    const number = typeof o.name === 'number' ? o.name : (NUMBERS[o.name] ?? Number.parseInt(o.name, 10));
    if (!Number.isInteger(number)) continue;
    if (Buffer.isBuffer(o.value)) out.push({ number, value: new Uint8Array(o.value) });
    else if (typeof o.value === 'number') out.push({ number, value: uintBytes(o.value) });
    // Content-Format comes back as a media type name: only a display matter, dropped here.
  }
  return out;
}

/** RFC 9175 §2.2.1: Echo. */
const ECHO = 252;
const OSCORE = 9;
/** RFC 9175 §2.2.1: an Echo value is 1 to 40 bytes. */
const MAX_ECHO_BYTES = 40;

/**
 * One request. An unprotected 4.01 with Echo (RFC 9175 §2.4: the server checks that this address
 * receives what is sent to it before it answers with more than 3x the request) is answered once by
 * the same request carrying the Echo; a second challenge is the answer.
 */
export async function coapCall(url: URL, call: CoapCall, opts: { timeoutMs: number; maxAnswerBytes: number }): Promise<CoapAnswer> {
  const first = await coapCallOnce(url, call, opts);
  const echo = first.code === '4.01' && !first.options.some((o) => o.number === OSCORE) ? first.options.find((o) => o.number === ECHO) : undefined;
  if (!echo || echo.value.length === 0 || echo.value.length > MAX_ECHO_BYTES || call.options.some((o) => o.number === ECHO)) return first;
  return coapCallOnce(url, { ...call, options: [...call.options, { number: ECHO, value: echo.value }] }, opts);
}

async function coapCallOnce(url: URL, call: CoapCall, opts: { timeoutMs: number; maxAnswerBytes: number }): Promise<CoapAnswer> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const agent = new Agent({ type: host.includes(':') ? 'udp6' : 'udp4' });
  try {
    return await new Promise<CoapAnswer>((resolve, reject) => {
      const req = coapRequest({
        hostname: host,
        port: url.port ? Number(url.port) : 5683,
        method: call.method,
        confirmable: true,
        agent,
        ...(call.path !== undefined ? { pathname: call.path } : {}),
      });
      const grouped = new Map<number, Buffer[]>();
      for (const o of call.options) grouped.set(o.number, [...(grouped.get(o.number) ?? []), Buffer.from(o.value)]);
      // By number: node-coap renames option names it does not know (OSCORE among them).
      for (const [n, values] of grouped) req.setOption(String(n) as never, values.length === 1 ? values[0]! : (values as never));
      // node-coap sends block-wise when a Block1 option is set, its first byte the SZX (6: 1024-byte blocks).
      if (call.payload.length > BLOCK_BYTES) req.setOption('Block1', Buffer.of(6));
      const timer = setTimeout(() => (reject(new CoapCallError(`no answer within ${opts.timeoutMs} ms`, 'timeout'))), opts.timeoutMs);
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(timer);
        if (res.payload.length > opts.maxAnswerBytes) return reject(new CoapCallError(`answer larger than ${opts.maxAnswerBytes} bytes`, 'too_large'));
        resolve({ code: res.code, options: rawOptionsOf(res), payload: new Uint8Array(res.payload) });
      });
      req.on('error', (e: Error) => (clearTimeout(timer), reject(new CoapCallError(`CoAP: ${e.message.slice(0, 200)}`, 'transport'))));
      req.end(Buffer.from(call.payload));
    });
  } finally {
    agent.close?.();
  }
}
