/**
 * `keybound device serve --coap-port P --coap-only` as deployed (its own process, issue 12), with
 * the real service (authz/ over HTTP, SQLite) issuing the tokens and libcoap's coap-client as the
 * client: a service-issued token posted block-wise to /authz-info (64-byte blocks, libcoap's new
 * token per block) is accepted (2.01); a tampered one is refused 4.01; another method 4.05; a
 * resource asked without OSCORE 4.01 with the AS Request Creation Hints (after an Echo round trip when
 * they are over 3x the request, RFC 9175 §2.4); a body over the bound 4.13.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCbor, decodeCoapMessage, encodeCoapMessage, type CoapMessage } from '../cose/index.js';
import { createSocket } from 'node:dgram';
import { findLibcoap, LIBCOAP_MISSING } from './support/libcoap.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';
import { serveCoapOnly, type DeviceProcess } from './support/device-process.js';
import { ed25519Key } from './support/device-issuer.js';

const libcoap = findLibcoap();
const AUDIENCE = 'tube-coap';

/** coap-client -v 7 logs every PDU as `v:1 t:ACK c:2.01 ...`: the codes of what came back, in order. */
function answerCodes(log: string): string[] {
  return [...log.matchAll(/t:(?:ACK|CON|NON) c:(\d\.\d\d)/g)].map((m) => m[1]!);
}

async function coapClient(args: string[]): Promise<{ out: string; codes: string[] }> {
  return new Promise((resolve) => {
    execFile(libcoap!.client, ['-v', '7', ...args], { timeout: 20_000, encoding: 'utf8' }, (_error, stdout, stderr) =>
      resolve({ out: stdout, codes: answerCodes(stdout + stderr) }),
    );
  });
}

describe.skipIf(!libcoap)(`keybound device serve --coap-port with coap-client${libcoap ? '' : ` (${LIBCOAP_MISSING})`}`, () => {
  let service: DeviceService;
  let device: DeviceProcess;
  let dir: string;
  let port: number;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-coap-device-'));
    service = await startDeviceService({ audience: AUDIENCE, clients: ['ekg'], lifetime: 600, clock: now });
    ({ device, port } = await serveCoapOnly(service.bundle, dir));
  }, 60_000);

  afterAll(async () => {
    device?.proc.kill('SIGTERM');
    await device?.exited;
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a service-issued token posted block-wise to /authz-info (2.01), refuses it tampered (4.01)', async () => {
    const token = (await service.issue('ekg', ed25519Key('ekg-pop'))).accessToken;
    expect(token.length).toBeGreaterThan(128); // several 64-byte blocks
    writeFileSync(join(dir, 'token.cbor'), token);
    const ok = await coapClient(['-b', '64', '-m', 'post', '-t', '19', '-f', join(dir, 'token.cbor'), `coap://127.0.0.1:${port}/authz-info`]);
    expect(ok.codes.filter((c) => c === '2.31').length).toBeGreaterThanOrEqual(2);
    expect(ok.codes.at(-1)).toBe('2.01');
    await device.waitFor((e) => e.event === 'token_accepted');

    const bad = token.slice();
    bad[bad.length - 3]! ^= 0x01; // inside the signature
    writeFileSync(join(dir, 'bad.cbor'), bad);
    const refused = await coapClient(['-m', 'post', '-t', '19', '-f', join(dir, 'bad.cbor'), `coap://127.0.0.1:${port}/authz-info`]);
    expect(refused.codes.at(-1)).toBe('4.01');
  });

  it('answers 4.05 to another method, 4.01 with hints to a resource asked in the clear, 4.13 to a body over the bound', async () => {
    expect((await coapClient([`coap://127.0.0.1:${port}/authz-info`])).codes.at(-1)).toBe('4.05');
    expect((await coapClient([`coap://127.0.0.1:${port}/result`])).codes.at(-1)).toBe('4.01');
    // The same in raw bytes, to read the payload: RFC 9200 §5.3 hints name the audience (5) to ask a token for.
    // This 13-byte request's hints (40 bytes) are over 3x its size: RFC 9175 §2.4's Echo round trip
    // comes first (test/review-coap-amplification.test.ts), a 4.01 with Echo and no payload.
    const sock = createSocket('udp4');
    const ask = (echo?: Uint8Array) =>
      new Promise<CoapMessage>((resolve) => {
        sock.once('message', (answer) => resolve(decodeCoapMessage(new Uint8Array(answer))));
        const options = [{ number: 11, value: new TextEncoder().encode('result') }, ...(echo ? [{ number: 252, value: echo }] : [])];
        sock.send(encodeCoapMessage({ type: 0, code: 1, messageId: echo ? 8 : 7, token: Uint8Array.of(1, 2), options, payload: new Uint8Array(0) }), port, '127.0.0.1');
      });
    const challenge = await ask();
    expect(challenge.code).toBe(0x81);
    expect(challenge.payload.length).toBe(0);
    const m = await ask(challenge.options.find((o) => o.number === 252)!.value);
    sock.close();
    expect(m.code).toBe(0x81);
    const hints = decodeCbor(m.payload) as Map<number, unknown>;
    expect(hints.get(5)).toBe(AUDIENCE);
    writeFileSync(join(dir, 'huge.bin'), new Uint8Array(40_000));
    expect((await coapClient(['-b', '1024', '-m', 'post', '-t', '19', '-f', join(dir, 'huge.bin'), `coap://127.0.0.1:${port}/authz-info`])).codes.at(-1)).toBe('4.13');
    expect(device.events.some((e) => e.event === 'coap_refused' && e.reason === 'body_too_large')).toBe(true);
  });
});
