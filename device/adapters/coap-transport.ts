/**
 * CoAP over UDP (RFC 7252) for the device, on node-coap (the `coap` package): block-wise transfer
 * (RFC 7959) both ways and Observe (RFC 7641) where a resource offers it.
 *
 * - Block1 (request bodies) is reassembled here, before node-coap sees the request
 *   (block1-reassembly.ts): node-coap keys it on the token, which RFC 7959 §2.4 lets a client
 *   change between blocks (libcoap does), and bounds nothing. The intermediate 2.31 Continue and
 *   the refusals (4.00, 4.08, 4.13) are answered here; the complete body goes on to node-coap with
 *   the Block1 option taken out and echoed in the final answer (RFC 7959 §2.3).
 * - Block2 (answer bodies) is node-coap's: an answer larger than a block is served block by block
 *   by running the handler again for each block asked (so it works with a new token per block too:
 *   the resource must be idempotent for GET/FETCH, as RFC 7252 §5.8 makes them).
 * - Observe: a handler's answer may carry `observe`, a function given a `notify` that the transport
 *   calls for each change; it returns the function that stops it (called when the client goes away,
 *   RFC 7641 §3.6, or the transport stops). Bounded by `maxObservers`.
 * - Every outside byte is hostile: a request body over `maxBodyBytes` is refused (4.13 with Size1),
 *   a handler that throws answers 5.00 without crashing the socket.
 */
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type OutgoingMessage, type Server } from 'coap';
import {
  createBlock1Reassembler,
  encodeBlockOption,
  parseBlockOption,
  DEFAULT_BLOCK1_LIMITS,
  type Block1Limits,
  type BlockOption,
} from './block1-reassembly.js';

/**
 * The transport could not take its UDP port. ERR_COAP_PORT_IN_USE: another process holds it (a
 * second device on one port would get a share of the first one's requests); ERR_COAP_LISTEN_FAILED:
 * any other bind failure (a port below 1024 without the right, an address not on this machine).
 */
export class CoapListenError extends Error {
  readonly code: 'ERR_COAP_PORT_IN_USE' | 'ERR_COAP_LISTEN_FAILED';

  constructor(address: string, cause: NodeJS.ErrnoException) {
    const inUse = cause.code === 'EADDRINUSE';
    super(inUse ? `CoAP port ${address} is in use by another process` : `cannot listen for CoAP on ${address}: ${cause.code ?? cause.message}`, { cause });
    this.name = 'CoapListenError';
    this.code = inUse ? 'ERR_COAP_PORT_IN_USE' : 'ERR_COAP_LISTEN_FAILED';
  }
}

/** The option numbers the transport itself reads or writes (RFC 7252 §12.2, RFC 7959 §6, RFC 7641 §7). */
export const COAP_OPTION = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  OBSERVE: 6,
  URI_PORT: 7,
  OSCORE: 9,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  SIZE1: 60,
} as const;

/** RFC 7252 §12.1.1 method codes by name. */
const METHODS: Record<string, string> = { '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE', '0.05': 'FETCH', '0.06': 'PATCH', '0.07': 'iPATCH' };

export interface CoapRawOption {
  number: number;
  value: Uint8Array;
}

/** One request, its body reassembled. */
export interface CoapExchange {
  /** The code as "c.dd" (0.01 GET ... 0.07 iPATCH). */
  code: string;
  method: string;
  /** Uri-Path joined with '/', with a leading '/' ('/' for none). */
  path: string;
  /** Every option but the transport's own (Block1, Block2, Size1, Size2), in order. */
  options: CoapRawOption[];
  payload: Uint8Array;
  peer: { address: string; port: number };
  /** The size of the datagram that carried it (for a Block1 body, the last block's plus the earlier blocks' payloads): RFC 9175 §2.4's measure. */
  requestBytes: number;
  /** Its token's length: the answer carries the same token (RFC 7252 §5.3.1). */
  tokenBytes: number;
  /** The body came in Block1 blocks: the answer carries a Block1 option back (RFC 7959 §2.3). */
  blockwise: boolean;
  /** Observe: 0 on a GET/FETCH (RFC 7641 §2): the client registers. */
  observe: boolean;
}

export interface CoapReply {
  /** "c.dd", e.g. "2.05". */
  code: string;
  options?: CoapRawOption[];
  payload?: Uint8Array;
  /** For an Observe registration: start notifying, return the stop. Ignored unless `observe` was asked. */
  observe?: (notify: (reply: CoapReply) => void) => () => void;
}

export type CoapHandler = (exchange: CoapExchange) => CoapReply | Promise<CoapReply>;

