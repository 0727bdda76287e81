/**
 * Adversarial review of `keybound device serve --coap-only` (issue 12) as deployed: its own
 * process, a coap_oscore audience, the attacker on raw UDP (node:dgram). Each case is one attack
 * of SECURITY.md's "Promises under attack" table.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACE_PROFILE, decodeCbor, decodeCoapMessage, toHex, deriveOscoreContext, encodeCoapMessage, fromHex, utf8, type CoapMessage } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { OscoreClient, beginAceOscore, decodeAuthzInfoAnswer, CONTENT_FORMAT_ACE_CBOR, type TokenResponse } from '../device/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';
import { serveCoapOnly, type DeviceProcess } from './support/device-process.js';
import { encodeBlockOption } from '../device/adapters/index.js';

const AUDIENCE = 'tube-rcoap';
const OSCORE = 9;
const URI_PATH = 11;

let service: DeviceService;
let device: DeviceProcess;
let dir: string;
let port: number;
const sockets: Socket[] = [];

/** One peer: its own socket (its own source port), one request out, its answer back. */
function peer(to = () => port): (bytes: Uint8Array) => Promise<Uint8Array> {
  const sock = createSocket('udp4');
  sockets.push(sock);
  return (bytes) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 3000);
      sock.once('message', (m) => (clearTimeout(timer), resolve(new Uint8Array(m))));
      sock.send(bytes, to(), '127.0.0.1');
    });
}

let mid = 100;
/** Tokens the device already holds for mallory (its token store gives each client a share). */
const malloryTokens: TokenResponse[] = [];
const con = (m: CoapMessage): Uint8Array => encodeCoapMessage({ ...m, type: 0, messageId: mid++ });
const codeOf = (bytes: Uint8Array) => {
  const c = decodeCoapMessage(bytes).code;
  return `${c >> 5}.${String(c & 31).padStart(2, '0')}`;
};

/** Client A's whole RFC 9203 exchange over UDP: its OSCORE client and the device's ID2. */
async function aceClient(send: (b: Uint8Array) => Promise<Uint8Array>, who = 'ekg', token?: TokenResponse, id1 = fromHex('01')) {
  const t = token ?? (await service.issue(who));
  const begun = beginAceOscore(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider, id1);
  const answer = decodeCoapMessage(
    await send(con({ code: 2, token: fromHex('a1'), options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: 12, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }], payload: begun.payload })),
  );
  expect(answer.code).toBe(0x41);
  const client = new OscoreClient(deriveOscoreContext(begun.finish(answer.payload), nativeProvider), nativeProvider);
  return { client, id2: decodeAuthzInfoAnswer(answer.payload).serverRecipientId, payload: begun.payload, token: t };
}

