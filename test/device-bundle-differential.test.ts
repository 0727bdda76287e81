/**
 * The built device bundles are the same program as the modules they are built from. The build
 * rewrites a lot (esbuild's bundling and minification, the codes-only build's emptied messages,
 * terser's compressor, the verify-only bundle's stand-ins), and a rewrite that changed a branch in
 * a check would go unseen by tests that only walk the paths a key holder and a thief take. So the
 * same sequence of hostile inputs (valid tokens, proofs, revocation lists and provisioning
 * bundles, and thousands of seeded mutations of them: bits flipped, bytes cut, inserted, swapped)
 * goes to a device made from the unbundled modules and to one made from the built bundle, both in
 * Node with the same clock and the same seeded randomness, and every answer must be the same bytes
 * (device answers carry codes only: device/device-messages.ts), every revocation list and
 * provisioning bundle the same outcome, and the token stores end the same.
 */
import { describe, expect, it } from 'vitest';
import { createCwt, publicCoseKey, utf8, portableProvider, type CoseKey } from '../cose/index.js';
import * as unbundledFull from '../device/index.js';
import * as unbundledVerifyOnly from '../device/verify-only.js';
import { buildDeviceBundle, type DeviceBundleKind } from '../firmware-sim/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';

const AUD = 'tube-diff';
const NOW = 1_800_000_000;
const GET = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
/** Mutants per valid input; every one is sent to both devices. */
const MUTANTS = 150;

/** The module surface both a bundle and the unbundled entry points give (device/verify-only.ts, device/index.ts). */
interface DeviceModule {
  memoryStorage(): unknown;
  hostProvider(host: { randomBytes(n: number): Uint8Array }, base?: unknown): unknown;
  loadProvisioningBundle(bytes: Uint8Array, now: number): unknown;
  serveAuthzInfo(device: unknown, body: Uint8Array): Uint8Array;
  serveRequest(device: unknown, body: Uint8Array): Uint8Array;
  createResourceServer?(opts: object): DeviceLike;
  createVerifyOnlyServer?(opts: object): DeviceLike;
  verifyOnlyProvider?: unknown;
}
interface DeviceLike {
  applyRevocationList(bytes: Uint8Array): number;
  readonly stats: object;
}

/** xorshift32: the same numbers on every run and for both devices. */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function seededBytes(seed: number): (n: number) => Uint8Array {
  const next = seeded(seed);
  return (n) => Uint8Array.from({ length: n }, () => next() & 0xff);
}

function mutate(input: Uint8Array, next: () => number): Uint8Array {
  const at = (n: number) => next() % Math.max(1, n);
  const out = [...input];
  switch (next() % 6) {
    case 0: // flip one to three bits
      for (let k = 0, n = 1 + at(3); k < n; k++) out[at(out.length)]! ^= 1 << at(8);
      break;
    case 1: // cut the end off
      out.length = at(out.length);
      break;
    case 2: // insert a byte
      out.splice(at(out.length + 1), 0, next() & 0xff);
      break;
    case 3: // a byte set to an edge value (a CBOR head's length bits, a break, a huge length)
      out[at(out.length)] = [0x00, 0x1f, 0x1b, 0x5b, 0x7f, 0x9f, 0xbf, 0xff][at(8)]!;
      break;
    case 4: // a slice doubled
      {
        const from = at(out.length);
        out.splice(from, 0, ...out.slice(from, from + 1 + at(16)));
      }
      break;
    default: // a byte deleted
      out.splice(at(out.length), 1);
  }
  return Uint8Array.from(out);
}

