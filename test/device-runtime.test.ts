import { describe, expect, it, beforeEach } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCwt, createSign1, decodeCoapMessage, encodeCbor, parseRestScope, exiCti, parseExiCti, fromUtf8, tokenHash, utf8, portableProvider, createRevocationList, toHex, publicCoseKey as publicKeyOf, type CoseKey } from '../cose/index.js';
import {
  DEVICE_ERR,
  DeviceError,
  beginOscoreClient,
  buildPopRequest,
  createPopProof,
  createResourceServer,
  createTokenStore,
  decodeStoredTokens,
  decodePopRequest,
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodePopRequest,
  loadProvisioningBundle,
  memoryStorage,
  requestToken,
  serveAuthzInfo,
  serveRequest,
  verifyPopProof,
  claimProofFreshness,
  createNonceIssuer,
  createReplayCache,
  emptyReplayWindow,
  acceptInWindow,
  isFresh,
  REPLAY_WINDOW_SIZE,
  type DeviceStorage,
  type OscoreClient,
  type ResourceServer,
  type StoredToken,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { createFixtureIssuer, ed25519Key, ISSUER } from './support/device-issuer.js';

const TUBE = 'tube-123';
const EMPTY = new Uint8Array(0);
let now = 1_800_000_000;
const clock = () => now;

function handler(req: { method: string; resource: string; payload: Uint8Array }) {
  if (req.resource === '/temp' && req.method === 'GET') return { code: 205, payload: utf8('21.5') };
  if (req.resource === '/config' && req.method === 'PUT') return { code: 204 };
  return { code: 404 };
}

let issuer: ReturnType<typeof createFixtureIssuer>;
beforeEach(() => {
  now = 1_800_000_000;
  issuer = createFixtureIssuer(clock);
});

function device(storage: DeviceStorage = memoryStorage(), audience = TUBE, profile = {}): ResourceServer {
  return createResourceServer({ trust: loadProvisioningBundle(issuer.bundleFor(audience), now), storage, clock, handler, profile });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
  return 'accepted';
}

async function symmetricClient() {
  const res = await requestToken(issuer.tokenEndpoint.bind(issuer), {
    grant: 'client_credentials',
    auth: { clientId: 'ekg-1', clientSecret: 'secret-ekg' },
    audience: TUBE,
    scope: [['/temp', 1]],
  });
  return res;
}

/** RFC 9203 §4.1-4.3 over the relay's authz-info door; the sealed symmetric PoP key is the Master Secret (§3.2.1). */
function oscoreWith(dev: ResourceServer, token: Uint8Array, popKey: CoseKey): OscoreClient {
  const start = beginOscoreClient(token, { id: popKey.kid ?? EMPTY, ms: popKey.k! }, portableProvider);
  return start.finish(serveAuthzInfo(dev, start.message));
}

async function openSession(dev: ResourceServer) {
  const { accessToken, popKey } = await symmetricClient();
  return { session: oscoreWith(dev, accessToken, popKey!), token: accessToken, popKey: popKey! };
}

function ask(dev: ResourceServer, session: OscoreClient, method = 'GET', resource = '/temp') {
  const { message, binding } = session.request({ method, resource, payload: EMPTY });
  const raw = serveRequest(dev, message);
  return { message, raw, answer: () => session.response(raw, binding) };
}

/** An unprotected CoAP answer (RFC 8613 §8.2 refusals): its code as class.detail and its diagnostic. */
function coapRefusal(raw: Uint8Array): { code: string; diagnostic: string } {
  const m = decodeCoapMessage(raw);
  const textual = !m.options.some((o) => o.number === 12 || o.number === 9);
  return { code: `${m.code >> 5}.${String(m.code & 0x1f).padStart(2, '0')}`, diagnostic: textual ? fromUtf8(m.payload) : '' };
}

describe('end to end: a client gets a token for tube-123, sends it, makes an OSCORE request (RFC 9203)', () => {
  it('the device answers under the OSCORE context', async () => {
    const dev = device();
    const { session } = await openSession(dev);
    const res = ask(dev, session).answer();
    expect(res).toMatchObject({ code: 205, authenticated: true });
    expect(fromUtf8(res.payload!)).toBe('21.5');
    expect(dev.stats.sessions).toBe(1);
    expect(dev.stats.tokens).toBe(1);
  });

  it('refuses a replayed OSCORE request (4.01 Replay detected, RFC 8613 §7.4), and answers a later one', async () => {
    const dev = device();
    const { session } = await openSession(dev);
    const first = ask(dev, session);
    expect(first.answer().code).toBe(205);
    expect(coapRefusal(serveRequest(dev, first.message))).toEqual({ code: '4.01', diagnostic: 'Replay detected' });
    expect(ask(dev, session).answer().code).toBe(205);
  });

  it('refuses a tampered OSCORE request (4.00 Decryption failed, RFC 8613 §8.2)', async () => {
    const dev = device();
    const { session } = await openSession(dev);
    const { message } = session.request({ method: 'GET', resource: '/temp', payload: EMPTY });
    message[message.length - 1]! ^= 1;
    expect(coapRefusal(serveRequest(dev, message))).toEqual({ code: '4.00', diagnostic: 'Decryption failed' });
  });

  it('answers a request outside the scope with a protected 4.03 (RFC 9203 §4.4)', async () => {
    const dev = device();
    const { session } = await openSession(dev);
    const res = ask(dev, session, 'PUT', '/config').answer();
    expect(res).toMatchObject({ code: 403, authenticated: true });
  });

  it('a request under a context the device does not know is 4.01 Security context not found', async () => {
    const dev = device();
    const other = device();
    const { session } = await openSession(other);
    const { raw } = ask(dev, session);
    expect(coapRefusal(raw)).toEqual({ code: '4.01', diagnostic: 'Security context not found' });
  });
});

describe('asymmetric PoP: every request proven with the cnf key', () => {
  async function asymmetricClient() {
    const clientKey = ed25519Key('ekg-key');
    // Token exchange (RFC 8693): the EKG trades its own token for one for the tube.
    const res = await requestToken(issuer.tokenEndpoint.bind(issuer), {
      grant: 'token_exchange',
      auth: { clientId: 'ekg-1', assertion: 'signed-assertion' },
      subjectToken: issuer.token({ aud: 'as', exp: now + 60, cnf: { kid: utf8('x') } }),
      audience: TUBE,
      scope: [['/temp', 1]],
      popKey: clientKey,
    });
    return { token: res.accessToken, key: clientKey };
  }
  const get = { method: 'GET', resource: '/temp', payload: EMPTY };

  it('serves a request with a nonce-fresh proof', async () => {
    const dev = device();
    const { token, key } = await asymmetricClient();
    const req = buildPopRequest({ token, popKey: key, audience: TUBE, request: get, includeToken: true, nonce: dev.issueNonce() });
    expect(dev.handlePopRequest(decodePopRequest(req)).code).toBe(205);
  });

  it('refuses the same token from a thief without the key (bad_proof)', async () => {
    const dev = device();
    const { token } = await asymmetricClient();
    const thiefKey = ed25519Key('ekg-key');
    const req = buildPopRequest({ token, popKey: thiefKey, audience: TUBE, request: get, includeToken: true, nonce: dev.issueNonce() });
    expect(decodeResponseBody(serveRequest(dev, req))).toMatchObject({ code: 401, error: DEVICE_ERR.BAD_PROOF });
  });

  it('refuses a replayed proof (nonce used once; jti once within the window)', async () => {
    const dev = device();
    const { token, key } = await asymmetricClient();
    const withNonce = buildPopRequest({ token, popKey: key, audience: TUBE, request: get, includeToken: true, nonce: dev.issueNonce() });
    expect(decodeResponseBody(serveRequest(dev, withNonce)).code).toBe(205);
    expect(decodeResponseBody(serveRequest(dev, withNonce)).error).toBe(DEVICE_ERR.REPLAY);
    const withIat = buildPopRequest({ token, popKey: key, audience: TUBE, request: get, now });
    expect(decodeResponseBody(serveRequest(dev, withIat)).code).toBe(205);
    expect(decodeResponseBody(serveRequest(dev, withIat)).error).toBe(DEVICE_ERR.REPLAY);
    const stale = buildPopRequest({ token, popKey: key, audience: TUBE, request: get, now: now - 600 });
    expect(decodeResponseBody(serveRequest(dev, stale)).error).toBe(DEVICE_ERR.REPLAY);
  });

  it('refuses a proof made for another resource or another device', async () => {
    const dev = device();
    const { token, key } = await asymmetricClient();
    const forTemp = decodePopRequest(buildPopRequest({ token, popKey: key, audience: TUBE, request: get, includeToken: true, nonce: dev.issueNonce() }));
    expect(codeOf(() => dev.handlePopRequest({ ...forTemp, resource: '/config', method: 'PUT' }))).toBe(DEVICE_ERR.BAD_PROOF);
    const forOther = buildPopRequest({ token, popKey: key, audience: 'tube-999', request: get, includeToken: true, nonce: dev.issueNonce() });
    expect(decodeResponseBody(serveRequest(dev, forOther)).error).toBe(DEVICE_ERR.BAD_PROOF);
  });

  it('refuses a token for another device (wrong_audience) and one from an unknown signer', async () => {
    const dev = device();
    const key = ed25519Key('k');
    const cnf = { coseKey: { kty: 'OKP' as const, crv: 'Ed25519' as const, x: key.x! } };
    const other = issuer.token({ aud: 'tube-999', exp: now + 60, cnf, scope: [['/temp', 1]] });
    expect(codeOf(() => dev.authzInfo({ token: other }))).toBe(DEVICE_ERR.WRONG_AUDIENCE);
    const forged = issuer.token({ aud: TUBE, exp: now + 60, cnf, scope: [['/temp', 1]] }, ed25519Key('as-1'));
    expect(codeOf(() => dev.authzInfo({ token: forged }))).toBe(DEVICE_ERR.INVALID_TOKEN);
    const stranger = issuer.token({ aud: TUBE, exp: now + 60, cnf, scope: [['/temp', 1]] }, ed25519Key('as-9'));
    expect(codeOf(() => dev.authzInfo({ token: stranger }))).toBe(DEVICE_ERR.UNKNOWN_KEY);
  });

  it('a refusal carries AS Request Creation Hints (RFC 9200 §5.3)', async () => {
    const dev = device();
    try {
      dev.authzInfo({ token: issuer.token({ aud: 'tube-999', exp: now + 60, cnf: { kid: utf8('k') }, scope: [] }) });
      expect.unreachable();
    } catch (e) {
      expect((e as DeviceError).hints).toMatchObject({ as: `${ISSUER}/token`, audience: TUBE });
      expect((e as DeviceError).hints!.cnonce).toHaveLength(16);
    }
  });
});

describe('expiry: exp with leeway, and exi counted from first receipt', () => {
  const cnfOf = () => issuer.symmetricCnf(TUBE);

  it('refuses an expired token, and one that expires while stored', async () => {
    const dev = device();
    const { cnf } = cnfOf();
    expect(codeOf(() => dev.authzInfo({ token: issuer.token({ aud: TUBE, exp: now - 120, cnf, scope: [['/temp', 1]] }) }))).toBe(DEVICE_ERR.EXPIRED);
    const { session } = await openSession(dev);
    // Valid until exp + leeway (60 s by default), at the door and once held; not a second more.
    now += 3600 + 60 - 1;
    expect(ask(dev, session).answer()).toMatchObject({ code: 205 });
    now += 1;
    // RFC 9203 §4.3: the context dies with its token; the refusal is unprotected, with AS hints.
    expect(ask(dev, session).answer()).toMatchObject({ code: 401, authenticated: false });
  });

  it('an exi token works until exi seconds after first receipt, then is refused, and its cti never again', () => {
    const dev = device();
    const { cnf, popKey } = cnfOf();
    const token = issuer.token({ aud: TUBE, exi: 30, cti: issuer.nextExiCti(TUBE), cnf, scope: [['/temp', 1]] });
    const session = oscoreWith(dev, token, popKey);
    expect(ask(dev, session).answer().code).toBe(205);
    now += 31;
    expect(ask(dev, session).answer()).toMatchObject({ code: 401, authenticated: false });
    expect(codeOf(() => dev.authzInfo({ token }))).toBe(DEVICE_ERR.EXPIRED);
    expect(dev.stats.exiFloor).toBe(1);
  });

  it('refuses an exi cti twice while live, anything at or below the expired sequence, and a cti of the wrong layout', () => {
    const storage = memoryStorage();
    const dev = device(storage);
    const mk = (cti: Uint8Array, exi = 30) => issuer.token({ aud: TUBE, exi, cti, cnf: cnfOf().cnf, scope: [['/temp', 1]] });
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti(TUBE, 5), 10) }))).toBe('accepted');
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti(TUBE, 5)) }))).toBe(DEVICE_ERR.REPLAY);
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti(TUBE, 3)) }))).toBe('accepted');
    now += 11; // sequence 5 expires: floor is 5
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti(TUBE, 4)) }))).toBe(DEVICE_ERR.EXPIRED);
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti(TUBE, 6)) }))).toBe('accepted');
    expect(codeOf(() => dev.authzInfo({ token: mk(exiCti('tube-999', 7)) }))).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(codeOf(() => dev.authzInfo({ token: mk(utf8('random-cti')) }))).toBe(DEVICE_ERR.INVALID_TOKEN);
    // The floor survives a reboot.
    expect(codeOf(() => device(storage).authzInfo({ token: mk(exiCti(TUBE, 5)) }))).toBe(DEVICE_ERR.EXPIRED);
  });

  it('exi cti layout round-trips and rejects near misses', () => {
    expect(parseExiCti(exiCti(TUBE, 2 ** 40), TUBE)).toBe(2 ** 40);
    expect(parseExiCti(exiCti(TUBE, 1), 'tube-12')).toBeUndefined();
    expect(parseExiCti(exiCti(TUBE, 1).subarray(1), TUBE)).toBeUndefined();
  });
});

