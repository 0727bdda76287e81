/**
 * Adversarial review: `keybound device serve --coap-only` as an amplifier (RFC 7252 §11.3, RFC 9175
 * §2.4). The attacker sends small unprotected requests with a victim's source address; what the
 * device sends back to that address must be at most 3x what was sent, for every unprotected answer
 * kind. Spoofing is modelled with sockets of their own (other ports, and 127.0.0.2 for another
 * host): a source that never sent the device's Echo back only ever sees the bounded challenge.
 * Measured on raw UDP against the device in its own process; libcoap's coap-client and
 * `keybound request` are the clients that must still get the real answer after the Echo round trip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { decodeCbor, decodeCoapMessage, encodeCoapMessage, fromUtf8, utf8, type CoapMessage } from '../cose/index.js';
import { answerBytes, createEchoChallenge, ECHO_BYTES } from '../device/adapters/index.js';
import { main } from '../cli/index.js';
import { startCoapDeviceFixture, type CoapDeviceFixture } from './support/coap-device-fixture.js';
import { findLibcoap } from './support/libcoap.js';
import { startUdpProxy } from './support/udp-proxy.js';

const AUDIENCE = 'tube-amp';
const ECHO = 252;
const OSCORE = 9;
const URI_PATH = 11;
const libcoap = findLibcoap();

let fixture: CoapDeviceFixture;
let port: number;
const sockets: Socket[] = [];

/** A source: one socket bound to `address`; each request's datagram out, the answer's datagram back. */
async function source(address = '127.0.0.1'): Promise<(bytes: Uint8Array) => Promise<Uint8Array>> {
  const sock = createSocket('udp4');
  sockets.push(sock);
  await new Promise<void>((resolve) => sock.bind(0, address, resolve));
  return (bytes) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 3000);
      sock.once('message', (m) => (clearTimeout(timer), resolve(new Uint8Array(m))));
      sock.send(bytes, port, '127.0.0.1');
    });
}

let mid = 1;
const con = (m: Omit<CoapMessage, 'type' | 'messageId'>): Uint8Array => encodeCoapMessage({ ...m, type: 0, messageId: mid++ });
const codeOf = (m: CoapMessage) => `${m.code >> 5}.${String(m.code & 31).padStart(2, '0')}`;
const echoOf = (m: CoapMessage) => m.options.find((o) => o.number === ECHO)?.value;
const withEcho = (m: Omit<CoapMessage, 'type' | 'messageId'>, echo: Uint8Array) => ({ ...m, options: [...m.options, { number: ECHO, value: echo }] });

/** The unprotected answer kinds a stranger can draw, each as small as it can be sent. */
const KINDS: { name: string; request: Omit<CoapMessage, 'type' | 'messageId'>; big: boolean }[] = [
  // RFC 9200 §5.2 hints (with a 16-byte cnonce): the 4-byte GET the review measured at 9.75x.
  { name: 'AS Request Creation Hints to a 4-byte GET', request: { code: 1, options: [], payload: new Uint8Array(0) }, big: true },
  // 19 bytes in, 47 out: within 3x, sent as is (no round trip for a client whose request is not tiny).
  { name: 'hints to GET /result with an 8-byte token', request: { code: 1, token: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), options: [{ number: URI_PATH, value: utf8('result') }], payload: new Uint8Array(0) }, big: false },
  // A body in one Block1 block (RFC 7959): the transport adds Block1 to the answer, counted too.
  { name: 'hints to a one-block Block1 POST', request: { code: 2, options: [{ number: 27, value: Uint8Array.of(0x06) }], payload: Uint8Array.of(1) }, big: true },
  // RFC 8613 §8.2 step 2: "Security context not found" to a 7-byte OSCORE request (the review's 4.4x).
  { name: 'unknown kid (7 bytes)', request: { code: 2, options: [{ number: OSCORE, value: Uint8Array.of(0x08, 0x42) }], payload: new Uint8Array(0) }, big: true },
  { name: 'failed tag under an unknown kid, with Partial IV', request: { code: 2, options: [{ number: OSCORE, value: Uint8Array.of(0x09, 0x00, 0x42) }], payload: Uint8Array.of(1) }, big: true },
  { name: 'malformed OSCORE option (4.02)', request: { code: 2, options: [{ number: OSCORE, value: Uint8Array.of(0x0e) }], payload: new Uint8Array(0) }, big: false },
  { name: 'GET /authz-info (4.05)', request: { code: 1, options: [{ number: URI_PATH, value: utf8('authz-info') }], payload: new Uint8Array(0) }, big: false },
  { name: 'POST /authz-info, 1 byte of garbage', request: { code: 2, options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: 12, value: Uint8Array.of(19) }], payload: Uint8Array.of(0xff) }, big: false },
  { name: 'POST /authz-info, no Content-Format', request: { code: 2, options: [{ number: URI_PATH, value: utf8('authz-info') }], payload: Uint8Array.of(0xa0) }, big: false },
];