/** The outer message of a protected request, as a CON with a fresh message id. */
const asCon = (message: Uint8Array) => con(decodeCoapMessage(message));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybound-rcoap-'));
  const now = () => Math.floor(Date.now() / 1000);
  service = await startDeviceService({ audience: AUDIENCE, clients: ['ekg', 'mallory', 'uploader-x', 'uploader-y', 'busy-a', 'busy-b', 'late-c'], lifetime: 600, aceProfile: ACE_PROFILE.coap_oscore, clock: now });
  ({ device, port } = await serveCoapOnly(service.bundle, dir));
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  device?.proc.kill('SIGTERM');
  await device?.exited;
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('keybound device serve --coap-only under attack (raw UDP)', () => {
  it('drops what the CoAP library cannot take (a datagram that does not parse, FETCH without Content-Format) without answering it anywhere (review, stop 34)', async () => {
    // node-coap 1.5 answered these to the sender's port on loopback, with its exception text: any
    // peer could aim them at a local service. The sender here is on loopback, so such an answer
    // would reach this very socket.
    const sock = createSocket('udp4');
    sockets.push(sock);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const got: Uint8Array[] = [];
    sock.on('message', (m) => got.push(new Uint8Array(m)));
    sock.send(Uint8Array.of(0x40), port, '127.0.0.1');
    sock.send(Uint8Array.of(0x4f, 0x01, 0x00, 0x01), port, '127.0.0.1'); // token length 15
    sock.send(con({ code: 5, token: fromHex('b1'), options: [{ number: URI_PATH, value: utf8('result') }], payload: new Uint8Array(0) }), port, '127.0.0.1'); // FETCH, no Content-Format
    await new Promise((r) => setTimeout(r, 500));
    expect(got.map((m) => toHex(m))).toEqual([]);
    // The device still answers a well-formed request.
    const send = peer();
    expect(codeOf(await send(con({ code: 1, token: fromHex('b2'), options: [{ number: URI_PATH, value: utf8('result') }], payload: new Uint8Array(0) })))).toMatch(/^4\./);
  });

  it('answers a malformed OSCORE option (reserved Partial IV length, reserved flag bits, huge kid context) 4.02 Bad Option, never 5.00', async () => {
    const send = peer();
    const hostile = [
      Uint8Array.of(0x0e, 1, 2, 3, 4, 5, 6, 0x42), // n = 6: reserved (RFC 8613 §6.1)
      Uint8Array.of(0x89, 0x01, 0x42), // bit 7 set: reserved
      Uint8Array.of(0x19, 0x01, 0xff, 0x00), // kid context of 255 bytes announced, 1 present
    ];
    for (const value of hostile) {
      const answer = await send(con({ code: 2, token: fromHex('b0'), options: [{ number: OSCORE, value }], payload: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) }));
      expect(codeOf(answer)).toBe('4.02');
    }
    expect(device.events.some((e) => e.event === 'coap_refused' && e.reason === 'handler_failed')).toBe(false);
  });

  it("client B guessing client A's kid with a forged request gets 4.00, A's context keeps working (also after B takes A's ID2 as its ID1); A's POST replayed (same N1) is refused", async () => {
    const a = peer();
    const b = peer();
    const { client, id2, payload } = await aceClient(a);
    // B knows ID2 (it is on the wire) but not the Master Secret: its request cannot verify.
    const forged = con({ code: 2, token: fromHex('b1'), options: [{ number: OSCORE, value: Uint8Array.of(0x09, 0x00, ...id2) }], payload: new Uint8Array(16).fill(7) });
    expect(codeOf(await b(forged))).toBe('4.00');
    // The same with the largest Partial IV (2^40 - 1, RFC 8613 §7.2.1): unauthenticated, it moves no window.
    const hugePiv = con({ code: 2, token: fromHex('b3'), options: [{ number: OSCORE, value: Uint8Array.of(0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, ...id2) }], payload: new Uint8Array(16).fill(7) });
    expect(codeOf(await b(hugePiv))).toBe('4.00');
    // A's first request (Partial IV 0, which B also claimed) still verifies: B moved no replay window.
    const req = client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(0xa2));
    // On path, B adds a kid context (an outer, unprotected field) to A's request: this device holds
    // no context with that ID Context, so none is found (RFC 8613 §8.2 step 2), and nothing is spent.
    const outer = decodeCoapMessage(req.message);
    const option = outer.options.find((o) => o.number === OSCORE)!.value;
    const withKidContext = Uint8Array.of(option[0]! | 0x10, ...option.slice(1, 1 + (option[0]! & 7)), 2, 0xee, 0xee, ...option.slice(1 + (option[0]! & 7)));
    const tampered = con({ ...outer, options: outer.options.map((o) => (o.number === OSCORE ? { number: OSCORE, value: withKidContext } : o)) });
    expect(codeOf(await b(tampered))).toBe('4.01');
    const opened = client.response(await a(asCon(req.message)), req.binding);
    expect(opened.authenticated).toBe(true);
    expect(opened.code).toBe(205);
    // A captured, replayed request is 4.01 Replay detected (RFC 8613 §7.4), from any address.
    expect(codeOf(await b(asCon(req.message)))).toBe('4.01');
    // B sets up its own context choosing as its ID1 A's ID2 (the device's Sender ID in B's context
    // then equals its Recipient ID in A's): B gets an ID2 of its own, and A's context is untouched.
    const other = await aceClient(b, 'ekg', undefined, id2);
    expect(toHex(other.id2)).not.toBe(toHex(id2));
    const next = client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(0xa3));
    expect(client.response(await a(asCon(next.message)), next.binding).code).toBe(205);
    // The /authz-info POST replayed (same token, same N1) is refused (RFC 9203 §4.1).
    const replay = await b(con({ code: 2, token: fromHex('b2'), options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: 12, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }], payload }));
    expect(codeOf(replay).startsWith('4.')).toBe(true);
  });

  it("a flood of /authz-info posts (another client's 4 tokens, client A's own token stolen and re-posted) never evicts A's proven context", async () => {
    const a = peer();
    const mallory = peer();
    const victim = await aceClient(a);
    const ask = (seq: number) => {
      const req = victim.client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(seq));
      return a(asCon(req.message)).then((bytes) => victim.client.response(bytes, req.binding));
    };
    expect((await ask(1)).code).toBe(205); // proven: a request verified under it
    // Mallory holds valid tokens of her own and A's token (stolen: it travels in the clear), not A's keys.
    const theirs = await Promise.all([1, 2, 3, 4].map(() => service.issue('mallory')));
    malloryTokens.push(...theirs);
    for (let round = 0; round < 3; round++) {
      for (const t of [...theirs, victim.token]) await aceClient(mallory, 'mallory', t);
    }
    const after = await ask(2);
    expect(after.authenticated).toBe(true);
    expect(after.code).toBe(205);
  });

  it('two clients making a new context per request (as `keybound request` does) never leave the device busy for a third, nor for themselves (review, stop 34)', async () => {
    const own = await serveCoapOnly(service.bundle, mkdtempSync(join(dir, 'slots-')));
    onTestFinished(async () => {
      own.device.proc.kill('SIGTERM');
      await own.device.exited;
    });
    const send = peer(() => own.port);
    const served = async (c: Awaited<ReturnType<typeof aceClient>>) => {
      const req = c.client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(1));
      return c.client.response(await send(asCon(req.message)), req.binding).code;
    };
    const [a, b] = await Promise.all([service.issue('busy-a'), service.issue('busy-b')]);
    // Eight rounds each: every context proven by one request, then abandoned. Before the fix the
    // eight slots ended all proven (four each) and every later post was 5.03 for the tokens' lifetime.
    for (let round = 0; round < 8; round++) {
      for (const [who, t] of [['busy-a', a], ['busy-b', b]] as const) expect(await served(await aceClient(send, who, t))).toBe(205);
    }
    const late = await aceClient(send, 'late-c'); // expects 2.01 itself
    expect(await served(late)).toBe(205);
    expect(await served(await aceClient(send, 'busy-a', a))).toBe(205);
    // The late client's context is still there after the busy client's proof: it held one, the busy ones more.
    expect(await served(late)).toBe(205);
  });

  it('empty messages (RFC 7252 §4.1): a CON ping gets a bare RST, a NON, ACK or RST empty message gets nothing (review, stop 34)', async () => {
    const sock = createSocket('udp4');
    sockets.push(sock);
    const got: Uint8Array[] = [];
    sock.on('message', (m) => got.push(new Uint8Array(m)));
    const send = (bytes: number[]) => sock.send(Uint8Array.from(bytes), port, '127.0.0.1');
    send([0x40, 0x00, 0x12, 0x34]); // CON, 0.00, message id 0x1234, no token: a ping
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((b) => [...b])).toEqual([[0x70, 0x00, 0x12, 0x34]]); // RST, 0.00, same id (§4.2, §4.3)
    got.length = 0;
    for (const type of [0x50, 0x60, 0x70]) {
      send([type, 0x00, 0x00, type]); // NON, ACK, RST, all empty
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(got.map((b) => [...b])).toEqual([]);
  });

  it('a flood of unprotected requests from many ports does not churn the cnonce hint: the one a client was given stays good', async () => {
    // Each of these GETs' hints are over 3x its size: they come after the Echo round trip (RFC 9175
    // §2.4, test/review-coap-amplification.test.ts), here done by the client and every flooding port.
    const echoed = async (send: (b: Uint8Array) => Promise<Uint8Array>, m: Omit<CoapMessage, 'type' | 'messageId'>) => {
      const echo = decodeCoapMessage(await send(con(m))).options.find((o) => o.number === 252)!.value;
      return send(con({ ...m, options: [...m.options, { number: 252, value: echo }] }));
    };
    const get = { code: 1, token: fromHex('c0'), options: [{ number: URI_PATH, value: utf8('result') }], payload: new Uint8Array(0) };
    const first = decodeCbor(decodeCoapMessage(await echoed(peer(), get)).payload) as Map<number, unknown>;
    const bare = { code: 1, options: [], payload: new Uint8Array(0) };
    const answers = await Promise.all(Array.from({ length: 40 }, () => echoed(peer(), bare)));
    // One hint nonce for everyone (it rotates every 30 s: at most one rotation inside the flood), not
    // one minted per request, which would push the client's out of the device's bounded pool.
    const cnonces = new Set([first, ...answers.map((b) => decodeCbor(decodeCoapMessage(b).payload) as Map<number, unknown>)].map((m) => toHex(m.get(39) as Uint8Array)));
    expect(cnonces.size).toBeLessThanOrEqual(2);
  });

  it('Block1: two peers interleaving uploads under the same Request-Tag each get their own body; a third peer injecting a block into them gets 4.08 and poisons neither', async () => {
    // A device of its own: the attacks above fill the shared device's context table with proven
    // contexts, whose churn is not what is tested here.
    const own = await serveCoapOnly(service.bundle, mkdtempSync(join(dir, 'block1-')));
    onTestFinished(async () => {
      own.device.proc.kill('SIGTERM');
      await own.device.exited;
    });
    const [x, y, z] = [peer(() => own.port), peer(() => own.port), peer(() => own.port)];
    // Two clients of their own: the token store's per-client share (which the tests above fill for ekg) is not what is tested here.
    const posts = await Promise.all([service.issue('uploader-x'), service.issue('uploader-y')].map(async (p) => {
      const t = await p;
      return { t, begun: beginAceOscore(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider, fromHex('02')) };
    }));
    const SZX = 2; // 64-byte blocks
    const tag = { number: 292, value: fromHex('7a7a') }; // RFC 9175 §3.2 Request-Tag, the same for all
    const block = (payload: Uint8Array, num: number) => {
      const more = (num + 1) * 64 < payload.length;
      const value = encodeBlockOption({ num, more, szx: SZX });
      return con({ code: 2, token: Uint8Array.of(num), options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: 12, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }, { number: 27, value }, tag], payload: payload.slice(num * 64, (num + 1) * 64) });
    };
    const [px, py] = [posts[0]!.begun.payload, posts[1]!.begun.payload];
    const blocks = Math.ceil(Math.max(px.length, py.length) / 64);
    expect(blocks).toBeGreaterThanOrEqual(3);
    const last: { x: Uint8Array; y: Uint8Array } = { x: new Uint8Array(0), y: new Uint8Array(0) };
    for (let n = 0; n < blocks; n++) {
      if (n * 64 < px.length) last.x = await x(block(px, n));
      if (n * 64 < py.length) last.y = await y(block(py, n));
      // z (same host, its own port) sends a later block of "the" upload: not its body, 4.08.
      if (n === 1) expect(codeOf(await z(block(px, 2)))).toBe('4.08');
    }
    expect(codeOf(last.x)).toBe('2.01');
    expect(codeOf(last.y)).toBe('2.01');
    // Each answer is the 2.01 of its own post: the client's context derives and verifies.
    for (const [send, answer, begun] of [[x, last.x, posts[0]!.begun], [y, last.y, posts[1]!.begun]] as const) {
      const client = new OscoreClient(deriveOscoreContext(begun.finish(decodeCoapMessage(answer).payload), nativeProvider), nativeProvider);
      const req = client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(9));
      expect(client.response(await send(asCon(req.message)), req.binding).code).toBe(205);
    }
  });

  // Last: it restarts the device.
  it('after a restart mid-exchange, a captured request finds no context (4.01) and a replayed /authz-info POST gets a fresh nonce2: no keys, no nonce reused', async () => {
    const a = peer();
    const b = peer();
    // A token mallory already holds: ekg holds its share of proven contexts (half the table), and
    // mallory her share of the token store, from the tests above.
    const victim = await aceClient(a, 'mallory', malloryTokens[0]);
    const req = victim.client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(1));
    expect(victim.client.response(await a(asCon(req.message)), req.binding).code).toBe(205);
    device.proc.kill('SIGTERM');
    await device.exited;
    ({ device, port } = await serveCoapOnly(service.bundle, dir));
    // The captured request again: the context lived in RAM only, so nothing can take it twice.
    expect(codeOf(await b(asCon(req.message)))).toBe('4.01');
    // The victim's POST replayed by B (same token, same N1): a new context under a fresh N2 and a new
    // ID2 draw, whose keys B cannot have (no Master Secret).
    const postAgain = () => b(con({ code: 2, token: fromHex('d1'), options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: 12, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }], payload: victim.payload }));
    const replayed = decodeCoapMessage(await postAgain());
    expect(replayed.code).toBe(0x41);
    // The victim's old request under the replayed POST's context: its keys are not the old ones.
    const again = decodeAuthzInfoAnswer(replayed.payload);
    const under = decodeCoapMessage(req.message);
    const rekeyed = con({ ...under, options: under.options.map((o) => (o.number === OSCORE ? { number: OSCORE, value: Uint8Array.of(0x09, 0x01, ...again.serverRecipientId) } : o)) });
    expect(codeOf(await b(rekeyed))).toBe('4.00');
    // And that replay is itself a replay now (same N1 while its context lives).
    expect(codeOf(await postAgain()).startsWith('4.')).toBe(true);
    // The victim re-posts (fresh N1) and carries on under its new context.
    const fresh = await aceClient(a, 'mallory', victim.token);
    const next = fresh.client.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) }, Uint8Array.of(2));
    expect(fresh.client.response(await a(asCon(next.message)), next.binding).code).toBe(205);
  }, 30_000);
});