describe('authz-info checks every claim the device relies on (leeway 60 s by default)', () => {
  const cnf = () => ({ coseKey: publicKeyOf(ed25519Key('ekg')) });
  const verdict = (claims: Record<string, unknown>) => codeOf(() => device().authzInfo({ token: issuer.token({ aud: TUBE, ...claims } as never) }));
  const SCOPE = [['/temp', 1]];

  it('nbf: refused past the leeway, accepted inside it', () => {
    expect(verdict({ exp: now + 600, nbf: now + 61, cnf: cnf(), scope: SCOPE })).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(verdict({ exp: now + 600, nbf: now + 59, cnf: cnf(), scope: SCOPE })).toBe('accepted');
  });
  it('exp: refused at exp + leeway, accepted a second before', () => {
    expect(verdict({ exp: now - 60, cnf: cnf(), scope: SCOPE })).toBe(DEVICE_ERR.EXPIRED);
    expect(verdict({ exp: now - 59, cnf: cnf(), scope: SCOPE })).toBe('accepted');
  });
  it('refuses a token with no cnf (not PoP), no expiry, no scope, or a scope that is not AIF-REST', () => {
    expect(verdict({ exp: now + 600, scope: SCOPE })).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(verdict({ cnf: cnf(), scope: SCOPE })).toBe(DEVICE_ERR.INVALID_TOKEN);
    // Sound tokens that grant nothing here: insufficient_scope, as the broker says for the same token.
    expect(verdict({ exp: now + 600, cnf: cnf() })).toBe(DEVICE_ERR.INSUFFICIENT_SCOPE);
    expect(verdict({ exp: now + 600, cnf: cnf(), scope: 'read' })).toBe(DEVICE_ERR.INSUFFICIENT_SCOPE);
    expect(verdict({ exp: now + 600, cnf: cnf(), scope: [['/temp', 'x']] })).toBe(DEVICE_ERR.INSUFFICIENT_SCOPE);
  });
});