const kind = (name: string) => KINDS.find((k) => k.name === name)!.request;

beforeAll(async () => {
  fixture = await startCoapDeviceFixture({ audience: AUDIENCE, clients: ['ekg'], prefix: 'keybound-amp-' });
  port = fixture.port;
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  await fixture?.close();
});

describe('keybound device serve --coap-only is no amplifier (RFC 9175 §2.4)', () => {
  it('answers every unprotected request kind from an unverified source with at most 3x its size', async () => {
    const victim = await source();
    const factors: Record<string, number> = {};
    for (const k of KINDS) {
      const request = con(k.request);
      const answer = await victim(request);
      factors[k.name] = answer.length / request.length;
      expect(answer.length, `${k.name}: ${request.length} -> ${answer.length} bytes`).toBeLessThanOrEqual(3 * request.length);
      const m = decodeCoapMessage(answer);
      // The large answers are held back for a 4.01 with a 6-byte Echo and nothing else.
      if (k.big) {
        expect(codeOf(m), k.name).toBe('4.01');
        expect(echoOf(m)?.length, k.name).toBe(ECHO_BYTES);
        expect(m.payload.length, k.name).toBe(0);
      } else expect(echoOf(m), k.name).toBeUndefined();
    }
    console.info('amplification factors (answer/request bytes):', JSON.stringify(factors));
  });

  it('gives the real answer once the source repeats the request with its Echo (hints, Security context not found)', async () => {
    const client = await source();
    const get = kind('AS Request Creation Hints to a 4-byte GET');
    const echo = echoOf(decodeCoapMessage(await client(con(get))))!;
    const hinted = decodeCoapMessage(await client(con(withEcho(get, echo))));
    expect(codeOf(hinted)).toBe('4.01');
    expect((decodeCbor(hinted.payload) as Map<number, unknown>).get(5)).toBe(AUDIENCE);
    // Stateless: the same value serves again within its slot, for another request from that address.
    const kid = kind('unknown kid (7 bytes)');
    const missing = decodeCoapMessage(await client(con(withEcho(kid, echo))));
    expect(codeOf(missing)).toBe('4.01');
    expect(fromUtf8(missing.payload)).toBe('Security context not found');
  });

  it('refuses an Echo issued to another address, a tampered one, a truncated one: challenged again, still within 3x', async () => {
    const client = await source('127.0.0.1');
    const other = await source('127.0.0.2');
    const get = kind('AS Request Creation Hints to a 4-byte GET');
    const echo = echoOf(decodeCoapMessage(await client(con(get))))!;
    const tampered = echo.slice();
    tampered[0]! ^= 0x01;
    const forged: [string, (b: Uint8Array) => Promise<Uint8Array>, Uint8Array][] = [
      ['issued to 127.0.0.1, sent from 127.0.0.2', other, echo],
      ['one bit flipped', client, tampered],
      ['truncated', client, echo.slice(0, ECHO_BYTES - 1)],
    ];
    for (const [name, send, value] of forged) {
      const request = con(withEcho(get, value));
      const answer = await send(request);
      expect(answer.length, name).toBeLessThanOrEqual(3 * request.length);
      const m = decodeCoapMessage(answer);
      expect(m.payload.length, name).toBe(0);
      expect(echoOf(m)?.length, name).toBe(ECHO_BYTES);
    }
  });

  it('an Echo value expires after its slot and the next (30-60 s), checked with an injected clock', () => {
    let t = 1_000_000;
    const challenge = createEchoChallenge({ secret: new Uint8Array(32).fill(9), now: () => t });
    const value = challenge.issue('192.0.2.1');
    expect(value.length).toBe(ECHO_BYTES);
    expect(challenge.verify('192.0.2.1', value)).toBe(true);
    expect(challenge.verify('192.0.2.2', value)).toBe(false);
    expect(challenge.verify('192.0.2.1', Uint8Array.of(...value, 0))).toBe(false);
    expect(challenge.verify('192.0.2.1', value.slice(1))).toBe(false);
    expect(challenge.verify('192.0.2.1', new Uint8Array(0))).toBe(false);
    t += 30_000;
    expect(challenge.verify('192.0.2.1', value)).toBe(true);
    t += 30_000;
    expect(challenge.verify('192.0.2.1', value)).toBe(false);
    // Another device (another secret) does not take this one's values.
    expect(createEchoChallenge({ secret: new Uint8Array(32).fill(8), now: () => 1_000_000 }).verify('192.0.2.1', value)).toBe(false);
  });

  it("the guard's size of an answer is the encoded datagram's (option deltas and lengths past 12 and 268, payload marker)", () => {
    const cases: { token: number; options: { number: number; value: Uint8Array }[]; payload: Uint8Array }[] = [
      { token: 0, options: [], payload: new Uint8Array(0) },
      { token: 8, options: [{ number: 252, value: new Uint8Array(6) }], payload: new Uint8Array(0) },
      { token: 2, options: [{ number: 12, value: Uint8Array.of(19) }], payload: new Uint8Array(30) },
      { token: 1, options: [{ number: 292, value: new Uint8Array(300) }, { number: 9, value: new Uint8Array(13) }, { number: 11, value: new Uint8Array(0) }], payload: new Uint8Array(1) },
    ];
    for (const c of cases) {
      const encoded = encodeCoapMessage({ type: 2, code: 0x81, messageId: 1, token: new Uint8Array(c.token), options: [...c.options].sort((a, b) => a.number - b.number), payload: c.payload });
      expect(answerBytes({ tokenBytes: c.token, blockwise: false }, c)).toBe(encoded.length);
    }
  });

  it('keybound request coap:// answers the Echo challenge and prints the hints', async () => {
    const out: Buffer[] = [];
    let stderr = '';
    const code = await main(['request', `coap://127.0.0.1:${port}`], { stdout: { write: (t: string | Uint8Array) => out.push(Buffer.from(t)) }, stderr: { write: (t: string) => (stderr += t) } });
    expect(stderr.split('\n')[0]).toBe('4.01');
    expect(code).not.toBe(0);
    // The AS Request Creation Hints the device sent (RFC 9200 §5.3), described on stderr (stop 37:
    // they were CBOR bytes on stdout).
    expect(stderr.split('\n')[1]).toMatch(new RegExp(`^AS Request Creation Hints \\(RFC 9200 §5\\.3\\): .*audience ${AUDIENCE}`));
    expect(Buffer.concat(out).length).toBe(0);
  });

  it.skipIf(!libcoap)('coap-client 4.3.5 repeats a challenged GET with the Echo and gets the hints', async () => {
    // coap-client's GET carries Uri-Port and Request-Tag (14 bytes): its hints (37) are within 3x and
    // it is never challenged on its own. Made tiny on the way (the two options taken out), it is.
    const strip = (d: Buffer) => {
      const m = decodeCoapMessage(new Uint8Array(d));
      return Buffer.from(encodeCoapMessage({ ...m, options: m.options.filter((o) => o.number !== 7 && o.number !== 292) }));
    };
    const proxy = await startUdpProxy(port, '127.0.0.1', strip);
    const out = await new Promise<string>((resolve) =>
      execFile(libcoap!.client, ['-v', '7', `coap://127.0.0.1:${proxy.port}/`], { timeout: 20_000, encoding: 'utf8' }, (_e, stdout, stderr) => resolve(stdout + stderr)),
    ).finally(() => proxy.close());
    // The challenge: 4.01 with an Echo and no payload; coap-client sends the GET again carrying it.
    const echo = /t:ACK c:4\.01 i:\w+ \{\w*\} \[ Echo:0x([0-9a-f]+) \]\n/.exec(out)?.[1];
    expect(echo, out).toHaveLength(2 * ECHO_BYTES);
    expect(out).toMatch(new RegExp(`t:CON c:GET [^\n]*Echo:0x${echo}`));
    // Then the hints, which name the audience.
    expect(out).toContain(AUDIENCE);
  });
});

