/**
 * The device bundles on QuickJS (issue 17 "Must show"): for each bundle, the smallest heap limit
 * at which the attacker's scenario passes (binary search; QuickJS's own count of live heap bytes,
 * firmware-sim/quickjs-engine.ts says why not JS_SetMemoryLimit alone), with noble's default
 * Ed25519 base-point table and with none (device/host.ts); verified requests per second in QuickJS
 * against the same requests on the same device code in Node (a ratio from this run); and what the
 * bundle's code takes inside QuickJS. Goals: verify-only <= 128 KB, full <= 256 KB of heap.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCwt, createRevocationList, encodeProvisioningBundle, portableProvider, publicCoseKey, tokenHash, utf8, type CoseKey } from '../cose/index.js';
import {
  buildPopRequest,
  decodeAuthzInfoResponse,
  createResourceServer,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  loadProvisioningBundle,
  memoryStorage,
  serveAuthzInfo,
  serveRequest,
  type DeviceStorage,
} from '../device/index.js';
import { recordFigure } from './figures.js';
import { buildDeviceBundle, bundleCodeStats, DEVICE_BUNDLE_KINDS, measureModuleHeap, QuickJsDevice, QuickJsEngineError, type DeviceBundle, type DeviceBundleKind } from '../firmware-sim/index.js';

const NOW = 1_800_000_000;
const AUD = 'tube';
const GOAL: Record<DeviceBundleKind, number> = { full: 256 * 1024, 'verify-only': 128 * 1024 };
const GET = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
const random = (n: number) => new Uint8Array(randomBytes(n));

function ed25519(kid: string): CoseKey {
  const kp = portableProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8(kid) };
}

const asKey = ed25519('as-1');
const holder = ed25519('holder');
const thief = ed25519('thief');
const victim = ed25519('victim');
const provisioning = encodeProvisioningBundle({ version: 1, deviceId: AUD, audience: AUD, issuer: 'as', trustAnchors: [publicCoseKey(asKey)] });
const tokenFor = (key: CoseKey, sub: string) => createCwt({ iss: 'as', sub, aud: AUD, iat: NOW, exp: NOW + 3600, cnf: { coseKey: publicCoseKey(key) }, scope: [['/temp', 1]] }, asKey);
const holderToken = tokenFor(holder, 'holder');
const revokedToken = tokenFor(victim, 'victim');
const trl = createRevocationList({ audience: AUD, sequence: 1, fullSet: [tokenHash(revokedToken)] }, asKey);

/** The scenario of test/quickjs-device.test.ts, self-contained: true when every answer is right. */
async function scenarioPasses(bundle: DeviceBundle, memoryLimit: number, ed25519BaseWindow?: number): Promise<{ ok: boolean; peak: number }> {
  const storage: DeviceStorage = memoryStorage();
  const boot = () => QuickJsDevice.boot({ bundle, memoryLimit, provisioning, host: { randomBytes: random, clock: () => NOW, storage }, ...(ed25519BaseWindow ? { ed25519BaseWindow } : {}) });
  let device: QuickJsDevice | undefined;
  let peak = 0;
  try {
    device = await boot();
    const d = device;
    const ask = (body: Uint8Array) => decodeResponseBody(d.request(body));
    const pop = (token: Uint8Array, key: CoseKey, fresh: { nonce: Uint8Array } | { now: number }) =>
      buildPopRequest({ token, popKey: key, audience: AUD, request: GET, includeToken: true, ...fresh });
    const checks: boolean[] = [];
    checks.push(Object.keys(decodeAuthzInfoResponse(d.authzInfo(encodeAuthzInfoRequest({ token: holderToken })))).length === 0);
    const served = pop(holderToken, holder, { nonce: d.issueNonce() });
    checks.push(ask(served).code === 205);
    checks.push(ask(served).error === 'replay');
    checks.push(ask(pop(holderToken, thief, { nonce: d.issueNonce() })).error === 'bad_proof');
    const iat = pop(holderToken, holder, { now: NOW });
    checks.push(ask(iat).code === 205);
    checks.push(d.applyRevocationList(trl) === 1);
    checks.push(ask(pop(revokedToken, victim, { nonce: d.issueNonce() })).error === 'revoked');
    peak = d.peakHeapBytes;
    d.dispose();
    device = await boot();
    const r = device;
    checks.push(decodeResponseBody(r.request(iat)).error === 'replay');
    checks.push(decodeResponseBody(r.request(pop(revokedToken, victim, { nonce: r.issueNonce() }))).error === 'revoked');
    checks.push(decodeResponseBody(r.request(pop(holderToken, holder, { nonce: r.issueNonce() }))).code === 205);
    peak = Math.max(peak, r.peakHeapBytes);
    return { ok: checks.every(Boolean), peak };
  } catch (error) {
    if (error instanceof QuickJsEngineError && error.code === 'out_of_memory') return { ok: false, peak };
    throw error;
  } finally {
    device?.dispose();
  }
}