describe('revocation: a signed list drops tokens and refuses them afterwards', () => {
  it('drops the token and its OSCORE context, and refuses the token again', async () => {
    const dev = device();
    const { session, token } = await openSession(dev);
    expect(ask(dev, session).answer().code).toBe(205);
    expect(dev.applyRevocationList(issuer.revoke(token, TUBE))).toBe(1);
    expect(dev.stats.tokens).toBe(0);
    expect(ask(dev, session).answer()).toMatchObject({ code: 401, authenticated: false });
    expect(codeOf(() => dev.authzInfo({ token }))).toBe(DEVICE_ERR.REVOKED);
  });

  it('refuses an older list, one for another audience, and one not signed by the service', async () => {
    const dev = device();
    const { token } = await openSession(dev);
    const first = issuer.revoke(token, TUBE);
    const second = issuer.revoke(new Uint8Array([1]), TUBE);
    dev.applyRevocationList(second);
    expect(codeOf(() => dev.applyRevocationList(first))).toBe(DEVICE_ERR.REPLAY);
    expect(codeOf(() => dev.applyRevocationList(issuer.revoke(token, 'tube-999')))).toBe(DEVICE_ERR.WRONG_AUDIENCE);
    const forged = createRevocationList({ audience: TUBE, sequence: 99, fullSet: [] }, ed25519Key('as-1'));
    expect(codeOf(() => dev.applyRevocationList(forged))).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(dev.stats.revoked).toBe(2);
  });

  it('a token revoked while the device was down is refused when posted again after the reboot', async () => {
    const storage = memoryStorage();
    const { session, token, popKey } = await openSession(device(storage));
    const rebooted = device(storage);
    rebooted.applyRevocationList(issuer.revoke(token, TUBE));
    // The context died with the reboot (RAM); the client posts its token again and is refused.
    expect(coapRefusal(ask(rebooted, session).raw).code).toBe('4.01');
    expect(() => oscoreWith(rebooted, token, popKey)).toThrow(DeviceError);
    expect(codeOf(() => rebooted.authzInfo({ token }))).toBe(DEVICE_ERR.REVOKED);
  });
});

