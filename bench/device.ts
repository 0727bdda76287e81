/**
 * Device runtime figures (issue 3 "Lean"): verify+store of one token and one OSCORE
 * request/response in ops/s on the portable provider, bytes held per stored token and per OSCORE
 * context, and the size of the device core bundle (esbuild, minified, and gzipped).
 */
import { fileURLToPath } from 'node:url';
import { buildDeviceBundle, BUNDLE_GZIP_BUDGET, DEVICE_BUNDLE_KINDS } from '../firmware-sim/index.js';
import { createCwt, encodeProvisioningBundle, portableProvider, publicCoseKey, sealCoseKey, utf8, type CoseKey } from '../cose/index.js';
import {
  beginOscoreClient,
  createResourceServer,
  loadProvisioningBundle,
  memoryStorage,
  serveAuthzInfo,
  serveRequest,
  type ResourceServer,
} from '../device/index.js';
import { recordFigure } from './figures.js';

const NOW = 1_800_000_000;
const clock = () => NOW;
const AUD = 'tube-123';

function ed25519(kid: string): CoseKey {
  const kp = portableProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8(kid) };
}

function opsPerSecond(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(20, n); i++) fn(i); // warm up
  const start = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return n / ((performance.now() - start) / 1000);
}

/**
 * The JS heap plus ArrayBuffer backing stores: V8 keeps a typed array's bytes off its heap from
 * 65 bytes up, while an embedded engine (QuickJS) allocates them from the same RAM.
 */