/** The smallest limit (to 4 KiB) at which the scenario passes, between lo (fails) and hi (passes). */
async function smallestLimit(bundle: DeviceBundle, window?: number): Promise<number> {
  let lo = 64 * 1024;
  let hi = 8 * 1024 * 1024;
  if (!(await scenarioPasses(bundle, hi, window)).ok) throw new Error(`${bundle.kind}: the scenario fails even with ${hi} bytes`);
  while (hi - lo > 4096) {
    const mid = Math.floor((lo + hi) / 2 / 4096) * 4096;
    if ((await scenarioPasses(bundle, mid, window)).ok) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Verified PoP requests per second (nonce-fresh proofs, token by hash): QuickJS and Node, same bytes. */
async function requestsPerSecond(bundle: DeviceBundle, n: number): Promise<{ quickjs: number; node: number }> {
  const qjs = await QuickJsDevice.boot({ bundle, memoryLimit: 64 * 1024 * 1024, provisioning, host: { randomBytes: random, clock: () => NOW, storage: memoryStorage() } });
  const node = createResourceServer({ trust: loadProvisioningBundle(provisioning, NOW), storage: memoryStorage(), clock: () => NOW, handler: () => ({ code: 205, payload: utf8('21.5') }) });
  const time = (authzInfo: (b: Uint8Array) => Uint8Array, request: (b: Uint8Array) => Uint8Array, nonce: () => Uint8Array): number => {
    authzInfo(encodeAuthzInfoRequest({ token: holderToken }));
    const one = () => {
      const body = buildPopRequest({ token: holderToken, popKey: holder, audience: AUD, request: GET, nonce: nonce() });
      if (decodeResponseBody(request(body)).code !== 205) throw new Error('a verified request was refused');
    };
    one(); // warm up (noble builds its base-point table on first use)
    let device = 0;
    for (let i = 0; i < n; i++) {
      // Only the device's side counts: the client's proof is made outside the timed part.
      const body = buildPopRequest({ token: holderToken, popKey: holder, audience: AUD, request: GET, nonce: nonce() });
      const t0 = performance.now();
      const answer = request(body);
      device += performance.now() - t0;
      if (decodeResponseBody(answer).code !== 205) throw new Error('a verified request was refused');
    }
    return n / (device / 1000);
  };
  try {
    return {
      quickjs: time((b) => qjs.authzInfo(b), (b) => qjs.request(b), () => qjs.issueNonce()),
      node: time((b) => serveAuthzInfo(node, b), (b) => serveRequest(node, b), () => node.issueNonce()),
    };
  } finally {
    qjs.dispose();
  }
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;

export async function benchQuickJs(): Promise<void> {
  for (const kind of DEVICE_BUNDLE_KINDS) {
    const bundle = await buildDeviceBundle(kind);
    const code = await bundleCodeStats(bundle);
    const withTable = await smallestLimit(bundle);
    const tableless = await smallestLimit(bundle, 1);
    const rate = await requestsPerSecond(bundle, 20);
    recordFigure({ name: `quickjs.smallest_heap_bytes.${kind}`, value: tableless, unit: 'bytes', goal: `<= ${kb(GOAL[kind])}`, met: tableless <= GOAL[kind] });
    recordFigure({ name: `quickjs.verified_requests_per_s.${kind}`, value: Number(rate.quickjs.toFixed(1)), unit: 'requests/s', baseline: Number(rate.node.toFixed(1)), ratio: rate.quickjs / rate.node });
    console.log(`${kind} bundle (${kb(bundle.bytes)} minified, ${(bundle.gzipBytes / 1024).toFixed(1)} KB gzipped):`);
    // The verify-only bundle's Ed25519 (device/compact-ed25519.ts) keeps no base-point table at all.
    const table = kind === 'verify-only' ? 'its Ed25519 keeps no base-point table' : `${kb(withTable)} with noble's default base-point table`;
    console.log(`  smallest QuickJS heap for the scenario: ${kb(tableless)} with no Ed25519 base table (${table}; goal <= ${kb(GOAL[kind])}: ${tableless <= GOAL[kind] ? 'met' : 'NOT met'})`);
    console.log(`  verified requests/s: QuickJS ${rate.quickjs.toFixed(1)}, Node ${rate.node.toFixed(1)} (QuickJS/Node ${(rate.quickjs / rate.node).toFixed(3)})`);
    console.log(
      `  code in QuickJS: bytecode ${kb(code.bytecodeBytes)}, function objects ${kb(code.functionBytes)} (line tables ${kb(code.lineTableBytes)} of them), atoms ${kb(code.atomBytes)}`,
    );
  }
  await cryptoFloor();
}

/**
 * What the verify-only goal stands on: the engine's empty context, and the verify-only bundle's
 * crypto alone (its provider, @noble/ed25519 and SHA-512, device/compact-ed25519.ts) loaded and
 * checking one signature, with nothing of the device's own code.
 */
async function cryptoFloor(): Promise<void> {
  const part = await buildDeviceBundle('verify-only', { source: "export { verifyOnlyProvider } from './device/verify-only.ts';" });
  const message = utf8('a COSE_Sign1 Sig_structure of a PoP proof');
  const signature = portableProvider.sign(holder, undefined, message);
  const bytes = (b: Uint8Array) => `new Uint8Array([${b.join(',')}])`;
  const call = `if (!__m.verifyOnlyProvider.verify({ kty: 'OKP', crv: 'Ed25519', x: ${bytes(holder.x!)} }, undefined, ${bytes(message)}, ${bytes(signature)})) throw new Error('verify failed');`;
  const heap = await measureModuleHeap(part.code, call);
  recordFigure({ name: 'quickjs.empty_context_bytes', value: heap.emptyContext, unit: 'bytes' });
  recordFigure({ name: 'quickjs.ed25519_verify_alone_peak_bytes', value: heap.peak, unit: 'bytes', goal: `<= ${kb(GOAL['verify-only'])} for the whole verify-only device`, met: heap.peak <= GOAL['verify-only'] });
  // The libraries alone, loaded (not run: @noble/ed25519's own verify builds its base table).
  const libraries = await buildDeviceBundle('verify-only', { source: "export { Point, hashes } from '@noble/ed25519'; export { sha512 } from '@noble/hashes/sha2.js';" });
  const librariesHeap = await measureModuleHeap(libraries.code);
  recordFigure({ name: 'quickjs.ed25519_libraries_loaded_bytes', value: librariesHeap.afterLoad, unit: 'bytes' });
  // The full bundle's crypto alone: the portable provider (noble-curves' Ed25519 and P-256, SHA-2,
  // HMAC, HKDF, AES-CCM), no base-point table, checking one Ed25519 signature.
  const fullPart = await buildDeviceBundle('full', { source: "export { portableProvider, setEd25519BaseWindow } from './cose/index.ts';" });
  const fullHeap = await measureModuleHeap(fullPart.code, `__m.setEd25519BaseWindow(1); ${call.replace('verifyOnlyProvider', 'portableProvider')}`);
  recordFigure({ name: 'quickjs.full_crypto_alone_peak_bytes', value: fullHeap.peak, unit: 'bytes', goal: `<= ${kb(GOAL.full)} for the whole full device`, met: fullHeap.peak <= GOAL.full });
  console.log(`the full goal's floor: the full bundle's crypto alone (${kb(fullPart.bytes)} minified: the portable provider on noble-curves, SHA-2, HMAC, HKDF, AES-CCM) ${kb(fullHeap.afterLoad)} once loaded, ${kb(fullHeap.peak)} at its peak checking one signature`);
  console.log(`the verify-only goal's floor: an empty QuickJS context takes ${kb(heap.emptyContext)}; the bundle's Ed25519 verification alone (${kb(part.bytes)} minified: its provider, @noble/ed25519, SHA-512) ${kb(heap.afterLoad)} once loaded, ${kb(heap.peak)} at its peak checking one signature; @noble/ed25519 and SHA-512 alone (${kb(libraries.bytes)} minified) ${kb(librariesHeap.afterLoad)} once loaded`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await benchQuickJs();
