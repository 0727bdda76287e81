/**
 * Runs one sequence of hostile input through two devices, one made from the unbundled entry
 * point (device/verify-only.ts or device/index.ts) and one from a built bundle's code, both in
 * Node with one clock and the same seeded randomness, and reports every place where their answers
 * differ (test/device-bundle-differential.test.ts). The sequence steps the clock across the
 * edges the checks have (a token's exp + leeway, its nbf - leeway, an exi token's life, a proof's
 * iat window) and at each step sends valid tokens and proofs made to sit on those edges, wrong
 * ones (audience, scope, method, resource, key, nonce), replays, and seeded byte-level mutants of
 * each: bits flipped, bytes cut, inserted, doubled, deleted. Mutants mostly die at the CBOR reader
 * or the signature; the edges reach the checks after them.
 */
import { createCwt, createRevocationList, exiCti, publicCoseKey, tokenHash, utf8, portableProvider, type CoseKey, type CwtClaims, type RevocationList } from '../../cose/index.js';
import * as unbundledFull from '../../device/index.js';
import * as unbundledVerifyOnly from '../../device/verify-only.js';
import { Prng, type DeviceBundleKind } from '../../firmware-sim/index.js';
import { createFixtureIssuer, ed25519Key } from './device-issuer.js';

export const DIFFERENTIAL_AUDIENCE = 'tube-diff';
const AUD = DIFFERENTIAL_AUDIENCE;
const NOW = 1_800_000_000;
const LEEWAY = unbundledFull.DEFAULT_DEVICE_PROFILE.leeway;
const IAT_WINDOW = unbundledFull.DEFAULT_DEVICE_PROFILE.iatWindow;
const GET = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };

/** The module surface a bundle and the unbundled entry points share. */
export interface DeviceModule {
  memoryStorage(): unknown;
  hostProvider(host: { randomBytes(n: number): Uint8Array }, base?: unknown): unknown;
  loadProvisioningBundle(bytes: Uint8Array, now: number): unknown;
  serveAuthzInfo(device: unknown, body: Uint8Array): Uint8Array;
  serveRequest(device: unknown, body: Uint8Array): Uint8Array;
  createResourceServer?(opts: object): DifferentialDevice;
  createVerifyOnlyServer?(opts: object): DifferentialDevice;
  verifyOnlyProvider?: unknown;
}
export interface DifferentialDevice {
  applyRevocationList(bytes: Uint8Array): number;
  issueNonce(): Uint8Array;
  readonly stats: object;
}

export interface DifferentialResult {
  /** Inputs both devices were given. */
  compared: number;
  /** Where the two answered differently: what was sent and both answers (the first 20). */
  mismatches: string[];
  /** The answers the unbundled device gave: error names, `205`, `authz-info {}`. */
  answers: Set<string>;
  /** The most tokens the unbundled device held at once (at the end of a clock step). */
  tokensHeld: number;
}

/** A stream of seeded bytes (firmware-sim's Prng): the same on every run and for both devices. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  const prng = new Prng(seed);
  return (n) => prng.bytes(n);
}

export function mutate(input: Uint8Array, prng: Prng): Uint8Array {
  const next = () => prng.nextU32();
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

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function outcome(run: () => unknown): string {
  try {
    const v = run();
    return `ok ${v instanceof Uint8Array ? hex(v) : JSON.stringify(v)}`;
  } catch (e) {
    return `refused ${(e as { code?: string }).code ?? 'untyped'}`;
  }
}

function answerName(body: Uint8Array): string {
  try {
    const r = unbundledFull.decodeResponseBody(body) as { code: number; error?: string };
    return r.error ?? String(r.code);
  } catch {
    return 'authz-info {}';
  }
}

/**
 * `code`: a built bundle of `kind` (buildDeviceBundle). `mutants`: byte-level mutants of each
 * valid input at each clock step.
 */
