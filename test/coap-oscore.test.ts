/**
 * OSCORE over CoAP between libcoap 4.3.5's coap-client (`-E`, the independent peer) and
 * `keybound device serve --coap-port P --oscore-conf FILE` in its own process (issue 12):
 * - `/result` is read over OSCORE (the payload only the device's resource makes);
 * - a client with a wrong Master Secret gets 4.00 and no content;
 * - a request captured on the path (a UDP proxy) and sent again is refused 4.01 "Replay detected";
 * - after the device restarts on its data directory, the client's next request is accepted and the
 *   captured one is still refused (the replay window is kept, RFC 8613 §B.1.2's concern);
 * - the whole ACE-OSCORE flow (RFC 9203): coap-client posts a token the real service issued for
 *   the coap_oscore profile to /authz-info with its nonce1 and id; the test derives the client's
 *   OSCORE configuration from nonce1, nonce2 and the ids as RFC 9203 §4.3 says (its own CBOR, not
 *   keybound's); coap-client -E then reads /result; a context from a wrong salt is refused;
 * - keybound's own client: `keybound request --token-response` runs the same flow against the
 *   device, and `keybound request --oscore-conf` reads libcoap's `coap-server -E` /time (2.05),
 *   answering its Echo challenge (RFC 8613 §B.1.2), twice without reusing a sequence number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCbor, decodeCoapMessage, encodeCbor, encodeProvisioningBundle, portableProvider, toHex, ACE_PROFILE } from '../cose/index.js';
import { findLibcoap, LIBCOAP_MISSING } from './support/libcoap.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';
import { serveDevice, type DeviceProcess } from './support/device-process.js';
import { startUdpProxy, type UdpProxy } from './support/udp-proxy.js';
import { requestToken } from '../device/index.js';
import { main } from '../cli/index.js';

async function keybound(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

/** A UDP port free a moment ago (coap-server takes a port number, not 0). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const libcoap = findLibcoap();
const AUDIENCE = 'tube-oscore-coap';

function conf(secret: string, sender: string, recipient: string): string {
  return ['# written by test/coap-oscore.test.ts', `master_secret,hex,"${secret}"`, 'master_salt,hex,"9e7ca92223786340"', `sender_id,hex,"${sender}"`, `recipient_id,hex,"${recipient}"`, 'replay_window,integer,32', ''].join('\n');
}

async function coapClient(args: string[]): Promise<{ out: string; log: string }> {
  return new Promise((resolve) => {
    execFile(libcoap!.client, ['-v', '7', ...args], { timeout: 20_000, encoding: 'utf8' }, (_error, stdout, stderr) => resolve({ out: stdout, log: stdout + stderr }));
  });
}

describe.skipIf(!libcoap)(`OSCORE with libcoap coap-client -E${libcoap ? '' : ` (${LIBCOAP_MISSING})`}`, () => {
  let service: DeviceService;
  let device: DeviceProcess;
  let proxy: UdpProxy | undefined;
  let dir: string;
  let port: number;
  let args: string[];
  const secret = toHex(portableProvider.randomBytes(16));
  const now = () => Math.floor(Date.now() / 1000);

  async function start() {
    device = serveDevice(args);
    port = Number((await device.waitFor((e) => e.event === 'coap_listening')).port);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-coap-oscore-'));
    service = await startDeviceService({ audience: AUDIENCE, clients: ['ekg'], lifetime: 600, aceProfile: ACE_PROFILE.coap_oscore, clock: now, grantable: '[["/result",1],["/upload",2]]' });
    writeFileSync(join(dir, 'bundle.cbor'), encodeProvisioningBundle(service.bundle), { mode: 0o600 });
    writeFileSync(join(dir, 'device.conf'), conf(secret, '01', '02'), { mode: 0o600 });
    writeFileSync(join(dir, 'client.conf'), conf(secret, '02', '01'));
    writeFileSync(join(dir, 'wrong.conf'), conf(toHex(portableProvider.randomBytes(16)), '02', '01'));
    // The device's resources: the demo's /result text, and an /upload that tells what it received.
    writeFileSync(
      join(dir, 'handler.mjs'),
      `export default { resources: {
        '/result': { GET: () => ({ payload: '${AUDIENCE}: result negative (test handler)' }) },
        '/upload': { POST: (req) => ({ code: 204, payload: 'got ' + req.payload.length + ' bytes, sum ' + req.payload.reduce((a, b) => a + b, 0) }) },
      } };\n`,
    );
    args = ['--bundle', join(dir, 'bundle.cbor'), '--data-dir', join(dir, 'data'), '--coap-port', '0', '--coap-only', '--oscore-conf', join(dir, 'device.conf'), '--handler', join(dir, 'handler.mjs')];
    await start();
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    device?.proc.kill('SIGTERM');
    await device?.exited;
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a client with a wrong Master Secret gets 4.00 Decryption failed and no content (and moves no replay window)', async () => {
    const r = await coapClient(['-E', `${join(dir, 'wrong.conf')},${join(dir, 'wrong.seq')}`, `coap://127.0.0.1:${port}/result`]);
    expect(r.out).not.toContain('result negative');
    expect(r.log).toMatch(/c:4\.00 .*Decryption failed/);
    await device.waitFor((e) => e.event === 'coap_refused' && e.reason === 'oscore_decrypt_failed');
  });

  it('coap-client -E reads /result over OSCORE', async () => {
    const r = await coapClient(['-E', `${join(dir, 'client.conf')},${join(dir, 'client.seq')}`, `coap://127.0.0.1:${port}/result`]);
    expect(r.out).toContain(`${AUDIENCE}: result negative`);
    expect(r.log).toMatch(/c:POST .*Oscore:pIV=/); // it went protected
    expect(r.log).toMatch(/c:2\.04 .*\[ Oscore: \]/); // and came back protected
  });

  it('a 2 KB body in 64-byte blocks under OSCORE (libcoap -E -b 64, inner block-wise) is reassembled and served', async () => {
    const body = new Uint8Array(2048).map((_, i) => i % 200);
    writeFileSync(join(dir, 'body.bin'), body);
    const r = await coapClient(['-E', `${join(dir, 'client.conf')},${join(dir, 'client.seq')}`, '-b', '64', '-m', 'post', '-f', join(dir, 'body.bin'), `coap://127.0.0.1:${port}/upload`]);
    expect(r.out).toContain(`got 2048 bytes, sum ${body.reduce((a, b) => a + b, 0)}`);
    expect(r.log.match(/c:2\.31/g)?.length).toBeGreaterThanOrEqual(31); // every block but the last, protected
  });

  it('a captured request sent again is refused 4.01 Replay detected, also after a restart, while the next request passes', async () => {
    proxy = await startUdpProxy(port);
    const r = await coapClient(['-E', `${join(dir, 'client.conf')},${join(dir, 'client.seq')}`, `coap://127.0.0.1:${proxy.port}/result`]);
    expect(r.out).toContain('result negative');
    const captured = proxy.captured.find((d) => decodeCoapMessage(new Uint8Array(d)).options.some((o) => o.number === 9))!;
    expect(captured).toBeDefined();
    const check = async () => {
      const answer = await proxy!.replay(captured);
      const m = decodeCoapMessage(new Uint8Array(answer!));
      expect([m.code.toString(16), new TextDecoder().decode(m.payload)]).toEqual(['81', 'Replay detected']);
    };
    await check();

    device.proc.kill('SIGTERM');
    expect(await device.exited).toBe(0);
    await proxy.close();
    proxy = undefined;
    await start();
    const next = await coapClient(['-E', `${join(dir, 'client.conf')},${join(dir, 'client.seq')}`, `coap://127.0.0.1:${port}/result`]);
    expect(next.out).toContain('result negative');
    proxy = await startUdpProxy(port);
    await check();
  }, 60_000);

  it('the whole ACE flow: a service-issued token posted by coap-client to /authz-info, then coap-client -E reads /result and updates its access rights (RFC 9203 §4.4)', async () => {
    const t = await service.issue('ekg');
    const osc = t.cnf && 'osc' in t.cnf ? t.cnf.osc : undefined;
    expect(osc?.ms).toBeDefined();
    const nonce1 = portableProvider.randomBytes(8);
    const id1 = Uint8Array.of(0x0c);
    // RFC 9203 §4.1: {1: access_token, 40: nonce1, 43: ace_client_recipientid}, application/ace+cbor.
    writeFileSync(join(dir, 'authz-info.cbor'), encodeCbor(new Map<number, Uint8Array>([[1, t.accessToken], [40, nonce1], [43, id1]])));
    const post = await coapClient(['-b', '64', '-m', 'post', '-t', '19', '-f', join(dir, 'authz-info.cbor'), '-o', join(dir, 'answer.cbor'), `coap://127.0.0.1:${port}/authz-info`]);
    expect(post.log).toMatch(/c:2\.01/);
    const answer = decodeCbor(new Uint8Array(readFileSync(join(dir, 'answer.cbor')))) as Map<number, Uint8Array>;
    const nonce2 = answer.get(42)!;
    const id2 = answer.get(44)!;
    expect([nonce2?.length, id2?.length]).toEqual([8, expect.any(Number)]);
    // RFC 9203 §4.3: Master Salt = bstr(salt) | bstr(N1) | bstr(N2) (each a CBOR byte string, Figure 11);
    // the client sends as ID2 (the device's recipient id) and receives as ID1.
    const bstr = (b: Uint8Array) => (b.length < 24 ? [0x40 | b.length, ...b] : [0x58, b.length, ...b]);
    const salt = Uint8Array.from([...bstr(osc!.salt ?? new Uint8Array(0)), ...bstr(nonce1), ...bstr(nonce2)]);
    const clientConf = [
      `master_secret,hex,"${toHex(osc!.ms!)}"`,
      `master_salt,hex,"${toHex(salt)}"`,
      ...(osc!.contextId ? [`id_context,hex,"${toHex(osc!.contextId)}"`] : []),
      `sender_id,hex,"${toHex(id2)}"`,
      `recipient_id,hex,"${toHex(id1)}"`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'ace-client.conf'), clientConf);
    const read = await coapClient(['-E', `${join(dir, 'ace-client.conf')},${join(dir, 'ace-client.seq')}`, `coap://127.0.0.1:${port}/result`]);
    expect(read.out).toContain(`${AUDIENCE}: result negative`);
    expect(read.log).toMatch(/c:2\.04 .*\[ Oscore: \]/);
    // RFC 9203 §4.4, the update of access rights, from coap-client under the same context: /upload
    // is refused with the first token, then a token for the same material (req_cnf kid, §3.1)
    // posted to /authz-info under OSCORE is taken (2.01), and /upload is served.
    const ace = `${join(dir, 'ace-client.conf')},${join(dir, 'ace-client.seq')}`;
    writeFileSync(join(dir, 'upload.bin'), Uint8Array.of(1, 2, 3));
    const upload = () => coapClient(['-E', ace, '-m', 'post', '-f', join(dir, 'upload.bin'), `coap://127.0.0.1:${port}/upload`]);
    expect((await upload()).log).toMatch(/c:4\.03/);
    const fresh = await service.issue('ekg'); // new material: no update of this context
    writeFileSync(join(dir, 'fresh.cbor'), encodeCbor(new Map<number, Uint8Array>([[1, fresh.accessToken]])));
    expect((await coapClient(['-E', ace, '-m', 'post', '-t', '19', '-f', join(dir, 'fresh.cbor'), `coap://127.0.0.1:${port}/authz-info`])).log).toMatch(/c:4\.01/);
    const wider = await service.issueUpdate('ekg', osc!.id, [['/result', 1], ['/upload', 2]]);
    expect(wider.cnf).toBeUndefined(); // §3.2: no cnf in the answer
    writeFileSync(join(dir, 'update.cbor'), encodeCbor(new Map<number, Uint8Array>([[1, wider.accessToken]])));
    const updated = await coapClient(['-E', ace, '-m', 'post', '-t', '19', '-f', join(dir, 'update.cbor'), `coap://127.0.0.1:${port}/authz-info`]);
    expect(updated.log).toMatch(/c:2\.01/);
    const uploaded = await upload();
    expect(uploaded.out).toContain('got 3 bytes, sum 6');
    // The same context with a wrong salt (nonce2 ignored) is refused: the nonces are in the keys.
    writeFileSync(join(dir, 'ace-wrong.conf'), clientConf.replace(toHex(salt), toHex(salt.slice(0, -9))));
    const wrong = await coapClient(['-E', `${join(dir, 'ace-wrong.conf')},${join(dir, 'ace-wrong.seq')}`, `coap://127.0.0.1:${port}/result`]);
    expect(wrong.out).not.toContain('result negative');
    expect(wrong.log).toMatch(/c:4\.0[01]/);
  }, 60_000);

  it('keybound request --token-response runs the ACE flow against the device and reads /result', async () => {
    let raw = new Uint8Array(0);
    await requestToken(
      async (body) => {
        const r = await fetch(`${service.base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body });
        raw = new Uint8Array(await r.arrayBuffer());
        return raw;
      },
      { grant: 'client_credentials', auth: { clientId: 'ekg', clientSecret: 'ekg-secret-that-is-long-enough' }, audience: AUDIENCE, scope: [['/result', 1]] },
    );
    writeFileSync(join(dir, 'token-response.cbor'), raw, { mode: 0o600 });
    const r = await keybound(['request', `coap://127.0.0.1:${port}/result`, '--token-response', join(dir, 'token-response.cbor')]);
    expect([r.code, r.stderr.trim(), r.stdout]).toEqual([0, '2.05', expect.stringContaining(`${AUDIENCE}: result negative`)]);
    // Outside the token's scope: the device's refusal, protected and authenticated.
    const other = await keybound(['request', `coap://127.0.0.1:${port}/hello`, '--token-response', join(dir, 'token-response.cbor')]);
    // Its AS Request Creation Hints (RFC 9200 §5.3) described on stderr, not CBOR bytes on stdout.
    expect([other.code, other.stderr.split('\n')[0], other.stdout]).toEqual([1, '4.03', '']);
    expect(other.stderr.split('\n')[1], other.stderr).toMatch(/^AS Request Creation Hints \(RFC 9200 §5\.3\): .*audience tube-oscore-coap/);
    // The answer holds the Master Secret (RFC 9203 §3.2.1): a file others may read is named, the secret never.
    chmodSync(join(dir, 'token-response.cbor'), 0o644);
    const loose = await keybound(['request', `coap://127.0.0.1:${port}/result`, '--token-response', join(dir, 'token-response.cbor')]);
    expect(loose.code).toBe(0);
    expect(loose.stderr).toMatch(/warning: --token-response \S+ holds a Master Secret and others may read it \(chmod 600\)/);
  });
});

describe.skipIf(!libcoap)(`keybound request --oscore-conf against libcoap coap-server -E${libcoap ? '' : ` (${LIBCOAP_MISSING})`}`, () => {
  let server: ChildProcess;
  let dir: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-coap-server-'));
    const secret = toHex(portableProvider.randomBytes(16));
    writeFileSync(join(dir, 'server.conf'), conf(secret, '01', '02'));
    writeFileSync(join(dir, 'client.conf'), conf(secret, '02', '01'), { mode: 0o600 });
    port = await freeUdpPort();
    server = spawn(libcoap!.server, ['-A', '127.0.0.1', '-p', String(port), '-E', join(dir, 'server.conf')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    server.stderr!.resume();
    await new Promise((resolve) => setTimeout(resolve, 300));
  });

  afterAll(() => {
    server?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads /time (2.05) through the Echo challenge, twice, its sequence number moving on', async () => {
    const args = ['request', `coap://127.0.0.1:${port}/time`, '--oscore-conf', join(dir, 'client.conf')];
    const first = await keybound(args);
    expect([first.code, first.stderr.trim()]).toEqual([0, '2.05']);
    expect(first.stdout.trim()).toMatch(/\d\d:\d\d:\d\d/);
    // The state file (cose/oscore-state.ts, JSON): the reservation made before the first number was used.
    const reservedLimit = () => (JSON.parse(readFileSync(join(dir, 'client.conf.seq'), 'utf8')) as { senderSequenceLimit: number }).senderSequenceLimit;
    const reserved = reservedLimit();
    const second = await keybound(args); // a new process would start at the reservation: no nonce reused
    expect([second.code, second.stderr.trim()]).toEqual([0, '2.05']);
    expect(reservedLimit()).toBeGreaterThan(reserved);
    const missing = await keybound(['request', `coap://127.0.0.1:${port}/no-such-thing`, '--oscore-conf', join(dir, 'client.conf')]);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, '4.04']);
  });
});