export interface CoapTransportOptions {
  handler: CoapHandler;
  port?: number;
  /** Default 127.0.0.1: a device listens on all interfaces only when told to. */
  host?: string;
  type?: 'udp4' | 'udp6';
  block1?: Partial<Block1Limits>;
  /** Observe registrations held at once (default 32, a quarter per peer); more are answered without Observe (RFC 7641 §4.1: a plain answer). */
  maxObservers?: number;
  /** Told of what the transport refused (reason codes only: never a payload). */
  onRefusal?: (reason: string, peer: string) => void;
  clock?: () => number;
}

export interface CoapTransport {
  readonly port: number;
  readonly observers: number;
  readonly reassemblies: number;
  /** Block2 answer bodies held between blocks (bounded). */
  readonly block2Bodies: number;
  close(): Promise<void>;
}

interface PacketOption {
  name: string | number;
  value: Buffer;
}
interface Packet {
  code: string;
  confirmable: boolean;
  reset: boolean;
  ack: boolean;
  messageId: number;
  token: Buffer;
  options: PacketOption[];
  payload: Buffer;
}
interface MiddlewareRequest {
  raw: Buffer;
  rsinfo: { address: string; port: number };
  packet?: Packet;
}
type Middleware = (request: MiddlewareRequest, next: (err: Error | null) => void) => void;
/** node-coap's server internals this adapter relies on (coap 1.5: the middleware chain). */
interface ServerInternals {
  _middlewares: Middleware[];
  _block2Cache: { _cache: Map<string, unknown>; add(key: string, payload: unknown): void; remove(key: string): boolean };
  _sock?: { send(buf: Buffer, port: number, address: string): void };
  _sendError(payload: Buffer, rsinfo: { address: string; port: number }, packet?: Packet, code?: string): void;
}

// node-coap's own packet codec (its dependency coap-packet), for the answers sent from here.
const coapRequire = createRequire(createRequire(import.meta.url).resolve('coap'));
const { generate } = coapRequire('coap-packet') as { generate(packet: Partial<Packet>, maxLength?: number): Buffer };

/** coap-packet names the options it knows; anything else comes as the number in a string. */
const NAME_NUMBERS: Record<string, number> = {
  'If-Match': 1, 'Uri-Host': 3, ETag: 4, 'If-None-Match': 5, Observe: 6, 'Uri-Port': 7, 'Location-Path': 8, OSCORE: 9,
  'Uri-Path': 11, 'Content-Format': 12, 'Max-Age': 14, 'Uri-Query': 15, 'Hop-Limit': 16, Accept: 17, 'Q-Block1': 19,
  'Location-Query': 20, Block2: 23, Block1: 27, Size2: 28, 'Q-Block2': 31, 'Proxy-Uri': 35, 'Proxy-Scheme': 39, Size1: 60,
  'No-Response': 258,
};
export function optionNumber(name: string | number): number {
  if (typeof name === 'number') return name;
  return NAME_NUMBERS[name] ?? Number.parseInt(name, 10);
}

const TRANSPORT_OPTIONS = new Set<number>([COAP_OPTION.BLOCK1, COAP_OPTION.BLOCK2, COAP_OPTION.SIZE1, COAP_OPTION.SIZE2]);

function uintOf(value: Uint8Array): number {
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}

function uintBytes(n: number): Buffer {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from(out);
}

/** RFC 9175 §3.2: Request-Tag, which libcoap sets on every block-wise request. */
const REQUEST_TAG = 292;

/** What names one request body across its blocks: peer, method and the target's options. */
function block1Key(peer: string, packet: Packet): string {
  const parts = [peer, packet.code];
  for (const o of packet.options) {
    const n = optionNumber(o.name);
    // Uri-Host/Port/Path/Query, Content-Format, OSCORE (outer block-wise, RFC 8613 §4.1.3.4.2)
    // and Request-Tag (RFC 9175 §3.3: bodies with different tags are different operations).
    if (n === 3 || n === 7 || n === 9 || n === 11 || n === 12 || n === 15 || n === REQUEST_TAG) parts.push(`${n}=${o.value.toString('hex')}`);
  }
  return parts.join('|');
}

function clonePacket(packet: Packet): Packet {
  return { ...packet, options: packet.options.map((o) => ({ name: o.name, value: Buffer.from(o.value) })) };
}

/** Bytes of answers kept for duplicate detection (node-coap's LRU, RFC 7252 §4.5). */
const RESPONSE_CACHE_BYTES = 2 * 1024 * 1024;
/** Block2 answer bodies kept between blocks. */
const MAX_BLOCK2_BODIES = 32;