function makeDevice(kb: DeviceModule, kind: DeviceBundleKind, provisioning: Uint8Array): { device: DeviceLike | undefined; refusal?: string } {
  const host = { randomBytes: seededBytes(0x5eed), clock: () => NOW, storage: kb.memoryStorage() };
  const provider = kind === 'verify-only' ? kb.hostProvider(host, kb.verifyOnlyProvider) : kb.hostProvider(host);
  let trust: unknown;
  try {
    trust = kb.loadProvisioningBundle(provisioning, NOW);
  } catch (e) {
    return { device: undefined, refusal: (e as { code?: string }).code ?? 'untyped' };
  }
  const create = (kb.createResourceServer ?? kb.createVerifyOnlyServer)!;
  return { device: create({ trust, storage: host.storage, clock: host.clock, provider, handler: () => ({ code: 205, payload: utf8('21.5') }) }) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function outcome(run: () => unknown): string {
  try {
    const v = run();
    return `ok ${v instanceof Uint8Array ? hex(v) : JSON.stringify(v)}`;
  } catch (e) {
    return `refused ${(e as { code?: string }).code ?? 'untyped'}`;
  }
}

describe.each(['verify-only', 'full'] as const)('the %s bundle answers hostile input exactly as the modules it is built from', (kind) => {
  it(`the same bytes for ${MUTANTS} mutants of each valid input, the same outcomes for lists and provisioning bundles`, async () => {
    const built = await buildDeviceBundle(kind);
    const bundled = (await import(`data:text/javascript;base64,${Buffer.from(built.code).toString('base64')}`)) as DeviceModule;
    const unbundled = (kind === 'verify-only' ? unbundledVerifyOnly : unbundledFull) as unknown as DeviceModule;

    const issuer = createFixtureIssuer(() => NOW);
    const provisioning = issuer.bundleFor(AUD);
    const holder = ed25519Key('holder');
    const token = issuer.token({ aud: AUD, exp: NOW + 600, cnf: { coseKey: publicCoseKey(holder) }, scope: [['/temp', 1]] });
    const symmetric = issuer.symmetricCnf(AUD);
    const sealed = issuer.token({ aud: AUD, exp: NOW + 600, cnf: symmetric.cnf, scope: [['/temp', 1]] });
    const p256 = portableProvider.generateKeyPair('P-256');
    const es256Key: CoseKey = { kty: 'EC2', crv: 'P-256', x: p256.x, y: p256.y!, d: p256.d, kid: utf8('stranger') };
    const es256 = createCwt({ iss: 'stranger', aud: AUD, exp: NOW + 600, cnf: { coseKey: publicCoseKey(holder) } }, es256Key, { provider: portableProvider });
    const proofFor = (t: Uint8Array, key: CoseKey, seed: number) =>
      unbundledFull.buildPopRequest({ token: t, popKey: key, audience: AUD, request: GET, includeToken: true, now: NOW }, { ...portableProvider, randomBytes: seededBytes(seed) });
    const other = issuer.token({ aud: AUD, exp: NOW + 600, cnf: { coseKey: publicCoseKey(ed25519Key('other')) }, scope: [['/temp', 1]] });
    const trl = issuer.revoke(other, AUD);

    const bodies: Array<['authz-info' | 'request', Uint8Array]> = [
      ['authz-info', unbundledFull.encodeAuthzInfoRequest({ token })],
      ['authz-info', unbundledFull.encodeAuthzInfoRequest({ token: sealed })],
      ['authz-info', unbundledFull.encodeAuthzInfoRequest({ token: es256 })],
      ['request', proofFor(token, holder, 1)],
      ['request', proofFor(sealed, symmetric.popKey, 2)],
      ['request', proofFor(other, holder, 3)],
    ];

    const a = makeDevice(unbundled, kind, provisioning);
    const b = makeDevice(bundled, kind, provisioning);
    expect(a.device && b.device).toBeTruthy();
    const next = seeded(kind === 'full' ? 0xf011 : 0x0e1f);
    let compared = 0;
    const answers = new Set<string>();
    const send = (where: 'authz-info' | 'request', body: Uint8Array) => {
      const serve = (kb: DeviceModule, device: DeviceLike) => (where === 'authz-info' ? kb.serveAuthzInfo(device, body) : kb.serveRequest(device, body));
      const x = serve(unbundled, a.device!);
      const y = serve(bundled, b.device!);
      expect(hex(y), `${where} ${hex(body)}`).toBe(hex(x));
      compared++;
      const answer = outcome(() => unbundledFull.decodeResponseBody(x));
      answers.add(answer.startsWith('ok') ? String((unbundledFull.decodeResponseBody(x) as { code: number; error?: string }).error ?? (unbundledFull.decodeResponseBody(x) as { code: number }).code) : 'authz-info {}');
    };
    // Revocation lists: the same count or the same refusal code. The valid one first, so that
    // `other` is refused as revoked below.
    const applyList = (list: Uint8Array) => {
      expect(outcome(() => b.device!.applyRevocationList(list)), hex(list)).toBe(outcome(() => a.device!.applyRevocationList(list)));
    };
    applyList(trl);
    for (const [where, body] of bodies) {
      send(where, body);
      send(where, body); // a request again: a replay
      for (let m = 0; m < MUTANTS; m++) send(where, mutate(body, next));
    }
    for (const list of Array.from({ length: MUTANTS }, () => mutate(trl, next))) {
      applyList(list);
      compared++;
    }
    // Provisioning bundles: what a junk one is refused with, typed, on both.
    for (const p of Array.from({ length: MUTANTS }, () => mutate(provisioning, next))) {
      expect(outcome(() => bundled.loadProvisioningBundle(p, NOW) && 'loaded'), hex(p)).toBe(outcome(() => unbundled.loadProvisioningBundle(p, NOW) && 'loaded'));
      compared++;
    }
    expect(JSON.stringify(b.device!.stats)).toBe(JSON.stringify(a.device!.stats));
    // The inputs reached past the door, not only the CBOR reader: tokens were stored, a key holder
    // served, a replay, a revoked token, a bad proof and a bad token refused.
    expect((a.device!.stats as { tokens: number }).tokens).toBeGreaterThan(0);
    expect([...answers]).toEqual(expect.arrayContaining(['205', 'authz-info {}', 'replay', 'revoked', 'bad_proof', 'invalid_token', 'bad_request']));
    expect(compared).toBeGreaterThan(8 * MUTANTS);
  }, 120_000);
});