describe('reboot over the same storage: no old message accepted, no nonce reused', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-device-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it('contexts live in RAM: after a reboot old messages are refused, the client re-posts its token and gets a new context', async () => {
    const storage = fileStorage(join(dir, 'tube'));
    const dev = device(storage);
    const { session, token, popKey } = await openSession(dev);
    const exchanges = [ask(dev, session), ask(dev, session), ask(dev, session)];
    for (const x of exchanges) expect(x.answer().code).toBe(205);

    const rebooted = device(fileStorage(join(dir, 'tube')));
    for (const x of exchanges) expect(coapRefusal(serveRequest(rebooted, x.message))).toEqual({ code: '4.01', diagnostic: 'Security context not found' });
    // RFC 9203 §4.3: new nonces make a new context. Its sequence numbers start again under new keys,
    // so no (key, nonce) pair of the old context can recur: nothing had to be kept in flash.
    const again = oscoreWith(rebooted, token, popKey);
    expect(toHex(again.context.senderKey)).not.toBe(toHex(session.context.senderKey));
    expect(toHex(again.context.recipientKey)).not.toBe(toHex(session.context.recipientKey));
    expect(ask(rebooted, again).answer()).toMatchObject({ code: 205, authenticated: true });
    for (const x of exchanges) expect(coapRefusal(serveRequest(rebooted, x.message)).code).toBe('4.01');
  });
});

