/**
 * The device bundles on QuickJS (issue 17): each built bundle (full, verify-only) is loaded into a
 * bare QuickJS context (no TextEncoder, no crypto, no Buffer, no timers: only ECMAScript and the
 * host functions of device/host.ts) under a heap limit, provisioned from the real authorization
 * service (HTTP, SQLite on disk), and attacked: the key holder is served, a thief holding the
 * token, a replayed request and a revoked token are refused, and a reboot over the host's storage
 * keeps the replay guard and the revocation. Tokens, proofs and revocation lists come from the
 * Node side (the service and device/'s client functions), so QuickJS verifies what the real
 * service issues, byte for byte.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createCwt,
  decodeCoapMessage,
  encodeProvisioningBundle,
  fromUtf8,
  MAX_MASTER_SECRET_BYTES,
  MAX_OSC_ID_BYTES,
  MIN_MASTER_SECRET_BYTES,
  OSC_LABEL,
  OSCORE_VERSION,
  portableProvider,
  publicCoseKey,
  utf8,
  type CoseKey,
} from '../cose/index.js';
import { beginOscoreClient, buildPopRequest, decodeAuthzInfoResponse, decodeResponseBody, encodeAuthzInfoRequest, memoryStorage, type DeviceResponseBody } from '../device/index.js';
import { buildDeviceBundle, measureModuleHeap, QuickJsDevice, QuickJsEngineError, BUNDLE_GZIP_BUDGET, type DeviceBundle, type DeviceBundleKind } from '../firmware-sim/index.js';
import { ed25519 as nobleEd25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const AUD = 'tube';
const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
/**
 * The heap each bundle runs under here, with no Ed25519 base-point table (device/host.ts), a
 * little above what it needs, so that a change that costs heap fails here. This file's scenario
 * peaked at 828 KB (full) and 413 KB (verify-only) on 2026-12-04, after terser's pass; bench/
 * quickjs.ts finds the smallest limit its own scenario passes with (820 and 412 KB). The issue's
 * goals of 256 and 128 KB are not met, see the README. The full bundle took 64 KB more on
 * 2026-12-03 with OSCORE (RFC 8613) and the ACE-OSCORE profile (RFC 9203) in it; the verify-only
 * one ~90 KB less on 2026-12-04 on @noble/ed25519 (device/compact-ed25519.ts).
 */
const HEAP_LIMIT: Record<DeviceBundleKind, number> = { full: 896 * 1024, 'verify-only': 480 * 1024 };
const ED25519_BASE_WINDOW = 1;

const nodeRandom = (n: number) => new Uint8Array(randomBytes(n));