export async function runDifferential(kind: DeviceBundleKind, code: string, mutants: number): Promise<DifferentialResult> {
  const bundled = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as DeviceModule;
  const unbundled = (kind === 'verify-only' ? unbundledVerifyOnly : unbundledFull) as unknown as DeviceModule;
  let clock = NOW;
  const issuer = createFixtureIssuer(() => NOW);
  const provisioning = issuer.bundleFor(AUD);

  // `boot` seeds each device's randomness alike; a reboot keeps the storage and seeds anew.
  const make = (kb: DeviceModule, storage: unknown, boot: number): DifferentialDevice => {
    const host = { randomBytes: seededBytes(0x5eed + boot), clock: () => clock, storage };
    const provider = kind === 'verify-only' ? kb.hostProvider(host, kb.verifyOnlyProvider) : kb.hostProvider(host);
    const create = (kb.createResourceServer ?? kb.createVerifyOnlyServer)!;
    const trust = kb.loadProvisioningBundle(provisioning, NOW);
    return create({ trust, storage, clock: host.clock, provider, handler: () => ({ code: 205, payload: utf8('21.5') }) });
  };
  const storageA = unbundled.memoryStorage();
  const storageB = bundled.memoryStorage();
  let a = make(unbundled, storageA, 0);
  let b = make(bundled, storageB, 0);

  const result: DifferentialResult = { compared: 0, mismatches: [], answers: new Set(), tokensHeld: 0 };
  const differ = (what: string, x: string, y: string) => {
    if (x !== y && result.mismatches.length < 20) result.mismatches.push(`${what}: unbundled ${x}, bundle ${y}`);
  };
  const next = new Prng(kind === 'full' ? 0xf011 : 0x0e1f);
  const send = (where: 'authz-info' | 'request', body: Uint8Array) => {
    const serve = (kb: DeviceModule, device: DifferentialDevice) => (where === 'authz-info' ? kb.serveAuthzInfo(device, body) : kb.serveRequest(device, body));
    const x = serve(unbundled, a);
    const y = serve(bundled, b);
    result.compared++;
    result.answers.add(answerName(x));
    differ(`${where} at clock +${clock - NOW} ${hex(body)}`, hex(x), hex(y));
  };
  const withMutants = (where: 'authz-info' | 'request', body: Uint8Array) => {
    send(where, body);
    for (let m = 0; m < mutants; m++) send(where, mutate(body, next));
  };
  const applyList = (list: Uint8Array) => {
    result.compared++;
    differ(`revocation list ${hex(list)}`, outcome(() => a.applyRevocationList(list)), outcome(() => b.applyRevocationList(list)));
  };

  const holder = ed25519Key('holder');
  const thief = ed25519Key('thief');
  const bound = (claims: Omit<CwtClaims, 'cnf'>, key: CoseKey = holder) => issuer.token({ cnf: { coseKey: publicCoseKey(key) }, ...claims });
  const symmetric = issuer.symmetricCnf(AUD);
  const p256 = portableProvider.generateKeyPair('P-256');
  const es256Key: CoseKey = { kty: 'EC2', crv: 'P-256', x: p256.x, y: p256.y!, d: p256.d, kid: utf8('stranger') };
  const revokedKey = ed25519Key('revoked-holder');
  const revoked = bound({ aud: AUD, exp: NOW + 3600, scope: [['/temp', 1]] }, revokedKey);
  // Tokens on every edge the checks have, each with the key that proves it.
  const tokens: Array<[string, Uint8Array, CoseKey]> = [
    ['valid', bound({ aud: AUD, exp: NOW + 10_000, scope: [['/temp', 1]] }), holder],
    ['short-lived', bound({ aud: AUD, exp: NOW + 5, scope: [['/temp', 1]] }), holder],
    ['not yet valid', bound({ aud: AUD, nbf: NOW + 100, exp: NOW + 3600, scope: [['/temp', 1]] }), holder],
    ['issued in the future', bound({ aud: AUD, iat: NOW + 200, exp: NOW + 3600, scope: [['/temp', 1]] }), holder],
    ['clockless (exi)', bound({ aud: AUD, exi: 30, cti: issuer.nextExiCti(AUD), scope: [['/temp', 1]] }), holder],
    // An exi cti names its audience: another one's, and one a bit away from this one's ('f' ^ 1).
    ['exi cti of another audience', bound({ aud: AUD, exi: 30, cti: exiCti('elsewhere', 1), scope: [['/temp', 1]] }), holder],
    ['exi cti a bit off', bound({ aud: AUD, exi: 30, cti: exiCti(`${AUD.slice(0, -1)}g`, 1), scope: [['/temp', 1]] }), holder],
    ['another audience', bound({ aud: 'elsewhere', exp: NOW + 3600, scope: [['/temp', 1]] }), holder],
    ['another resource', bound({ aud: AUD, exp: NOW + 3600, scope: [['/other', 1]] }), holder],
    ['POST only', bound({ aud: AUD, exp: NOW + 3600, scope: [['/temp', 2]] }), holder],
    ['no cnf', issuer.token({ aud: AUD, exp: NOW + 3600, scope: [['/temp', 1]] }), holder],
    ['sealed symmetric key', issuer.token({ aud: AUD, exp: NOW + 3600, cnf: symmetric.cnf, scope: [['/temp', 1]] }), symmetric.popKey],
    ['ES256 from a stranger', createCwt({ iss: 'stranger', aud: AUD, exp: NOW + 3600, cnf: { coseKey: publicCoseKey(holder) } }, es256Key, { provider: portableProvider }), holder],
    ['revoked', revoked, revokedKey],
  ];
  applyList(issuer.revoke(revoked, AUD));

  let proofSeed = 1;
  const proof = (token: Uint8Array, key: CoseKey, fresh: { now: number } | { nonce: Uint8Array }, request = GET, includeToken = true) =>
    unbundledFull.buildPopRequest({ token, popKey: key, audience: AUD, request, includeToken, ...fresh }, { ...portableProvider, randomBytes: seededBytes(proofSeed++) });

  // A proof signed by the holder whose fields are not the request's: its token hash one bit off or
  // another token's, its payload hash one bit off.
  const crafted = (token: Uint8Array, fields: { tokenHash?: Uint8Array; payloadHash?: Uint8Array }) =>
    unbundledFull.encodePopRequest({
      ...GET,
      token,
      proof: unbundledFull.createPopProof(
        { purpose: unbundledFull.PURPOSE_REQUEST, audience: AUD, tokenHash: tokenHash(token), iat: clock, jti: seededBytes(proofSeed++)(16), method: GET.method, resource: GET.resource, payloadHash: unbundledFull.payloadHash(GET.payload), ...fields },
        holder,
      ),
    });
  const bitOff = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === b.length - 1 ? x ^ 1 : x));
  // Proofs accepted at the future edge of the iat window, replayed at each later step: one is
  // still inside the window (and the replay cache) exactly when its entry ends.
  const accepted: Uint8Array[] = [];

  // Nonces issued and not spent, spent at each later step: a nonce outlives its lifetime nowhere.
  const unspent: Uint8Array[] = [];
  // The store's budget filled past each owner's share by three clients (subjects) at once.
  const crowd = Array.from({ length: 24 }, (_, i) => {
    const key = ed25519Key(`crowd-${i}`);
    return [bound({ aud: AUD, sub: `client-${i % 3}`, exp: NOW + 50 + 40 * (i % 4), scope: [['/temp', 1]] }, key), key] as const;
  });

  // Each edge, one second either side: the exi tokens' 30 s from receipt, nbf - leeway, exp +
  // leeway of the short-lived token, an accepted proof's iat + window (2 x window after it was
  // made at the window's future edge), and well past them all. Halfway the devices reboot over
  // their storage.
  // (The replay entry of a proof made at +0 ends at 2 x window. After the reboot the device takes
  // no iat proof from before boot + window; one made at 2 x window + 1 ends at 4 x window + 1.)
  const steps = [0, 29, 30, 31, 100 - LEEWAY - 1, 100 - LEEWAY, 100 - LEEWAY + 1, 4 + LEEWAY, 5 + LEEWAY, 6 + LEEWAY, 2 * IAT_WINDOW, 2 * IAT_WINDOW + 1, 4 * IAT_WINDOW + 1, 4000].sort((x, y) => x - y);
  for (const [index, step] of steps.entries()) {
    clock = NOW + step;
    if (index === Math.floor(steps.length / 2)) {
      a = make(unbundled, storageA, index);
      b = make(bundled, storageB, index);
    }
    for (const old of accepted) send('request', old);
    for (const nonce of unspent) send('request', proof(tokens[0]![1], holder, { nonce }));
    if (index === 0) for (const [token, key] of crowd) {
      send('authz-info', unbundledFull.encodeAuthzInfoRequest({ token }));
      send('request', proof(token, key, { now: clock }));
    }
    for (const [, token, key] of tokens) {
      withMutants('authz-info', unbundledFull.encodeAuthzInfoRequest({ token }));
      withMutants('request', proof(token, key, { now: clock }));
    }
    const [, token] = tokens[0]!;
    const fresh = proof(token, holder, { now: clock });
    send('request', fresh);
    send('request', fresh); // its jti spent: a replay
    // The iat window's edges, a thief, the wrong method and resource, the token by hash only.
    for (const iat of [clock - IAT_WINDOW - 1, clock - IAT_WINDOW, clock + IAT_WINDOW, clock + IAT_WINDOW + 1]) withMutants('request', proof(token, holder, { now: iat }));
    const atEdge = proof(token, holder, { now: clock + IAT_WINDOW });
    send('request', atEdge);
    accepted.push(atEdge);
    withMutants('request', crafted(token, { tokenHash: bitOff(tokenHash(token)) }));
    withMutants('request', crafted(token, { tokenHash: tokenHash(tokens[1]![1]) }));
    withMutants('request', crafted(token, { payloadHash: bitOff(unbundledFull.payloadHash(GET.payload)) }));
    withMutants('request', proof(token, thief, { now: clock }));
    withMutants('request', proof(token, holder, { now: clock }, { ...GET, method: 'POST' }));
    withMutants('request', proof(token, holder, { now: clock }, { ...GET, resource: '/other' }));
    withMutants('request', proof(token, holder, { now: clock }, GET, false));
    // Nonces: the devices' randomness is seeded alike, so each issues the same one.
    const nonce = a.issueNonce();
    differ('issued nonce', hex(nonce), hex(b.issueNonce()));
    const withNonce = proof(token, holder, { nonce });
    send('request', withNonce);
    send('request', withNonce); // the nonce spent: a replay
    withMutants('request', proof(token, holder, { nonce: seededBytes(proofSeed++)(nonce.length) }));
    const kept = a.issueNonce();
    differ('issued nonce', hex(kept), hex(b.issueNonce()));
    unspent.push(kept);
    result.tokensHeld = Math.max(result.tokensHeld, (a.stats as { tokens: number }).tokens);
  }
  // Revocation lists: the same count, or the same refusal code, in and out of order. After each,
  // a few tokens and proofs show what it did.
  clock = NOW + 30;
  const probe = () => {
    for (const [, token, key] of tokens.slice(0, 5)) {
      send('authz-info', unbundledFull.encodeAuthzInfoRequest({ token }));
      send('request', proof(token, key, { now: clock }));
    }
  };
  const first = issuer.revoke(tokens[0]![1], AUD); // sequence 2: `revoked` and the valid token
  applyList(first);
  probe();
  let sequence = 2;
  const signed = (list: Omit<RevocationList, 'audience' | 'sequence'>, seq = ++sequence) => createRevocationList({ audience: AUD, sequence: seq, ...list }, issuer.signingKey);
  const lists = [
    signed({ diffSet: [{ removed: [tokenHash(tokens[0]![1])], added: [tokenHash(tokens[2]![1])] }] }),
    first, // an older list again: a rollback
    signed({ fullSet: [tokenHash(revoked)] }, sequence), // the same sequence again, other content
    signed({ fullSet: [], exiFloor: 1 }),
    signed({ fullSet: [], exiFloor: 0 }), // a floor going down
    signed({ fullSet: [], issuedBefore: NOW }),
    signed({ fullSet: [], issuedBefore: NOW + 1 }), // every token here was issued at NOW
    signed({ fullSet: [], issuedBefore: NOW - 10 }), // and down again
  ];
  for (const list of lists) {
    applyList(list);
    probe();
  }
  // A reboot keeps what the lists said: an older one is still a rollback.
  a = make(unbundled, storageA, steps.length);
  b = make(bundled, storageB, steps.length);
  applyList(first);
  applyList(lists[0]!);
  probe();
  for (let m = 0; m < mutants * 20; m++) applyList(mutate(first, next));
  for (let m = 0; m < mutants * 20; m++) {
    const p = mutate(provisioning, next);
    result.compared++;
    differ(`provisioning bundle ${hex(p)}`, outcome(() => unbundled.loadProvisioningBundle(p, NOW) && 'loaded'), outcome(() => bundled.loadProvisioningBundle(p, NOW) && 'loaded'));
  }
  differ('stats', JSON.stringify(a.stats), JSON.stringify(b.stats));
  return result;
}
