/**
 * A CoAP-only device after the service rotates its signing key (walkthrough, stop 36): a device
 * behind the broker gets the service's signed trust update relayed on `ace/<id>/trust`, but one
 * that speaks only CoAP had no way to learn the new key, and refused every new token until it was
 * provisioned again. It now takes the same signed update by `POST /trust` (the bytes of the
 * service's `GET /trust/<device>`), checked as on the broker's topic: signed by a key it already
 * trusts, newer than what it holds. Real processes: the service (SQLite on disk, HTTP), the
 * device (`keybound device serve --coap-only`, UDP), the update and tokens posted with
 * `keybound request`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeProvisioningBundle } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { rotateKeyCommand } from '../authz/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';
import { serveDevice, type DeviceProcess } from './support/device-process.js';
import { main } from '../cli/index.js';

const AUDIENCE = 'tube-coap-trust';

async function keybound(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

let service: DeviceService;
let device: DeviceProcess | undefined;
let dir: string;
let port: number;
const now = () => Math.floor(Date.now() / 1000);

async function startDevice(): Promise<void> {
  device = serveDevice(['--bundle', join(dir, 'bundle.cbor'), '--data-dir', join(dir, 'data'), '--coap-port', '0', '--coap-only']);
  port = Number((await device.waitFor((e) => e.event === 'coap_listening')).port);
}

async function stopDevice(): Promise<void> {
  device?.proc.kill('SIGTERM');
  await device?.exited;
  device = undefined;
}

/** POSTs `bytes` to the device's `path` with `keybound request`: its exit code and CoAP code. */
async function post(path: string, bytes: Uint8Array, name: string, contentFormat?: string) {
  writeFileSync(join(dir, name), bytes);
  const r = await keybound(['request', `coap://127.0.0.1:${port}${path}`, '--method', 'POST', '--payload-file', join(dir, name), ...(contentFormat ? ['--content-format', contentFormat] : [])]);
  return { exit: r.code, code: r.stderr.split('\n')[0], text: r.stdout.trim() };
}

/** A token for `ekg` bound to a fresh key: its bytes (posted bare to /authz-info, RFC 9200 §5.10.1). */
async function token(): Promise<Uint8Array> {
  const kp = nativeProvider.generateKeyPair('Ed25519');
  return (await service.issue('ekg', { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d })).accessToken;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybound-coap-trust-'));
  service = await startDeviceService({ audience: AUDIENCE, clients: ['ekg'], lifetime: 600, clock: now });
  writeFileSync(join(dir, 'bundle.cbor'), encodeProvisioningBundle(service.bundle), { mode: 0o600 });
  await startDevice();
}, 60_000);

afterAll(async () => {
  await stopDevice();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a CoAP-only device learns a rotated signing key by POST /trust', () => {
  it('refuses a tampered update and a new-key token; applies the service\'s update; then accepts the token, also after a restart', async () => {
    expect((await post('/authz-info', await token(), 'old-key.cbor', '19')).code).toBe('2.01');

    const rotated = await rotateKeyCommand({ dataDir: service.dir, alg: 'EdDSA' });
    // The running service re-reads its keys from the store (at most once a second).
    let fresh = await token();
    for (let i = 0; i < 50 && !Buffer.from(fresh).includes(Buffer.from(rotated.kid, 'hex')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      fresh = await token();
    }
    expect(Buffer.from(fresh).includes(Buffer.from(rotated.kid, 'hex'))).toBe(true);
    // Signed by a key the device does not know yet: refused.
    expect((await post('/authz-info', fresh, 'new-key.cbor', '19')).code).toBe('4.01');

    const update = new Uint8Array(await (await fetch(`${service.base}/trust/${AUDIENCE}`)).arrayBuffer());
    const tampered = update.slice();
    tampered[tampered.length - 1]! ^= 1;
    const refused = await post('/trust', tampered, 'tampered.cbor');
    expect([refused.exit, refused.code]).toEqual([1, '4.00']);
    expect(refused.text).toMatch(/^trust update refused: /);
    await device!.waitFor((e) => e.event === 'trust_refused');
    expect((await post('/authz-info', fresh, 'new-key.cbor', '19')).code).toBe('4.01');

    const applied = await post('/trust', update, 'update.cbor');
    expect([applied.exit, applied.code]).toEqual([0, '2.04']);
    await device!.waitFor((e) => e.event === 'trust_updated');
    // The same update again is stale: harmless, and said.
    const again = await post('/trust', update, 'update.cbor');
    expect([again.code, again.text]).toEqual(['4.00', 'stale: not newer than the trust set held']);

    expect((await post('/authz-info', fresh, 'new-key.cbor', '19')).code).toBe('2.01');
    // Kept in the device's data directory: a restart still knows the new key.
    await stopDevice();
    await startDevice();
    expect((await post('/authz-info', await token(), 'after-restart.cbor', '19')).code).toBe('2.01');
    // Another method on /trust: 4.05.
    expect((await keybound(['request', `coap://127.0.0.1:${port}/trust`])).stderr.split('\n')[0]).toBe('4.05');
  }, 120_000);
});