/** The last final blocks passed on, so a retransmission reaches node-coap's duplicate answer cache. */
const RECENT_FINALS = 16;

export async function startCoapTransport(opts: CoapTransportOptions): Promise<CoapTransport> {
  const clock = opts.clock ?? Date.now;
  const limits: Block1Limits = { ...DEFAULT_BLOCK1_LIMITS, ...opts.block1 };
  const reassembler = createBlock1Reassembler(limits, clock);
  const maxObservers = opts.maxObservers ?? 32;
  // One peer holds at most a quarter of the slots (at least one), so it cannot take them all.
  const maxObserversPerPeer = Math.max(1, Math.floor(maxObservers / 4));
  const observersOf = new Map<string, number>();
  const observerRoom = (address: string) => stops.size < maxObservers && (observersOf.get(address) ?? 0) < maxObserversPerPeer;
  const refused = (reason: string, peer: string) => opts.onRefusal?.(reason, peer);
  const echoes = new WeakMap<Packet, BlockOption>();
  // node-coap rewrites option values in place (numbers, strings): the handler gets them as sent.
  const rawOptions = new WeakMap<Packet, CoapRawOption[]>();
  const datagramBytes = new WeakMap<Packet, number>();
  const pass = (packet: Packet, bytes: number): Packet => {
    rawOptions.set(packet, packet.options.map((o) => ({ number: optionNumber(o.name), value: new Uint8Array(o.value) })));
    datagramBytes.set(packet, bytes);
    return packet;
  };
  const recentFinals = new Map<string, { packet: Packet; at: number }>();
  const stops = new Set<() => void>();
  const observations = new Map<string, () => void>();

  // RFC 7252 §4.5: answers are kept for duplicate requests for EXCHANGE_LIFETIME; node-coap's
  // default allows 32 MiB of them, a device's share is far smaller.
  // reuseAddr false: node-coap binds with SO_REUSEADDR by default, and a second device started on
  // the same port then shared it with the first, silently (README walkthrough).
  const server: Server = createServer({ type: opts.type ?? 'udp4', cacheSize: RESPONSE_CACHE_BYTES, reuseAddr: false });
  const internals = server as unknown as ServerInternals;
  // The seams used here are node-coap 1.5's (package.json pins it): fail at start, not at the first block.
  if (!Array.isArray(internals._middlewares) || typeof internals._block2Cache?.add !== 'function' || !(internals._block2Cache._cache instanceof Map)) {
    throw new Error('the coap library is not the 1.5 this transport was written against (middleware chain, Block2 cache)');
  }
  // node-coap 1.5 answers what it cannot take itself (a datagram that does not parse, Observe on a
  // POST, FETCH without Content-Format) to rsinfo.port with NO address, so to loopback: any peer
  // could aim those answers at a local service's port (adversarial review, stop 34), with the
  // library's exception text as payload. A datagram that did not parse is dropped (RFC 7252 §4.2);
  // otherwise the code alone goes back to its sender.
  if (typeof internals._sendError !== 'function') throw new Error('the coap library is not the 1.5 this transport was written against (_sendError)');
  internals._sendError = (_payload, rsinfo, packet, code = '5.00') => {
    if (!packet) return;
    const reply = generate({ code, messageId: packet.messageId, token: packet.token, ack: packet.confirmable, confirmable: false });
    internals._sock?.send(reply, rsinfo.port, rsinfo.address);
  };
  // node-coap keeps each Block2 answer body for EXCHANGE_LIFETIME (247 s) under its token, without
  // a bound: a GET flood with fresh tokens would pin one body each. Keep the newest few; a miss
  // only makes the next block run the handler again (as it does for libcoap's new tokens anyway).
  const block2Cache = internals._block2Cache;
  const addBlock2 = block2Cache.add.bind(block2Cache);
  block2Cache.add = (key: string, payload: unknown) => {
    for (const oldest of block2Cache._cache.keys()) {
      if (block2Cache._cache.size < MAX_BLOCK2_BODIES) break;
      block2Cache.remove(oldest);
    }
    addBlock2(key, payload);
  };

  const sendRaw = (request: MiddlewareRequest, packet: Packet, code: string, options: PacketOption[], payload?: Buffer) => {
    // RFC 7252 §5.2.1: a CON request is answered piggybacked in its ACK; a NON one by a NON.
    const reply = generate({
      code,
      messageId: packet.messageId,
      token: packet.token,
      ack: packet.confirmable,
      confirmable: false,
      options,
      ...(payload ? { payload } : {}),
    });
    internals._sock?.send(reply, request.rsinfo.port, request.rsinfo.address);
  };

  const block1Middleware: Middleware = (request, next) => {
    const packet = request.packet;
    if (packet && packet.code === '0.00' && !packet.ack && !packet.reset) {
      // RFC 7252 §4.1: an empty message is no request. §4.2/§4.3: an empty CON is a "ping",
      // answered with an empty RST of its message id; an empty NON is ignored. node-coap would
      // hand both on as requests (the device answered 4.01 with an Echo, review, stop 34). Empty
      // ACKs and RSTs go on: node-coap matches them to its own CON notifications (RFC 7641 §3.6),
      // and an RST it cannot match is dropped at 'request' below.
      if (packet.confirmable) {
        internals._sock?.send(generate({ code: '0.00', messageId: packet.messageId, token: Buffer.alloc(0), reset: true, confirmable: false, ack: false }), request.rsinfo.port, request.rsinfo.address);
      }
      return;
    }
    if (!packet || packet.ack || packet.reset || !METHODS[packet.code]) return next(null);
    const peer = `${request.rsinfo.address}:${request.rsinfo.port}`;
    const observeOption = packet.options.find((o) => optionNumber(o.name) === COAP_OPTION.OBSERVE);
    if (observeOption && uintOf(observeOption.value) === 0 && !observerRoom(request.rsinfo.address)) {
      // RFC 7641 §4.1: a server that will not add an observer answers as to a plain GET. Decided
      // here, before node-coap makes the answer a notification stream.
      packet.options = packet.options.filter((o) => o !== observeOption);
    }
    const block1Value = packet.options.find((o) => optionNumber(o.name) === COAP_OPTION.BLOCK1)?.value;
    if (block1Value === undefined) {
      if (packet.payload.length > limits.maxBodyBytes) {
        refused('body_too_large', peer);
        sendRaw(request, packet, '4.13', [{ name: 'Size1', value: uintBytes(limits.maxBodyBytes) }]);
        return; // answered here: node-coap does not see it
      }
      pass(packet, request.raw.length);
      return next(null);
    }
    const finalKey = `${peer}/${packet.messageId}`;
    const recent = recentFinals.get(finalKey);
    if (recent && packet.confirmable && recent.packet.token.equals(packet.token)) {
      // A retransmitted final block: node-coap answers it from its duplicate cache.
      request.packet = pass(clonePacket(recent.packet), request.raw.length + recent.packet.payload.length - packet.payload.length);
      return next(null);
    }
    const block = parseBlockOption(block1Value);
    if (!block) {
      refused('bad_block1', peer);
      return sendRaw(request, packet, '4.00', []);
    }
    const size1Value = packet.options.find((o) => optionNumber(o.name) === COAP_OPTION.SIZE1)?.value;
    // Budgets count per address, not per port: one host opening many ports is still one peer.
    const outcome = reassembler.take(request.rsinfo.address, block1Key(peer, packet), block, packet.payload, size1Value ? uintOf(size1Value) : undefined);
    if (outcome.kind === 'refuse') {
      refused(outcome.reason.replaceAll(' ', '_'), peer);
      const options: PacketOption[] = outcome.size1 !== undefined ? [{ name: 'Size1', value: uintBytes(outcome.size1) }] : [];
      return sendRaw(request, packet, outcome.code, options);
    }
    if (outcome.kind === 'continue') {
      return sendRaw(request, packet, '2.31', [{ name: 'Block1', value: Buffer.from(encodeBlockOption(outcome.block1)) }]);
    }
    // Complete: node-coap handles it as a one-message request; the answer echoes Block1.
    // RFC 9175 §2.4's measure of the request is what the source sent for it: the earlier blocks' bytes too.
    const sentBytes = request.raw.length + outcome.body.length - packet.payload.length;
    packet.payload = Buffer.from(outcome.body);
    packet.options = packet.options.filter((o) => {
      const n = optionNumber(o.name);
      return n !== COAP_OPTION.BLOCK1 && n !== COAP_OPTION.SIZE1;
    });
    echoes.set(packet, outcome.block1);
    const now = clock();
    for (const [k, v] of recentFinals) if (now - v.at > limits.timeoutMs || recentFinals.size >= RECENT_FINALS) recentFinals.delete(k);
    recentFinals.set(finalKey, { packet: clonePacket(packet), at: now });
    pass(packet, sentBytes);
    next(null);
  };
  // Just before node-coap's own request handling (the last middleware).
  internals._middlewares.splice(internals._middlewares.length - 1, 0, block1Middleware);

  const setOptions = (res: OutgoingMessage, options: CoapRawOption[]) => {
    // Through the packet: node-coap's setOption renames options it does not know (OSCORE among them).
    const packet = (res as unknown as { _packet: { options: PacketOption[] } })._packet;
    for (const o of options) packet.options.push({ name: String(o.number), value: Buffer.from(o.value) });
  };

  server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
    const packet = req._packet as unknown as Packet;
    // An RST that matched none of node-coap's own CON messages still reaches here (1.5 tests
    // `ack ?? reset`, and ack is false, not absent): RFC 7252 §4.2 makes it no request, so no answer.
    if (packet.reset) return;
    const peer = `${req.rsinfo.address}:${req.rsinfo.port}`;
    const options: CoapRawOption[] = [];
    let path = '';
    let observeValue: number | undefined;
    for (const o of rawOptions.get(packet) ?? []) {
      if (TRANSPORT_OPTIONS.has(o.number)) continue;
      if (o.number === COAP_OPTION.URI_PATH) path += `/${new TextDecoder('utf-8', { fatal: false }).decode(o.value)}`;
      if (o.number === COAP_OPTION.OBSERVE) observeValue = uintOf(o.value);
      options.push(o);
    }
    const exchange: CoapExchange = {
      code: packet.code,
      method: METHODS[packet.code] ?? packet.code,
      path: path || '/',
      options,
      payload: new Uint8Array(packet.payload),
      peer: { address: req.rsinfo.address, port: req.rsinfo.port },
      requestBytes: datagramBytes.get(packet) ?? 4 + packet.token.length + packet.payload.length,
      tokenBytes: packet.token.length,
      blockwise: echoes.has(packet),
      observe: observeValue === 0 && (packet.code === '0.01' || packet.code === '0.05'),
    };
    // RFC 7641 §3.6: a GET with Observe 1 and the registration's token ends it; §4.1: a new
    // registration with the same token replaces the old one.
    const observationKey = `${peer}/${packet.token.toString('hex')}`;
    if (observeValue !== undefined) observations.get(observationKey)?.();
    const echo = echoes.get(packet);
    const setCode = (code: string) => {
      // OutgoingMessage reads `code`, node-coap's Observe stream `statusCode`.
      res.code = code;
      res.statusCode = code;
    };
    const answer = (reply: CoapReply) => {
      setCode(reply.code);
      if (echo) res.setOption('Block1', Buffer.from(encodeBlockOption(echo)));
      setOptions(res, reply.options ?? []);
      const writable = res as unknown as { write?: (b: Buffer) => void; on: (e: string, f: () => void) => void };
      if (exchange.observe && reply.observe && typeof writable.write === 'function' && observerRoom(req.rsinfo.address)) {
        // RFC 7641 §4.2: the first notification is the answer; each later one a new message.
        writable.write(Buffer.from(reply.payload ?? new Uint8Array(0)));
        let stopped = false;
        const stop = reply.observe((next) => {
          if (stopped) return;
          setCode(next.code);
          writable.write!(Buffer.from(next.payload ?? new Uint8Array(0)));
        });
        const end = () => {
          if (stopped) return;
          stopped = true;
          stops.delete(end);
          if (observations.get(observationKey) === end) observations.delete(observationKey);
          const held = (observersOf.get(req.rsinfo.address) ?? 1) - 1;
          if (held > 0) observersOf.set(req.rsinfo.address, held);
          else observersOf.delete(req.rsinfo.address);
          stop();
          res.end();
        };
        stops.add(end);
        observations.set(observationKey, end);
        observersOf.set(req.rsinfo.address, (observersOf.get(req.rsinfo.address) ?? 0) + 1);
        writable.on('finish', end);
        writable.on('error', end);
        return;
      }
      res.end(Buffer.from(reply.payload ?? new Uint8Array(0)));
    };
    Promise.resolve()
      .then(() => opts.handler(exchange))
      .then(answer, () => {
        refused('handler_failed', peer);
        answer({ code: '5.00' });
      })
      .catch(() => refused('answer_failed', peer));
  });

  const port = opts.port ?? 0;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      // The socket that did not bind is let go, or the caller's process never exits.
      server.close();
      reject(new CoapListenError(`${host.includes(':') ? `[${host}]` : host}:${port}`, error));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = (internals._sock as unknown as { address(): { port: number } }).address();
  const sweeper = setInterval(() => reassembler.sweep(), Math.max(1000, Math.floor(limits.timeoutMs / 2)));
  sweeper.unref();
  return {
    port: address.port,
    get observers() {
      return stops.size;
    },
    get reassemblies() {
      return reassembler.size;
    },
    get block2Bodies() {
      return block2Cache._cache.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper);
        for (const stop of [...stops]) stop();
        server.close(() => resolve());
      }),
  };
}