describe('cose/ and device/ use ECMAScript alone', () => {
  // Host globals a device engine does not have. Adapters (Node-only) are outside the core.
  const HOST_GLOBALS = /\b(TextEncoder|TextDecoder|Buffer|setTimeout|setInterval|setImmediate|queueMicrotask|structuredClone|atob|btoa|performance|process|require|globalThis|console)\b|\bcrypto\.|\bDate\.now\(|\bMath\.random\(/;
  const sources = ['cose', 'device'].flatMap((dir) =>
    readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f)),
  );
  it('finds the sources it checks', () => expect(sources).toContain(join('cose', 'utf8.ts')));
  for (const file of sources) {
    it(`${file} names no host global in its code`, () => {
      const code = readFileSync(join(ROOT, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
        .replace(/'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, "''");
      expect(code).not.toMatch(HOST_GLOBALS);
    });
  }
});

describe('device bundle sizes (issue 13 budgets, gzipped)', () => {
  const built: Partial<Record<DeviceBundleKind, DeviceBundle>> = {};
  beforeAll(async () => {
    for (const kind of ['full', 'verify-only'] as const) built[kind] = await buildDeviceBundle(kind);
  }, 120_000);

  it('the full bundle stays within 64 KB gzipped, and draws on no node: module', () => {
    expect(built.full!.gzipBytes).toBeLessThanOrEqual(BUNDLE_GZIP_BUDGET.full);
    expect(built.full!.inputs.filter((i) => i.startsWith('node:'))).toEqual([]);
  });
  // 24,538 B when measured (2026-12-05; 27,388 B the day before: 26.7 KB through terser, 29.0 KB
  // before it, 38.4 KB on noble-curves' Ed25519, 40.4 KB with the cnf osc(4) reader).
  it('the verify-only bundle stays within issue 13\'s 24 KB gzipped', () => {
    expect(BUNDLE_GZIP_BUDGET['verify-only']).toBe(24 * 1024);
    expect(built['verify-only']!.gzipBytes).toBeLessThanOrEqual(BUNDLE_GZIP_BUDGET['verify-only']);
  });
  it('the verify-only bundle leaves out OSCORE, the client role and noble\'s AES tables; the home-made session is gone from both', () => {
    const vo = built['verify-only']!;
    expect(vo.inputs.filter((i) => /^device\/(oscore|authz-info)|token-client|@noble\/ciphers/.test(i))).toEqual([]);
    // Asymmetric PoP only (device/no-symmetric-pop.ts stands in for these).
    expect(vo.inputs.filter((i) => /aes-ccm|aes-block|encrypt0|mac0|hmac|hkdf/.test(i))).toEqual([]);
    expect(vo.inputs).toContain('device/no-symmetric-pop.ts');
    expect(built.full!.inputs).toEqual(expect.arrayContaining(['cose/aes-ccm.ts', 'cose/mac0.ts', 'cose/encrypt0.ts', 'device/oscore-role.ts']));
    for (const b of [vo, built.full!]) expect(b.inputs.filter((i) => /protected-session|session-table|client-session|session-keys/.test(i))).toEqual([]);
    // Ed25519 only: noble's Weierstrass curves (P-256) are left out (device/no-nist-curves.ts), and
    // its Ed25519 is @noble/ed25519's, not noble-curves' generic Edwards code (compact-ed25519.ts).
    expect(vo.inputs.filter((i) => /weierstrass|nist\.js|@noble\/curves/.test(i))).toEqual([]);
    expect(vo.inputs).toEqual(expect.arrayContaining(['device/compact-ed25519.ts', 'node_modules/@noble/ed25519/index.js']));
    expect(built.full!.inputs.some((i) => i.includes('@noble/ed25519'))).toBe(false);
    expect(built.full!.inputs.some((i) => /weierstrass/.test(i))).toBe(true);
    expect(vo.gzipBytes).toBeLessThan(built.full!.gzipBytes);
    // Nor cose/'s reader of OSCORE input material (cnf osc(4): symmetric PoP). ECDSA's low-S form
    // stays in both: a host may give the verify-only device a provider that verifies ES256
    // (test/device-bundle-differential.test.ts).
    // (Its labels and limits stay: the stand-in re-exports them. The reader's claim path does not.)
    expect(vo.code).not.toContain('cnf(8).osc(4)');
    expect(built.full!.code).toContain('cnf(8).osc(4)');
    expect(built.full!.inputs).toEqual(expect.arrayContaining(['cose/oscore-input-material.ts', 'cose/ecdsa-low-s.ts']));
    expect(vo.inputs).toContain('cose/ecdsa-low-s.ts');
  });
  it('the stand-in for the OSCORE input material reader keeps its labels and limits as cose/ has them', async () => {
    // What cose/index.ts gives a module inside the verify-only bundle (from device/no-symmetric-pop.ts
    // there). A name it re-exports and the stand-in lacks fails the build itself.
    const names = 'OSC_LABEL, OSCORE_VERSION, MIN_MASTER_SECRET_BYTES, MAX_MASTER_SECRET_BYTES, MAX_OSC_ID_BYTES';
    const part = await buildDeviceBundle('verify-only', { source: `export { ${names} } from './cose/index.ts';` });
    expect(part.inputs).toContain('device/no-symmetric-pop.ts');
    const inBundle = await import(`data:text/javascript;base64,${Buffer.from(part.code).toString('base64')}`);
    expect([inBundle.OSC_LABEL, inBundle.OSCORE_VERSION, inBundle.MIN_MASTER_SECRET_BYTES, inBundle.MAX_MASTER_SECRET_BYTES, inBundle.MAX_OSC_ID_BYTES]).toEqual([
      OSC_LABEL,
      OSCORE_VERSION,
      MIN_MASTER_SECRET_BYTES,
      MAX_MASTER_SECRET_BYTES,
      MAX_OSC_ID_BYTES,
    ]);
  }, 60_000);
});

describe.each(['full', 'verify-only'] as const)('the %s bundle on QuickJS', (kind) => {
  let now = 1_800_000_000;
  let service: DeviceService;
  let bundle: DeviceBundle;
  let provisioning: Uint8Array;
  const ekgKey = ed25519Key('ekg-pop');
  const thiefKey = ed25519Key('thief-pop');
  const otherKey = ed25519Key('other-pop');
  const storage = memoryStorage();
  let device: QuickJsDevice;

  const boot = () =>
    QuickJsDevice.boot({ bundle, memoryLimit: HEAP_LIMIT[kind], ed25519BaseWindow: ED25519_BASE_WINDOW, provisioning, host: { randomBytes: nodeRandom, clock: () => now, storage } });
  const ask = (body: Uint8Array): DeviceResponseBody => decodeResponseBody(device.request(body));
  const pop = (token: Uint8Array, popKey: CoseKey, fresh: { nonce: Uint8Array } | { now: number }, includeToken = false) =>
    buildPopRequest({ token, popKey, audience: AUD, request: GET_RESULT, includeToken, ...fresh });

  beforeAll(async () => {
    service = await startDeviceService({ audience: AUD, clients: ['ekg', 'other'], lifetime: 3600, clock: () => now });
    provisioning = encodeProvisioningBundle(service.bundle);
    bundle = await buildDeviceBundle(kind);
    device = await boot();
  }, 120_000);
  afterAll(async () => {
    device?.dispose();
    await service?.close();
  });

  let ekgToken: Uint8Array;
  let iatRequest: Uint8Array;
  let otherToken: Uint8Array;

  it('takes a token from the real service on authz-info, and serves its key holder (205)', async () => {
    ekgToken = (await service.issue('ekg', ekgKey)).accessToken;
    expect(decodeAuthzInfoResponse(device.authzInfo(encodeAuthzInfoRequest({ token: ekgToken })))).toEqual({});
    const answer = ask(pop(ekgToken, ekgKey, { nonce: device.issueNonce() }));
    expect(answer.code).toBe(205);
    expect(fromUtf8(answer.payload!)).toBe('21.5');
    iatRequest = pop(ekgToken, ekgKey, { now }, true);
    expect(ask(iatRequest).code).toBe(205);
    expect(device.stats.tokens).toBe(1);
  }, 60_000);

  it('serves a key holder whose PoP key is the base point B itself (scalar 1) within the same heap: no table of B\'s multiples is built for it', async () => {
    // The verification multiplies the holder's key: a library that multiplies B through a table
    // built on first use (@noble/ed25519's 4,224 points) would build it on this request.
    const B = nobleEd25519.Point.BASE;
    const baseKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: B.toBytes(), d: new Uint8Array(32), kid: utf8('base-point') };
    const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
    const toLe = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse());
    // RFC 8032 §5.1.6 with the secret scalar a = 1: R = rB, S = r + k·1 mod L.
    const scalarOne = {
      ...portableProvider,
      sign: (_key: CoseKey, _hash: unknown, message: Uint8Array) => {
        const r = nobleEd25519.Point.Fn.create(le(nodeRandom(64)));
        const R = B.multiply(r).toBytes();
        const k = nobleEd25519.Point.Fn.create(le(sha512(new Uint8Array([...R, ...baseKey.x!, ...message]))));
        return new Uint8Array([...R, ...toLe(nobleEd25519.Point.Fn.create(r + k))]);
      },
    };
    const token = (await service.issue('ekg', baseKey)).accessToken;
    const request = buildPopRequest({ token, popKey: baseKey, audience: AUD, request: GET_RESULT, includeToken: true, nonce: device.issueNonce() }, scalarOne);
    expect(ask(request).code).toBe(205);
    expect(device.peakHeapBytes).toBeLessThanOrEqual(HEAP_LIMIT[kind]);
  }, 60_000);

  it('refuses a thief who holds the token but not its key (bad_proof)', () => {
    const answer = ask(pop(ekgToken, thiefKey, { nonce: device.issueNonce() }));
    expect(answer.code).toBe(401);
    expect(answer.error).toBe('bad_proof');
  });

  it('refuses a replayed request: the same nonce, the same jti', () => {
    const nonceRequest = pop(ekgToken, ekgKey, { nonce: device.issueNonce() });
    expect(ask(nonceRequest).code).toBe(205);
    expect(ask(nonceRequest).error).toBe('replay');
    expect(ask(iatRequest).error).toBe('replay');
  });

  it('refuses a token revoked at the service once its signed list arrives', async () => {
    otherToken = (await service.issue('other', otherKey)).accessToken;
    expect(ask(pop(otherToken, otherKey, { nonce: device.issueNonce() }, true)).code).toBe(205);
    await service.revoke('other', otherToken);
    expect(device.applyRevocationList(await service.trl())).toBe(1);
    const answer = ask(pop(otherToken, otherKey, { nonce: device.issueNonce() }, true));
    expect(answer.error).toBe('revoked');
  }, 60_000);

  it('survives a reboot over its storage: the revocation and the replay guard hold, the key holder is served', async () => {
    device.dispose();
    now += 5;
    device = await boot();
    expect(device.stats.tokens).toBe(0); // RAM is gone; storage is not
    expect(ask(iatRequest).error).toBe('replay');
    expect(ask(pop(otherToken, otherKey, { nonce: device.issueNonce() }, true)).error).toBe('revoked');
    expect(ask(pop(ekgToken, ekgKey, { nonce: device.issueNonce() }, true)).code).toBe(205);
  }, 60_000);

  it('refuses garbage and oversized input with a typed answer, never a crash', () => {
    expect(decodeResponseBody(device.authzInfo(new Uint8Array([0xff, 0x00]))).code).toBe(400);
    // 0x5b... looks like a CoAP message (version bits 01): the full bundle answers CoAP 4.00
    // (device/oscore-endpoint.ts), the verify-only one, which has no CoAP, a refusal body.
    const junk = device.request(new Uint8Array(64 * 1024).fill(0x5b));
    expect(kind === 'full' ? decodeCoapMessage(junk).code : decodeResponseBody(junk).code).toBe(kind === 'full' ? 0x80 : 400);
    expect(ask(pop(ekgToken, ekgKey, { nonce: device.issueNonce() }, true)).code).toBe(205);
  });

  if (kind === 'full') {
    it('sets up an OSCORE context for a symmetric-key token (RFC 9203) and serves an OSCORE request', async () => {
      const issued = await service.issue('ekg');
      const client = beginOscoreClient(issued.accessToken, { id: issued.popKey!.kid ?? new Uint8Array(0), ms: issued.popKey!.k! }, portableProvider);
      const oscore = client.finish(device.authzInfo(client.message));
      const { message, binding } = oscore.request(GET_RESULT);
      const answer = oscore.response(device.request(message), binding);
      expect(answer).toMatchObject({ code: 205, authenticated: true });
      expect(fromUtf8(answer.payload!)).toBe('21.5');
    }, 60_000);
  } else {
    it('has no OSCORE and no symmetric PoP: a CoAP POST /authz-info is a bad_request, a token sealing a key is refused, typed, and not stored', async () => {
      const issued = await service.issue('ekg');
      const held = device.stats.tokens;
      const client = beginOscoreClient(issued.accessToken, { id: issued.popKey!.kid ?? new Uint8Array(0), ms: issued.popKey!.k! }, portableProvider);
      const answer = decodeResponseBody(device.authzInfo(client.message));
      expect([answer.code, answer.error]).toEqual([400, 'bad_request']);
      const bare = decodeResponseBody(device.authzInfo(encodeAuthzInfoRequest({ token: issued.accessToken })));
      expect([bare.code, bare.error]).toEqual([401, 'invalid_token']);
      // A COSE_Mac0 proof with the right key, the token carried along: refused the same way.
      const proof = ask(pop(issued.accessToken, issued.popKey!, { nonce: device.issueNonce() }, true));
      expect([proof.code, proof.error]).toEqual([401, 'invalid_token']);
      expect(device.stats.tokens).toBe(held);
      expect(ask(pop(ekgToken, ekgKey, { nonce: device.issueNonce() }, true)).code).toBe(205);
    }, 60_000);
  }

  it(kind === 'full' ? 'serves a key holder whose PoP key is P-256 (ES256 proofs)' : 'refuses a P-256 PoP key with a typed answer: the bundle is Ed25519 only', async () => {
    const kp = portableProvider.generateKeyPair('P-256');
    const p256Key: CoseKey = { kty: 'EC2', crv: 'P-256', x: kp.x, y: kp.y!, d: kp.d, kid: utf8('ekg-p256') };
    const token = (await service.issue('ekg', p256Key)).accessToken;
    const answer = ask(pop(token, p256Key, { nonce: device.issueNonce() }, true));
    if (kind === 'full') expect(answer.code).toBe(205);
    else {
      expect(answer.code).toBe(401);
      expect(answer.error).toMatch(/^(bad_proof|invalid_token)$/);
    }
  }, 60_000);

  it('refuses an ECDSA-signed token from a key it does not trust (unknown_key) and stores nothing', () => {
    const kp = portableProvider.generateKeyPair('P-256');
    const signer: CoseKey = { kty: 'EC2', crv: 'P-256', x: kp.x, y: kp.y!, d: kp.d, kid: utf8('stranger-es256') };
    const token = createCwt({ iss: 'stranger', aud: AUD, exp: now + 600, cnf: { coseKey: publicCoseKey(ekgKey) }, scope: [['/result', 1]] }, signer, { provider: portableProvider });
    const held = device.stats.tokens;
    const uploaded = decodeResponseBody(device.authzInfo(encodeAuthzInfoRequest({ token })));
    expect([uploaded.code, uploaded.error]).toEqual([401, 'unknown_key']);
    const carried = ask(pop(token, ekgKey, { nonce: device.issueNonce() }, true));
    expect([carried.code, carried.error]).toEqual([401, 'unknown_key']);
    expect(device.stats.tokens).toBe(held);
    expect(ask(pop(ekgToken, ekgKey, { nonce: device.issueNonce() }, true)).code).toBe(205);
  }, 60_000);

  it(`ran within its heap limit (${HEAP_LIMIT[kind] / 1024} KB) and reports the heap QuickJS counts`, () => {
    expect(device.peakHeapBytes).toBeGreaterThan(0);
    expect(device.peakHeapBytes).toBeLessThanOrEqual(HEAP_LIMIT[kind]);
    console.log(`${kind}: peak QuickJS heap ${device.peakHeapBytes} bytes (limit ${HEAP_LIMIT[kind]})`);
  });

  it('stops with out_of_memory, not a wrong answer, when the heap limit is too small', async () => {
    const err = await QuickJsDevice.boot({ bundle, memoryLimit: 64 * 1024, provisioning, host: { randomBytes: nodeRandom, clock: () => now, storage: memoryStorage() } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuickJsEngineError);
    expect((err as QuickJsEngineError).code).toBe('out_of_memory');
  }, 60_000);
});

describe.each(['full', 'verify-only'] as const)('the %s bundle, provisioned with anchors of its own choosing', (kind) => {
  const now = 1_800_000_000;
  const issuer = createFixtureIssuer(() => now);
  const p256 = portableProvider.generateKeyPair('P-256');
  const esAnchor: CoseKey = { kty: 'EC2', crv: 'P-256', x: p256.x, y: p256.y!, d: p256.d, kid: utf8('es256-anchor') };
  const holder = ed25519Key('anchor-test-holder');
  let device: QuickJsDevice;
  const upload = (token: Uint8Array) => device.authzInfo(encodeAuthzInfoRequest({ token }));
  beforeAll(async () => {
    device = await QuickJsDevice.boot({
      bundle: await buildDeviceBundle(kind),
      memoryLimit: HEAP_LIMIT[kind],
      ed25519BaseWindow: ED25519_BASE_WINDOW,
      provisioning: issuer.bundleFor(AUD, { anchors: [publicCoseKey(esAnchor)] }),
      host: { randomBytes: nodeRandom, clock: () => now, storage: memoryStorage() },
    });
  }, 120_000);
  afterAll(() => device?.dispose());

  // RFC 9203 §3.2.1 puts an OSCORE Master Secret only in an encrypted token: in a signed one it is
  // in the clear. An anchor that signs one anyway gets it refused: the full bundle reads the
  // material and refuses it (not encrypted), the verify-only one has no reader of it at all
  // (device/no-symmetric-pop.ts). Either way a typed invalid_token, nothing stored, no 500.
  it('refuses a signed token carrying cnf osc(4) as invalid_token and stores nothing; the same anchor\'s Ed25519-bound token is taken', () => {
    const osc = { id: utf8('osc-1'), ms: portableProvider.randomBytes(16) };
    const token = issuer.token({ aud: AUD, exp: now + 600, cnf: { osc }, scope: [['/result', 1]] });
    const answer = decodeResponseBody(upload(token));
    expect([answer.code, answer.error]).toEqual([401, 'invalid_token']);
    expect(device.stats.tokens).toBe(0);
    const good = issuer.token({ aud: AUD, exp: now + 600, cnf: { coseKey: publicCoseKey(holder) }, scope: [['/result', 1]] });
    expect(decodeAuthzInfoResponse(upload(good))).toEqual({});
    expect(device.stats.tokens).toBe(1);
  });

  it(kind === 'full' ? 'takes a token signed by a provisioned P-256 anchor (ES256)' : 'refuses a token signed by a provisioned P-256 anchor (invalid_token): its own Ed25519-only provider has no P-256', () => {
    const held = device.stats.tokens;
    const token = issuer.token({ aud: AUD, exp: now + 600, cnf: { coseKey: publicCoseKey(holder) }, scope: [['/result', 1]], cti: utf8('es256-signed') }, esAnchor);
    if (kind === 'full') {
      expect(decodeAuthzInfoResponse(upload(token))).toEqual({});
      expect(device.stats.tokens).toBe(held + 1);
    } else {
      const answer = decodeResponseBody(upload(token));
      expect([answer.code, answer.error]).toEqual([401, 'invalid_token']);
      expect(device.stats.tokens).toBe(held);
    }
  });
});

describe('a part of a bundle, measured on its own (bench/quickjs.ts: the goals\' floor)', () => {
  it('builds only what the source imports, with the kind\'s replacements, and reports the heap it takes loaded and running', async () => {
    const part = await buildDeviceBundle('verify-only', { source: "export { verifyOnlyProvider } from './device/verify-only.ts';" });
    expect(part.inputs).toEqual(expect.arrayContaining(['device/compact-ed25519.ts', 'node_modules/@noble/ed25519/index.js']));
    expect(part.inputs.filter((i) => /token-acceptance|resource-server-core|@noble\/curves/.test(i))).toEqual([]);
    const key = ed25519Key('floor');
    const message = utf8('floor');
    const signature = portableProvider.sign(key, undefined, message);
    const bytes = (b: Uint8Array) => `new Uint8Array([${b.join(',')}])`;
    const check = (sig: Uint8Array) => `if (!__m.verifyOnlyProvider.verify({ kty: 'OKP', crv: 'Ed25519', x: ${bytes(key.x!)} }, undefined, ${bytes(message)}, ${bytes(sig)})) throw new Error('verify failed');`;
    const heap = await measureModuleHeap(part.code, check(signature));
    expect(heap.emptyContext).toBeGreaterThan(0);
    expect(heap.afterLoad).toBeGreaterThan(heap.emptyContext);
    expect(heap.peak).toBeGreaterThanOrEqual(heap.afterLoad);
    // The call really ran in QuickJS: a wrong signature makes it throw, typed.
    const wrong = signature.slice();
    wrong[0]! ^= 1;
    const err = await measureModuleHeap(part.code, check(wrong)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuickJsEngineError);
    expect((err as QuickJsEngineError).message).toMatch(/verify failed/);
  }, 60_000);
});