describe('file storage (device/adapters): atomic, owner-only, confined to its directory', () => {
  it('keeps the old value when a write dies before its rename, leaves no temp file, and writes mode 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-fs-'));
    try {
      const store = fileStorage(dir);
      store.put('session/abc', utf8('old'));
      // A power cut after the temporary file was written but before the rename: the old value stands.
      writeFileSync(join(dir, '.session~abc.tmp'), utf8('torn'));
      expect(fromUtf8(fileStorage(dir).get('session/abc')!)).toBe('old');
      store.put('session/abc', utf8('new'));
      expect(fromUtf8(store.get('session/abc')!)).toBe('new');
      expect(readdirSync(dir)).toEqual(['session~abc']);
      expect(statSync(join(dir, 'session~abc')).mode & 0o777).toBe(0o600);
      store.delete('session/abc');
      expect(store.get('session/abc')).toBeUndefined();
      expect(() => store.put('../escape', utf8('x'))).toThrow(/not allowed/);
      expect(() => store.put('.hidden', utf8('x'))).toThrow(/not allowed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('trust paths: MAC tokens, sign-then-encrypt, and cnf by kid', () => {
  it('accepts a COSE_Mac0 token under the key shared with the service', () => {
    const macKey: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: utf8('tube-mac'), alg: 4 };
    const trust = loadProvisioningBundle(issuer.bundleFor(TUBE, { anchors: [macKey] }), now);
    const dev = createResourceServer({ trust, storage: memoryStorage(), clock, handler });
    const claims = { aud: TUBE, exp: now + 60, cnf: issuer.symmetricCnf(TUBE).cnf, scope: [['/temp', 1]] };
    expect(codeOf(() => dev.authzInfo({ token: issuer.token(claims, macKey) }))).toBe('accepted');
    const wrongMac = { ...macKey, k: portableProvider.randomBytes(32) };
    expect(codeOf(() => dev.authzInfo({ token: issuer.token(claims, wrongMac) }))).toBe(DEVICE_ERR.INVALID_TOKEN);
  });

  it('opens a token encrypted to the device (RFC 8392 A.6) and refuses one encrypted to another', () => {
    const dev = device();
    const claims = { iss: ISSUER, aud: TUBE, exp: now + 60, cnf: issuer.symmetricCnf(TUBE).cnf, scope: [['/temp', 1]] };
    const sealed = createCwt(claims, issuer.signingKey, { encryptTo: issuer.sharedKeyFor(TUBE) });
    expect(codeOf(() => dev.authzInfo({ token: sealed }))).toBe('accepted');
    const elsewhere = createCwt(claims, issuer.signingKey, { encryptTo: issuer.sharedKeyFor('tube-999') });
    expect(codeOf(() => dev.authzInfo({ token: elsewhere }))).toBe(DEVICE_ERR.UNKNOWN_KEY);
  });

  it('a cnf kid(3) must name a key the device shares; then an OSCORE context runs on it', () => {
    const dev = device();
    const shared = issuer.sharedKeyFor(TUBE);
    const known = issuer.token({ aud: TUBE, exp: now + 60, cnf: { kid: shared.kid! }, scope: [['/temp', 1]] });
    expect(ask(dev, oscoreWith(dev, known, { kty: 'Symmetric', k: shared.k!, kid: shared.kid! })).answer().code).toBe(205);
    const unknown = issuer.token({ aud: TUBE, exp: now + 60, cnf: { kid: utf8('nobody') }, scope: [['/temp', 1]] });
    expect(codeOf(() => dev.authzInfo({ token: unknown }))).toBe(DEVICE_ERR.UNKNOWN_KEY);
  });
});

describe('provisioning bundle: loaded whole or refused', () => {
  it('refuses malformed, expired and anchorless bundles with bad_provisioning', () => {
    expect(codeOf(() => loadProvisioningBundle(new Uint8Array([0xa1, 0x01]), now))).toBe(DEVICE_ERR.BAD_PROVISIONING);
    expect(codeOf(() => loadProvisioningBundle(issuer.bundleFor(TUBE, { notAfter: now - 1 }), now))).toBe(DEVICE_ERR.BAD_PROVISIONING);
    const noAnchor = encodeCbor(new Map<number, unknown>([[1, 1], [2, TUBE], [3, TUBE], [4, ISSUER], [5, []]]) as never);
    expect(codeOf(() => loadProvisioningBundle(noAnchor, now))).toBe(DEVICE_ERR.BAD_PROVISIONING);
    const trust = loadProvisioningBundle(issuer.bundleFor(TUBE), now);
    expect([trust.audience, trust.issuer, trust.anchorCount]).toEqual([TUBE, ISSUER, 2]);
  });
});

describe('token store: a byte budget, expired first, then soonest to expire, else refuse', () => {
  const entry = (id: number, expiresAt: number, cost = 100): StoredToken => ({
    hash: new Uint8Array(32).fill(id),
    cost,
    expiresAt,
    scope: { kind: 'aif-rest', entries: [] },
    popKey: { kty: 'Symmetric', k: new Uint8Array(16) },
    scopeClaim: [],
    hashHex: toHex(new Uint8Array(32).fill(id)),
    subject: undefined,
    issuedAt: undefined,
    exiSequence: undefined,
    other: undefined,
    reference: false,
  });

  it('evicts expired entries, then the soonest to expire, and refuses a newcomer that would go first', () => {
    const store = createTokenStore(clock, 300);
    store.add(entry(1, now + 10));
    store.add(entry(2, now + 100));
    store.add(entry(3, now + 50));
    store.add(entry(4, now + 200)); // evicts 1 (soonest)
    expect(store.get(new Uint8Array(32).fill(1))).toBeUndefined();
    expect(codeOf(() => store.add(entry(5, now + 20)))).toBe(DEVICE_ERR.TOKEN_STORE_FULL);
    now += 60; // 3 expires
    store.add(entry(6, now + 20));
    expect([2, 4, 6].map((i) => !!store.get(new Uint8Array(32).fill(i)))).toEqual([true, true, true]);
    expect(codeOf(() => store.add(entry(7, now + 999, 301)))).toBe(DEVICE_ERR.TOKEN_STORE_FULL);
    expect(store.used).toBe(300);
  });

  it('holds each entry encoded and gives back every field on use; its storage value reads back whole', () => {
    const store = createTokenStore(clock, 10_000);
    const osc = { id: new Uint8Array([7]), ms: new Uint8Array(16).fill(9), contextId: new Uint8Array([1, 2]) };
    const full: StoredToken = {
      ...entry(8, Number.POSITIVE_INFINITY, 250),
      scopeClaim: [['/temp', 1], ['/cfg', 3]],
      scope: parseRestScope([['/temp', 1], ['/cfg', 3]]),
      popKey: { kty: 'OKP', crv: 'Ed25519', x: new Uint8Array(32).fill(3), kid: utf8('c') },
      subject: 'client-1',
      issuedAt: now - 5,
      exiSequence: 12,
      other: new Map([[-70001, utf8('extra')]]),
      signerKid: utf8('as-1'),
      osc,
    };
    store.add(full);
    store.add(entry(9, now + 30));
    const back = store.get(full.hash)!;
    expect(back).toEqual(full);
    expect(back).not.toBe(full); // decoded on use: the caller's object graph is not what is held
    back.scopeClaim = []; // and changing a decoded entry changes nothing held
    expect(store.get(full.hash)!.scopeClaim).toEqual(full.scopeClaim);
    const persisted = store.encoded();
    expect(decodeStoredTokens(persisted, parseRestScope)).toEqual([full, entry(9, now + 30)]);
    expect(store.dropWhere((e) => e.exiSequence === 12).map(toHex)).toEqual([full.hashHex]);
    expect(store.lookup(full.hash)).toBeUndefined();
    expect(store.used).toBe(100);
  });

  it('a device with a small budget refuses the token that does not fit, without spending an exi cti', async () => {
    const dev = device(memoryStorage(), TUBE, { tokenBudgetBytes: 600 });
    await openSession(dev);
    const { cnf } = issuer.symmetricCnf(TUBE);
    const sooner = issuer.token({ aud: TUBE, exp: now + 60, cnf, scope: [['/temp', 1]] });
    expect(codeOf(() => dev.authzInfo({ token: sooner }))).toBe(DEVICE_ERR.TOKEN_STORE_FULL);
    const exiToken = issuer.token({ aud: TUBE, exi: 60, cti: exiCti(TUBE, 1), cnf, scope: [['/temp', 1]] });
    expect(codeOf(() => dev.authzInfo({ token: exiToken }))).toBe(DEVICE_ERR.TOKEN_STORE_FULL);
    now += 3601; // the context's token expires and frees the room: the same exi token is still good
    expect(codeOf(() => dev.authzInfo({ token: exiToken }))).toBe('accepted');
  });
});

describe('replay window (RFC 8613 §7.4)', () => {
  it('accepts new and in-window unseen numbers, refuses seen and too-old ones', () => {
    let w = emptyReplayWindow();
    for (const s of [5, 3, 70]) {
      expect(isFresh(w, s)).toBe(true);
      w = acceptInWindow(w, s);
    }
    expect(isFresh(w, 70)).toBe(false);
    expect(isFresh(w, 5)).toBe(false); // 65 behind: outside the window
    expect(isFresh(w, 70 - REPLAY_WINDOW_SIZE + 1)).toBe(true);
    expect(isFresh(w, -1)).toBe(false);
    expect(isFresh(w, 2 ** 60)).toBe(false);
  });
});

describe('PoP proof codec: strict, bound, fresh', () => {
  const key = ed25519Key('c');
  const hash = tokenHash(utf8('t'));
  const base = { purpose: 'mqtt-connect', audience: 'broker', tokenHash: hash, clientId: 'c1' };
  const expect1 = { purpose: 'mqtt-connect', audience: 'broker', tokenHash: hash, clientId: 'c1' };

  it('verifies a general proof (the broker reuses it) and refuses another client id or purpose', () => {
    const nonces = createNonceIssuer(clock, portableProvider);
    const policy = { clock };
    const verifyAndClaim = (proof: Uint8Array, expected = expect1) => {
      const verified = verifyPopProof(proof, key, expected, policy);
      claimProofFreshness(verified.freshness, { nonces });
      return verified;
    };
    expect(verifyAndClaim(createPopProof({ ...base, nonce: nonces.issue() }, key)).fields.clientId).toBe('c1');
    expect(codeOf(() => verifyAndClaim(createPopProof({ ...base, nonce: nonces.issue() }, key), { ...expect1, clientId: 'c2' }))).toBe(DEVICE_ERR.BAD_PROOF);
    expect(codeOf(() => verifyAndClaim(createPopProof({ ...base, nonce: nonces.issue() }, key), { ...expect1, purpose: 'request' }))).toBe(DEVICE_ERR.BAD_PROOF);
    expect(codeOf(() => verifyAndClaim(createPopProof({ ...base, nonce: portableProvider.randomBytes(16) }, key)))).toBe(DEVICE_ERR.REPLAY);
    // The same nonce twice: the first claim spends it.
    const once = nonces.issue();
    verifyAndClaim(createPopProof({ ...base, nonce: once }, key));
    expect(codeOf(() => verifyAndClaim(createPopProof({ ...base, nonce: once }, key)))).toBe(DEVICE_ERR.REPLAY);
  });

  it('spends nothing itself: it returns the freshness value for the caller to claim', () => {
    const nonces = createNonceIssuer(clock, portableProvider);
    const nonce = nonces.issue();
    const proof = createPopProof({ ...base, nonce }, key);
    const first = verifyPopProof(proof, key, expect1, { clock });
    expect(first.freshness).toEqual({ kind: 'nonce', nonce });
    // Verified twice, claimed once: the nonce is still good after the first verify.
    expect(nonces.consume(nonce)).toBe(true);
    const jti = portableProvider.randomBytes(8);
    const byIat = verifyPopProof(createPopProof({ ...base, iat: now, jti }, key), key, expect1, { clock, iatWindow: 30 });
    expect(byIat.freshness).toEqual({ kind: 'iat', iat: now, jti, until: now + 30 });
    expect(codeOf(() => verifyPopProof(createPopProof({ ...base, iat: now - 31, jti }, key), key, expect1, { clock, iatWindow: 30 }))).toBe(DEVICE_ERR.REPLAY);
    expect(codeOf(() => verifyPopProof(createPopProof({ ...base, iat: now, jti }, key), key, expect1, { clock, iat: false }))).toBe(DEVICE_ERR.BAD_PROOF);
    expect(codeOf(() => verifyPopProof(proof, key, expect1, { clock, nonce: false }))).toBe(DEVICE_ERR.BAD_PROOF);
  });

  it('refuses a short jti, both freshness forms, and an unknown label', () => {
    expect(codeOf(() => createPopProof({ ...base, iat: now, jti: new Uint8Array(4) }, key))).toBe(DEVICE_ERR.BAD_PROOF);
    expect(codeOf(() => createPopProof({ ...base, iat: now, jti: new Uint8Array(8), nonce: new Uint8Array(16) }, key))).toBe(DEVICE_ERR.BAD_PROOF);
    const payload = encodeCbor(new Map<number, unknown>([[1, 'x'], [2, 'broker'], [3, hash], [5, now], [6, new Uint8Array(8)], [11, 1]]) as never);
    expect(codeOf(() => verifyPopProof(createSign1(payload, key), key, expect1, { clock }))).toBe(DEVICE_ERR.BAD_PROOF);
  });

  it('a proof for a symmetric key is a Mac0 and verifies with it', () => {
    const k: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32) };
    const cache = createReplayCache(clock, 1);
    const proof = createPopProof({ ...base, iat: now, jti: portableProvider.randomBytes(8) }, k);
    expect(proof[0]).toBe(0xd1); // tag 17
    claimProofFreshness(verifyPopProof(proof, k, expect1, { clock }).freshness, { replayCache: cache });
    // The cache holds one live jti: another fresh proof is refused (busy), never silently accepted.
    const another = createPopProof({ ...base, iat: now, jti: portableProvider.randomBytes(8) }, k);
    expect(codeOf(() => claimProofFreshness(verifyPopProof(another, k, expect1, { clock }).freshness, { replayCache: cache }))).toBe(DEVICE_ERR.BUSY);
  });
});

describe('PoP requests carry the token hash after authz-info', () => {
  it('serves a request that names the token by hash', async () => {
    const dev = device();
    const key = ed25519Key('c');
    const token = issuer.token({ aud: TUBE, exp: now + 60, cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: key.x! } }, scope: [['/temp', 1]] });
    expect(decodeAuthzInfoResponse(serveAuthzInfo(dev, token))).toEqual({});
    expect(codeOf(() => decodeAuthzInfoResponse(serveAuthzInfo(dev, new Uint8Array([0x80]))))).toBe(DEVICE_ERR.INVALID_TOKEN);
    const req = buildPopRequest({ token, popKey: key, audience: TUBE, request: { method: 'GET', resource: '/temp', payload: EMPTY }, now });
    expect(decodePopRequest(req).token).toBeUndefined();
    expect(decodeResponseBody(serveRequest(dev, req)).code).toBe(205);
    const unknown = encodePopRequest({ ...decodePopRequest(req), tokenHash: new Uint8Array(32) });
    expect(decodeResponseBody(serveRequest(dev, unknown)).error).toBe(DEVICE_ERR.INVALID_TOKEN);
  });
});