function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function benchDevice(): Promise<void> {
  const asKey = ed25519('as-1');
  const shared: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(16), kid: utf8('tube-shared'), alg: 10 };
  const bundle = encodeProvisioningBundle({ version: 1, deviceId: AUD, audience: AUD, issuer: 'as', trustAnchors: [publicCoseKey(asKey), shared] });
  const handler = () => ({ code: 205, payload: utf8('21.5') });
  const device = (profile = {}): ResourceServer =>
    createResourceServer({ trust: loadProvisioningBundle(bundle, NOW), storage: memoryStorage(), clock, handler, profile });
  const clientKey = ed25519('c');
  const cnf = { coseKey: publicCoseKey(clientKey) };
  const token = (i: number) => createCwt({ iss: 'as', sub: `c${i}`, aud: AUD, exp: NOW + 3600, cnf, scope: [['/temp', 1]] }, asKey);

  // verify + store: distinct tokens, since the store keeps one entry per token hash.
  const N = 300;
  const tokens = Array.from({ length: N + 20 }, (_, i) => token(i));
  const big = device({ tokenBudgetBytes: 10_000_000 });
  const verifyOps = opsPerSecond(N, (i) => big.authzInfo({ token: tokens[i + 20]! }));
  console.log(`token verify+store (Ed25519, portable): ${verifyOps.toFixed(0)} ops/s, token ${tokens[0]!.length} bytes`);
  recordFigure({ name: 'device.token_verify_store_per_s', value: Math.round(verifyOps), unit: 'ops/s' });
  recordFigure({ name: 'device.token_accounted_bytes', value: Math.round(big.stats.tokenBytes / big.stats.tokens), unit: 'bytes' });
  console.log(`  accounted per stored token: ${(big.stats.tokenBytes / big.stats.tokens).toFixed(0)} bytes (token + key + entry overhead)`);

  // In a function of its own: the device and its 2000 tokens are garbage before the session
  // figure below takes its baseline (ArrayBuffer bytes count, so a late collection shows there).
  const perToken = ((): number => {
    const heapDevice = device({ tokenBudgetBytes: 100_000_000 });
    const many = Array.from({ length: 2000 }, (_, i) => token(i));
    const before = heapUsed();
    for (const t of many) heapDevice.authzInfo({ token: t });
    const grown = heapUsed() - before;
    if (heapDevice.stats.tokens !== many.length) throw new Error('bench: the device did not keep every token');
    return grown / many.length;
  })();
  recordFigure({ name: 'device.heap_per_stored_token', value: Math.round(perToken), unit: 'bytes', goal: '<= 1024 bytes', met: perToken <= 1024 });
  console.log(`  JS heap per stored token: ~${perToken.toFixed(0)} bytes${(globalThis as { gc?: unknown }).gc ? '' : ' (run node --expose-gc for a steadier figure)'}`);

  // one OSCORE request/response (RFC 8613 §8): client protect, device unprotect+serve+protect, client unprotect.
  const sessions = device({ maxSessions: 2000 });
  const popKey: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: utf8('ekg') };
  const symToken = createCwt({ iss: 'as', aud: AUD, exp: NOW + 3600, cnf: sealCoseKey(popKey, shared), scope: [['/temp', 1]] }, asKey);
  // RFC 9203 §3.2.1: the sealed symmetric PoP key is the Master Secret, its kid the id.
  const material = { id: popKey.kid!, ms: popKey.k! };
  const start = beginOscoreClient(symToken, material, portableProvider);
  const client = start.finish(serveAuthzInfo(sessions, start.message));
  const req = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
  const rtOps = opsPerSecond(2000, () => {
    const { message, binding } = client.request(req);
    client.response(serveRequest(sessions, message), binding);
  });
  const sample = client.request(req);
  recordFigure({ name: 'device.oscore_round_trips_per_s', value: Math.round(rtOps), unit: 'round trips/s' });
  console.log(`OSCORE request/response (AES-CCM-16-64-128, both ends): ${rtOps.toFixed(0)} round trips/s, request ${sample.message.length} bytes`);

  const contextDevice = createResourceServer({ trust: loadProvisioningBundle(bundle, NOW), storage: memoryStorage(), clock, handler, profile: { maxSessions: 1000, tokenBudgetBytes: 100_000_000 } });
  // One token per context: a device keeps only a few unproven contexts per token (device/oscore-contexts.ts).
  const posts = Array.from({ length: 400 }, (_, i) => {
    const k: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: utf8(`c${i}`) };
    const t = createCwt({ iss: 'as', aud: AUD, exp: NOW + 3600, cnf: sealCoseKey(k, shared), scope: [['/temp', 1]] }, asKey);
    return beginOscoreClient(t, { id: k.kid!, ms: k.k! }, portableProvider).message;
  });
  const h0 = heapUsed();
  let opened = 0;
  for (const m of posts) if (serveAuthzInfo(contextDevice, m)[1] === 0x41) opened++; // 2.01 Created
  const perContext = (heapUsed() - h0) / opened;
  recordFigure({ name: 'device.heap_per_oscore_context', value: Math.round(perContext), unit: 'bytes' });
  // The device's contexts live in RAM (a reboot loses them; the client posts its token again, RFC 9203 §4.3): nothing persisted.
  console.log(`OSCORE context at the device (token stored with it): ~${perContext.toFixed(0)} bytes of JS heap over ${opened} contexts, nothing persisted`);

  for (const kind of DEVICE_BUNDLE_KINDS) {
    const bundle = await buildDeviceBundle(kind);
    const nodeImports = bundle.inputs.filter((p) => p.startsWith('node:'));
    recordFigure({ name: `device.bundle_gzip_bytes.${kind}`, value: bundle.gzipBytes, unit: 'bytes', goal: `<= ${BUNDLE_GZIP_BUDGET[kind] / 1024} KB`, met: bundle.gzipBytes <= BUNDLE_GZIP_BUDGET[kind] });
    console.log(
      `device ${kind} bundle: ${(bundle.bytes / 1024).toFixed(1)} KB minified, ${(bundle.gzipBytes / 1024).toFixed(1)} KB gzipped` +
        ` (goal <= ${BUNDLE_GZIP_BUDGET[kind] / 1024} KB gzipped), node: imports ${nodeImports.length}${bundle.messages ? '' : ', codes only (error messages are their codes)'}`,
    );
    if (!bundle.messages) {
      // The same bundle with its error text (npm run build:device -- --messages): what codes-only saves.
      const withText = await buildDeviceBundle(kind, { messages: true });
      recordFigure({ name: `device.bundle_gzip_bytes.${kind}_with_messages`, value: withText.gzipBytes, unit: 'bytes' });
      console.log(`  the same with error messages (a development build): ${(withText.bytes / 1024).toFixed(1)} KB minified, ${(withText.gzipBytes / 1024).toFixed(1)} KB gzipped`);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await benchDevice();
