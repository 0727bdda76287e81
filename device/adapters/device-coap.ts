/**
 * The device's CoAP resources (issue 12), on the CoAP transport (coap-transport.ts), for the same
 * device node the broker relay serves (device-node.ts), so one token store and one replay state
 * answer both transports:
 * - `/authz-info` (POST, application/ace+cbor, RFC 9200 §5.10.1, RFC 9203 §4.1): the token post,
 *   device/authz-info.ts's exchange (nonce1/nonce2, ids, the OSCORE context); 2.01 or its refusal;
 * - anything else unprotected: 4.01 with the AS Request Creation Hints (RFC 9200 §5.2);
 * - OSCORE-protected requests (RFC 8613) under a static context (`--oscore-conf`, libcoap's
 *   `-E` without ACE): verified and decrypted with cose/'s OSCORE, the inner request served by the
 *   device's resources (the demo's `/result`, or `--handler`'s), the answer protected under the
 *   request's nonce. A replay is 4.01 "Replay detected", a failed tag 4.00, an unknown kid 4.01,
 *   a malformed OSCORE option 4.02, unprotected as §8.2 says. The context's sequence numbers and
 *   replay window live in the device's storage (§B.1.1), so a restart neither reuses a nonce nor
 *   lets an old request in again.
 * - `/trust` (POST): a signed trust-anchor update (the service's GET /trust/<device>), as the
 *   broker relays it on `ace/<device>/trust`: 2.04 applied, 4.00 stale or refused.
 * `/authz-info` and `/trust` with another method are 4.05 (RFC 7252 §5.9.2.5).
 * Every unprotected answer over 3x its request waits for an Echo round trip (RFC 9175 §2.4,
 * amplification-guard.ts): a spoofed source gets at most 3x what it sent.
 */
import {
  decodeCbor,
  encodeCbor,
  utf8,
  protectResponse,
  unprotectRequest,
  OscoreError,
  oscoreRefusal,
  readOscoreOption,
  COAP_OPTION as OSCORE_COAP_OPTION,
  type CoapOption,
  type CryptoProvider,
  type OscoreContext,
  type OscorePersistedState,
  type OscoreState,
  type OscoreStateStorage,
} from '../../cose/index.js';
import { type DeviceHandler, type DeviceNode, type DeviceStorage, type Logger } from '../index.js';
import { startCoapTransport, COAP_OPTION, type CoapExchange, type CoapReply, type CoapTransport } from './coap-transport.js';
import { createEchoChallenge } from './echo-challenge.js';
import { guardAmplification } from './amplification-guard.js';
import { createBlock1Reassembler, encodeBlockOption, parseBlockOption, DEFAULT_BLOCK1_LIMITS, type Block1Limits, type Block1Reassembler } from './block1-reassembly.js';


export interface DeviceCoapOptions {
  node: DeviceNode;
  logger: Logger;
  port?: number;
  host?: string;
  block1?: Partial<Block1Limits>;
  /** A static OSCORE context and the resources it reaches (no token: holding the context is the right). */
  oscore?: StaticOscore;
}

/** A static context (`--oscore-conf`), its state, and the resources it reaches. */
export interface StaticOscore {
  context: OscoreContext;
  state: OscoreState;
  provider: CryptoProvider;
  handler: DeviceHandler;
}

/**
 * Where a static context keeps what must survive a reboot: the sender sequence reservation
 * (RFC 8613 §B.1.1) and the replay window, which cose/'s OscoreState saves after each accepted
 * request, so a restarted device still refuses what it accepted before (§B.1.2's concern) and
 * takes what is new. `name` is oscoreStorageName(ctx): new keys, a new slot.
 */
export function deviceOscoreStorage(storage: DeviceStorage, name: string): OscoreStateStorage {
  return {
    load() {
      const bytes = storage.get(name);
      if (!bytes) return undefined;
      const v = decodeCbor(bytes, { maxBytes: 512, maxDepth: 2 });
      // OscoreState.open checks each field's type and range.
      return Array.isArray(v) ? ({ senderSequenceLimit: v[0], replayHighest: v[1], replayBitmap: v[2] } as OscorePersistedState) : undefined;
    },
    save: (st) => storage.put(name, encodeCbor([st.senderSequenceLimit, st.replayHighest, st.replayBitmap])),
  };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** "c.dd" for a CoAP code byte and back. */
const codeText = (code: number) => `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
const codeByte = (text: string) => {
  const [c, d] = text.split('.').map(Number);
  return ((c ?? 0) << 5) | (d ?? 0);
};

/** RFC 8613 §8.2's unprotected answer to a refused request; `fallback` where the RFC names none (storage). */
function refusalReply(error: OscoreError, fallback: string): CoapReply {
  const refusal = oscoreRefusal(error);
  return refusal ? { code: codeText(refusal.code), options: refusal.options, payload: refusal.payload } : { code: fallback };
}

const METHOD_OF: Record<number, string> = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE', 5: 'FETCH' };

/** Serves one OSCORE-protected request under `ctx` with `handler`; never throws. */
export function serveOscore(
  oscore: StaticOscore,
  exchange: CoapExchange,
  onRefusal: (reason: string) => void,
  innerBlocks?: Block1Reassembler,
): CoapReply {
  const { context: ctx, state, provider, handler } = oscore;
  let opened;
  try {
    opened = unprotectRequest(ctx, state, { code: codeByte(exchange.code), options: exchange.options, payload: exchange.payload }, provider);
  } catch (error) {
    if (error instanceof OscoreError) {
      onRefusal(error.code.replace(/^ERR_/, '').toLowerCase());
      // RFC 8613 §8.2: the unprotected answer; a failure with none (storage) is the device's own 5.00.
      return refusalReply(error, '5.00');
    }
    onRefusal('oscore_bad_request');
    return { code: '4.00' };
  }
  const inner = opened.message;
  const path = '/' + inner.options.filter((o) => o.number === COAP_OPTION.URI_PATH).map((o) => new TextDecoder().decode(o.value)).join('/');
  const method = METHOD_OF[inner.code];
  const protect = (code: number, options: CoapOption[], payload: Uint8Array): CoapReply => {
    const answer = protectResponse(ctx, state, { code, options, payload }, opened.binding, provider);
    return { code: codeText(answer.code), options: answer.options, payload: answer.payload };
  };
  let payload = inner.payload;
  const options: CoapOption[] = []; // the resource names no Content-Format: none is claimed
  // RFC 8613 §4.1.3.4.1: inner block-wise (libcoap's choice under OSCORE): each block is its own
  // OSCORE request; the body is reassembled here, bounded as the outer ones are (RFC 7959 §2.5).
  const block1Value = inner.options.find((o) => o.number === COAP_OPTION.BLOCK1)?.value;
  if (block1Value !== undefined && innerBlocks) {
    const block = parseBlockOption(block1Value);
    if (!block) return protect(0x80, [], new Uint8Array(0));
    const key = ['oscore', toHexString(ctx.recipientId), inner.code, ...inner.options.filter((o) => o.number === COAP_OPTION.URI_PATH || o.number === REQUEST_TAG).map((o) => `${o.number}=${toHexString(o.value)}`)].join('|');
    const size1 = inner.options.find((o) => o.number === COAP_OPTION.SIZE1)?.value;
    const outcome = innerBlocks.take(`oscore:${toHexString(ctx.recipientId)}`, key, block, inner.payload, size1 ? size1.reduce((n, b) => n * 256 + b, 0) : undefined);
    if (outcome.kind === 'refuse') {
      onRefusal(`oscore_${outcome.reason.replaceAll(' ', '_')}`);
      return protect(codeByte(outcome.code), outcome.size1 !== undefined ? [{ number: COAP_OPTION.SIZE1, value: uintBytes(outcome.size1) }] : [], new Uint8Array(0));
    }
    const echo = { number: COAP_OPTION.BLOCK1, value: encodeBlockOption(outcome.block1) };
    if (outcome.kind === 'continue') return protect(codeByte('2.31'), [echo], new Uint8Array(0));
    payload = outcome.body;
    options.push(echo);
  }
  const body = method ? handler({ method, resource: path, payload, subject: undefined }) : { code: 405 };
  return protect(Math.floor(body.code / 100) * 32 + (body.code % 100), options, body.payload ?? new Uint8Array(0));
}

const REQUEST_TAG = 292;
const toHexString = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** An HTTP-like number (401) as a CoAP code ("4.01"). */
export function coapCode(n: number): string {
  return `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`;
}

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

export function deviceCoapHandler(node: DeviceNode, opts: Pick<DeviceCoapOptions, 'oscore'> & { onRefusal?: (reason: string) => void } = {}): (exchange: CoapExchange) => CoapReply {
  const onRefusal = opts.onRefusal ?? (() => undefined);
  // Inner Block1 bodies under the static context (a budget of their own; Date.now: a Node adapter).
  const innerBlocks = createBlock1Reassembler({ ...DEFAULT_BLOCK1_LIMITS, maxReassemblies: 8 }, Date.now);
  return (exchange) => {
    if (exchange.options.some((o) => o.number === OSCORE_COAP_OPTION.OSCORE)) {
      const message = { code: codeByte(exchange.code), options: exchange.options, payload: exchange.payload };
      let kid: Uint8Array | undefined;
      try {
        kid = readOscoreOption(message)?.kid;
      } catch (error) {
        // RFC 8613 §2: an OSCORE option that does not parse (reserved bits or Partial IV length,
        // a kid context longer than the option) is 4.02 Bad Option, unprotected; not the 5.00 a
        // throw out of the handler would make.
        if (!(error instanceof OscoreError)) throw error;
        onRefusal('oscore_bad_option');
        return refusalReply(error, '4.02');
      }
      if (opts.oscore && kid && sameBytes(kid, opts.oscore.context.recipientId)) {
        return serveOscore(opts.oscore, exchange, onRefusal, innerBlocks);
      }
      // The contexts of /authz-info exchanges (RFC 9203 §4.4): the resource server finds the one the
      // kid names, checks its token and scope, and answers protected (device/oscore-endpoint.ts).
      const answer = node.server.handleCoap(message);
      if (answer.code >> 5 >= 4) onRefusal(`oscore_${codeText(answer.code)}`);
      return { code: codeText(answer.code), options: answer.options, payload: answer.payload };
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
    if (exchange.path === '/trust') {
      if (exchange.method !== 'POST') return { code: '4.05' };
      // A CoAP-only device has no broker to relay the service's trust updates after a key
      // rotation: they are posted here, as tokens are to /authz-info, by anyone (the operator,
      // a client that got one from the service's /trust/<device>). Its signature by a key the
      // device already trusts and its sequence number are the whole check (trust-updates.ts).
      const r = node.applyTrustUpdate(exchange.payload);
      if (r.outcome === 'applied') return { code: '2.04' };
      return { code: '4.00', payload: utf8(r.outcome === 'stale' ? 'stale: not newer than the trust set held' : `trust update refused: ${r.code}`) };
    }
    // RFC 9200 §5.2: a request without a security context gets 4.01 with the AS Request Creation
    // Hints (where to get a token), from the resource server's CoAP endpoint.
    const answer = node.server.handleCoap({ code: codeByte(exchange.code), options: exchange.options, payload: exchange.payload });
    return { code: codeText(answer.code), options: answer.options, payload: answer.payload };
  };
}

export function startDeviceCoap(opts: DeviceCoapOptions): Promise<CoapTransport> {
  const handler = deviceCoapHandler(opts.node, {
    ...(opts.oscore ? { oscore: opts.oscore } : {}),
    onRefusal: (reason) => opts.logger.warn({ event: 'coap_refused', reason }, 'device: coap refused'),
  });
  return startCoapTransport({
    // RFC 9175 §2.4: no answer larger than 3x its request to a source that has not echoed (amplification-guard.ts).
    handler: guardAmplification(handler, createEchoChallenge()),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.block1 ? { block1: opts.block1 } : {}),
    // Reasons and peers only: never a payload.
    onRefusal: (reason, peer) => opts.logger.warn({ event: 'coap_refused', reason, peer }, 'device: coap refused'),
  });
}
