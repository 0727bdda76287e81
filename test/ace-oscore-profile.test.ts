/**
 * The ACE-OSCORE profile (RFC 9203) end to end in process: the real authorization service over
 * HTTP (SQLite on disk) issues, for an audience registered coap_oscore, encrypted tokens whose cnf
 * is osc(4) OSCORE_Input_Material and gives the client the same material; the device's
 * /authz-info exchange (device/authz-info.ts) takes {access_token, nonce1, ace_client_recipientid},
 * answers 2.01 {nonce2, ace_server_recipientid}, and both ends derive the same OSCORE context
 * (RFC 9203 §4.3). Negative: another audience, a replayed nonce1, a token shown in the clear,
 * missing parameters, ID1 = ID2, expiry and revocation killing the context, the slot budget.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import {
  ACE_PROFILE,
  ALG,
  CwtClaimError,
  aceOscoreMasterSalt,
  constantTimeEqual,
  coseKeyToMap,
  createCwt,
  decodeCbor,
  encodeCbor,
  fromHex,
  oscoreInputMaterialFromMap,
  toBase64Url,
  toHex,
  utf8,
  deriveOscoreContext,
  decodeCoapMessage,
  encodeCoapMessage,
  type AceOscoreContextInput,
  type OscoreContext,
  type CborMap,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  OscoreClient,
  beginOscoreClient,
  readCreationHints,
  beginAceOscore,
  clientContextInput,
  createResourceServer,
  decodeAuthzInfoAnswer,
  decodeAuthzInfoPayload,
  encodeAuthzInfoPayload,
  trustStoreFromBundle,
  memoryStorage,
  CONTENT_FORMAT_ACE_CBOR,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { registerAudience, RegistryError, SqliteStore } from '../authz/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';
import { basic, post } from './support/authz-client.js';
import { ISSUER } from './support/device-issuer.js';
import { mutationsOf } from './support/mutations.js';

const AUDIENCE = 'tube-oscore';
let now = 1_800_000_000;
const clock = () => now;

/** RFC 8613 §3.2, as the full device does it (for the client's half here). */
const derive = (input: AceOscoreContextInput) => deriveOscoreContext(input, nativeProvider);
/** Both ends hold the same keys, crossed: the client's sender key is the device's recipient key. */
function expectSameContext(client: OscoreContext, server: OscoreContext): void {
  expect(toHex(client.senderKey)).toBe(toHex(server.recipientKey));
  expect(toHex(client.recipientKey)).toBe(toHex(server.senderKey));
  expect(toHex(client.commonIv)).toBe(toHex(server.commonIv));
  expect(toHex(client.senderId)).toBe(toHex(server.recipientId));
  expect(toHex(client.recipientId)).toBe(toHex(server.senderId));
}

/** What the devices below logged: event, level and code. */
const logged: Array<{ level: string; event?: unknown; code?: unknown; oscore?: unknown; method?: unknown; resource?: unknown }> = [];
const logInto = (level: string) => (fields: object) => void logged.push({ level, ...fields });

function device(audience = AUDIENCE, profile?: Partial<{ maxSessions: number; maxUnprovenSessionsPerToken: number }>): ResourceServer {
  return createResourceServer({
    trust: trustStoreFromBundle({ ...service.bundle, audience }, now),
    storage: memoryStorage(),
    clock,
    handler: () => ({ code: 205, payload: utf8('42') }),
    logger: { info: logInto('info'), warn: logInto('warn'), error: logInto('error') },
    ...(profile ? { profile } : {}),
  });
}

const random = (n: number) => nativeProvider.randomBytes(n);

/** The client's half: post, then derive from the answer (RFC 9203 §4.1, §4.3). */
function exchange(dev: ResourceServer, t: TokenResponse, nonce1 = random(8), clientRecipientId = fromHex('01')) {
  const answer = dev.authzInfoExchange(encodeAuthzInfoPayload({ token: t.accessToken, nonce1, clientRecipientId }), CONTENT_FORMAT_ACE_CBOR);
  return { answer, nonce1, clientRecipientId };
}

let service: DeviceService;
beforeAll(async () => {
  service = await startDeviceService({ audience: AUDIENCE, clients: ['ekg', 'mallory'], lifetime: 600, aceProfile: ACE_PROFILE.coap_oscore, clock });
});
afterAll(() => service.close());

describe('RFC 9203 §4.3 Master Salt', () => {
  it('is salt | N1 | N2 as CBOR byte strings (RFC 9203 Figure 11)', () => {
    const salt = aceOscoreMasterSalt(fromHex('f9af838368e353e78888e1426bd94e6f'), fromHex('018a278f7faab55a'), fromHex('25a8991cd700ac01'));
    expect(toHex(salt)).toBe('50f9af838368e353e78888e1426bd94e6f' + '48018a278f7faab55a' + '4825a8991cd700ac01');
  });
});

describe('OSCORE_Input_Material (RFC 9203 §3.2.1) is read strictly', () => {
  const ok = new Map<number, unknown>([[0, fromHex('01')], [2, random(16)]]) as CborMap;
  it('takes id and ms', () => expect(oscoreInputMaterialFromMap(ok).id).toEqual(fromHex('01')));
  for (const [name, m] of [
    ['an unknown parameter (§4.2: 4.00)', new Map([...ok, [7, 1]])],
    ['no id(0)', new Map([[2, random(16)]])],
    ['a Master Secret under 16 bytes', new Map([[0, fromHex('01')], [2, random(8)]])],
    ['version 2', new Map([...ok, [1, 2]])],
    ['salt as text', new Map([...ok, [5, 'salt']])],
  ] as const) {
    it(`refuses ${name}`, () => expect(() => oscoreInputMaterialFromMap(m as CborMap)).toThrow(CwtClaimError));
  }
});

describe('the service issues coap_oscore tokens', () => {
  it('gives cnf osc(4) with a fresh Master Secret and ace_profile coap_oscore; the token is encrypted', async () => {
    const t = await service.issue('ekg');
    expect(t.aceProfile).toBe(ACE_PROFILE.coap_oscore);
    expect(t.cnf && 'osc' in t.cnf).toBe(true);
    const osc = (t.cnf as { osc: { id: Uint8Array; ms: Uint8Array; salt: Uint8Array } }).osc;
    expect(osc.ms.length).toBe(32);
    expect(osc.salt.length).toBe(8);
    // CWT tag 61 around a COSE_Encrypt0 (tag 16): the Master Secret is not in the clear.
    const outer = decodeCbor(t.accessToken) as { tag: number; value: { tag: number } };
    expect(outer.tag).toBe(61);
    expect(outer.value.tag).toBe(16);
    expect(toHex(t.accessToken)).not.toContain(toHex(osc.ms));
    // RFC 9203 §3.2: a different OSCORE_Input_Material per token.
    const t2 = await service.issue('ekg');
    expect(toHex((t2.cnf as { osc: { ms: Uint8Array } }).osc.ms)).not.toBe(toHex(osc.ms));
  });

  it('refuses req_cnf for a coap_oscore audience (the Master Secret is the PoP key)', async () => {
    const kp = nativeProvider.generateKeyPair('Ed25519');
    const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap({ kty: 'OKP', crv: 'Ed25519', x: kp.x })]])));
    const r = await post(service.base, '/token', { grant_type: 'client_credentials', audience: AUDIENCE, scope: [['/result', 1]], req_cnf: reqCnf }, 'json', {
      authorization: basic('ekg', 'ekg-secret-that-is-long-enough'),
    });
    expect(r.status).toBe(400);
    expect(r.data.error).toBe('unsupported_pop_key');
  });

  it('registers coap_oscore only with encrypt0 tokens by value', async () => {
    const store = new SqliteStore(':memory:');
    try {
      const a = await registerAudience(store, nativeProvider, { id: 'dev-a', aceProfile: ACE_PROFILE.coap_oscore });
      expect(a.protection).toBe('encrypt0');
      expect(a.policy.aceProfile).toBe(ACE_PROFILE.coap_oscore);
      await expect(registerAudience(store, nativeProvider, { id: 'dev-b', aceProfile: ACE_PROFILE.coap_oscore, protection: 'sign1' })).rejects.toThrow(RegistryError);
      await expect(registerAudience(store, nativeProvider, { id: 'dev-c', aceProfile: ACE_PROFILE.coap_oscore, referenceTokens: true })).rejects.toThrow(RegistryError);
    } finally {
      store.close();
    }
  });
});

describe('/authz-info (RFC 9203 §4.1–4.3)', () => {
  it('answers 2.01 {nonce2, ace_server_recipientid} and both ends derive the same context', async () => {
    const dev = device();
    const t = await service.issue('ekg');
    const begun = beginAceOscore(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider, fromHex('01'));
    const answer = dev.authzInfoExchange(begun.payload, CONTENT_FORMAT_ACE_CBOR);
    expect(answer.code).toBe(201);
    expect(answer.coapCode).toBe(0x41);
    expect(answer.contentFormat).toBe(CONTENT_FORMAT_ACE_CBOR);
    const body = decodeCbor(answer.payload) as CborMap;
    expect([...body.keys()].sort()).toEqual([42, 44]);
    const { serverRecipientId } = decodeAuthzInfoAnswer(answer.payload);
    const client = begun.finish(answer.payload);
    const server = dev.oscoreContexts.lookup(serverRecipientId)!.context.ctx;
    // The client sends with ID2 and receives with ID1; the RS the other way round.
    expectSameContext(derive(client), server);
    expect(toHex(server.senderId)).toBe('01');
    expect(toHex(client.senderId)).toBe(toHex(serverRecipientId));
    expect(client.aeadAlg).toBe(ALG.AES_CCM_16_64_128);
    expect(client.hkdfAlg).toBe(-10);
  });

  it('keeps the OSCORE material of a held token across a reboot: a re-post after it sets up a context', async () => {
    const storage = memoryStorage();
    const boot = () =>
      createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage, clock, handler: () => ({ code: 205, payload: new Uint8Array(0) }), persistTokens: true });
    const t = await service.issue('ekg');
    expect(exchange(boot(), t).answer.code).toBe(201);
    const rebooted = boot();
    expect(rebooted.stats.tokens).toBe(1);
    expect(exchange(rebooted, t).answer.code).toBe(201);
  });

  it('makes a new context for the same token with a new nonce1, and refuses the same nonce1 again', async () => {
    const dev = device();
    const t = await service.issue('ekg');
    const first = exchange(dev, t);
    const again = exchange(dev, t);
    expect(again.answer.code).toBe(201);
    const id1 = decodeAuthzInfoAnswer(first.answer.payload).serverRecipientId;
    const id2 = decodeAuthzInfoAnswer(again.answer.payload).serverRecipientId;
    const key = (id: Uint8Array) => toHex(dev.oscoreContexts.lookup(id)!.context.ctx.recipientKey);
    expect(key(id2)).not.toBe(key(id1));
    const replay = exchange(dev, t, first.nonce1);
    expect(replay.answer.code).toBe(401);
    expect(dev.oscoreContexts.size).toBe(2);
  });

  it('refuses a token for another audience with 4.03', async () => {
    const t = await service.issue('ekg');
    const { answer } = exchange(device('another-tube'), t);
    expect(answer.code).toBe(403);
  });

  it('refuses a coap_oscore token without nonce1 or ace_client_recipientid (4.00), and junk (4.00), and another Content-Format (4.15)', async () => {
    const dev = device();
    const t = await service.issue('ekg');
    expect(dev.authzInfoExchange(encodeCbor(new Map([[1, t.accessToken]])), CONTENT_FORMAT_ACE_CBOR).code).toBe(400);
    expect(dev.authzInfoExchange(encodeCbor(new Map<number, Uint8Array>([[1, t.accessToken], [40, random(8)]])), CONTENT_FORMAT_ACE_CBOR).code).toBe(400);
    expect(dev.authzInfoExchange(t.accessToken).code).toBe(400); // a bare coap_oscore token
    expect(dev.authzInfoExchange(new Uint8Array([0xff, 0x00])).code).toBe(400);
    expect(dev.authzInfoExchange(new Uint8Array(5000).fill(0x40)).code).toBe(400);
    expect(dev.authzInfoExchange(encodeCbor(new Map<number, Uint8Array>([[1, t.accessToken], [40, random(8)], [43, fromHex('01'), ], [99, random(2)]]))).code).toBe(400);
    expect(dev.authzInfoExchange(encodeCbor(new Map([[1, t.accessToken]])), 50).code).toBe(415);
    expect(dev.oscoreContexts.size).toBe(0);
  });

  it('refuses osc(4) in a token that is not encrypted: its Master Secret was shown to every carrier', async () => {
    // A signer the device trusts (an extra anchor), so only the missing encryption can refuse it.
    const kp = nativeProvider.generateKeyPair('Ed25519');
    const signer = { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8('extra-anchor') } as const;
    const dev = createResourceServer({
      trust: trustStoreFromBundle({ ...service.bundle, trustAnchors: [...service.bundle.trustAnchors, { kty: 'OKP', crv: 'Ed25519', x: kp.x, kid: signer.kid }] }, now),
      storage: memoryStorage(),
      clock,
      handler: () => ({ code: 205, payload: new Uint8Array(0) }),
      });
    const claims = { iss: ISSUER, aud: AUDIENCE, exp: now + 60, iat: now, scope: [['/result', 1]] };
    const clear = createCwt({ ...claims, cnf: { osc: { id: fromHex('01'), ms: random(16) } } }, signer, { provider: nativeProvider });
    expect(() => dev.authzInfo({ token: clear })).toThrow(/not encrypted/);
    expect(exchange(dev, { accessToken: clear } as TokenResponse).answer.code).toBe(401);
    // The same claims encrypted for the device are taken: the refusal was for the clear Master Secret.
    const sealed = createCwt({ ...claims, cnf: { osc: { id: fromHex('02'), ms: random(16) } } }, signer, { provider: nativeProvider, encryptTo: service.bundle.trustAnchors.find((k) => k.kty === 'Symmetric')! });
    expect(exchange(dev, { accessToken: sealed } as TokenResponse).answer.code).toBe(201);
  });

  it('never picks ace_server_recipientid = ace_client_recipientid, and a client refuses an answer where they are equal', async () => {
    const t = await service.issue('ekg');
    // Randomness that first offers the client's own ID1 as ID2: the device must draw again.
    let offered = 0;
    const provider = { ...nativeProvider, randomBytes: (n: number) => (n === 2 && offered++ === 0 ? fromHex('0707') : nativeProvider.randomBytes(n)) };
    const dev = createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage: memoryStorage(), clock, handler: () => ({ code: 205, payload: new Uint8Array(0) }), provider });
    const { answer } = exchange(dev, t, random(8), fromHex('0707'));
    expect(answer.code).toBe(201);
    expect(offered).toBeGreaterThan(1);
    expect(toHex(decodeAuthzInfoAnswer(answer.payload).serverRecipientId)).not.toBe('0707');
    const same = encodeCbor(new Map<number, Uint8Array>([[42, random(8)], [44, fromHex('0707')]]));
    expect(() => clientContextInput((t.cnf as { osc: never }).osc, { nonce1: random(8), clientRecipientId: fromHex('0707') }, same)).toThrow(/equals/);
  });

  it('drops the context when its token expires', async () => {
    const dev = device();
    const t = await service.issue('ekg');
    const id = decodeAuthzInfoAnswer(exchange(dev, t).answer.payload).serverRecipientId;
    expect(dev.oscoreContexts.lookup(id)).toBeDefined();
    const saved = now;
    now += 600 + 61; // past exp + the device's leeway
    try {
      expect(() => dev.oscoreContexts.lookup(id)).toThrow(/no longer valid/);
      expect(dev.oscoreContexts.size).toBe(0);
    } finally {
      now = saved;
    }
  });

  it('drops the context when the service revokes its token', async () => {
    const dev = device();
    const t = await service.issue('ekg');
    const id = decodeAuthzInfoAnswer(exchange(dev, t).answer.payload).serverRecipientId;
    await service.revoke('ekg', t.accessToken);
    expect(dev.applyRevocationList(await service.trl())).toBeGreaterThan(0);
    expect(dev.oscoreContexts.size).toBe(0);
    expect(dev.oscoreContexts.lookup(id)).toBeUndefined();
    expect(exchange(dev, t).answer.code).toBe(401);
  });

  it('bounds the contexts: a token posted over and over keeps few unproven ones; proven ones never give way', async () => {
    const dev = device(AUDIENCE, { maxSessions: 4, maxUnprovenSessionsPerToken: 2 });
    const t = await service.issue('mallory');
    for (let i = 0; i < 10; i++) expect(exchange(dev, t).answer.code).toBe(201);
    expect(dev.oscoreContexts.size).toBe(2);
    // Every context of the client proven: its share (half the slots) is full. A new post still
    // gets a context, waiting unproven beside them (a client that lost its state is not locked
    // out), and pushes out none of the proven ones (a thief with the token has no Master Secret) ...
    const provenIds = [...dev.oscoreContexts.entries()].map((e) => (dev.oscoreContexts.verified(e), toHex(e.recipientId)));
    expect(exchange(dev, t).answer.code).toBe(201);
    expect(exchange(dev, t).answer.code).toBe(201);
    expect(dev.oscoreContexts.size).toBe(3);
    for (const id of provenIds) expect(dev.oscoreContexts.lookup(fromHex(id))?.proven).toBe(true);
    // ... and another client still gets a context.
    expect(exchange(dev, await service.issue('ekg')).answer.code).toBe(201);
  });
});

describe('tokens of audiences without the profile', () => {
  let plain: DeviceService;
  beforeAll(async () => {
    plain = await startDeviceService({ audience: 'tube-plain', clients: ['ekg'], lifetime: 600, clock });
  });
  afterAll(() => plain.close());
  const dev = () =>
    createResourceServer({ trust: trustStoreFromBundle(plain.bundle, now), storage: memoryStorage(), clock, handler: () => ({ code: 205, payload: new Uint8Array(0) }) });

  it('a sealed symmetric PoP key is the Master Secret (RFC 9203 §3.2), its kid the id', async () => {
    const t = await plain.issue('ekg');
    expect(t.aceProfile).toBeUndefined(); // not asked, default profile: as before
    const d = dev();
    const begun = beginAceOscore(t.accessToken, { id: t.popKey!.kid!, ms: t.popKey!.k! }, nativeProvider);
    const answer = d.authzInfoExchange(begun.payload, CONTENT_FORMAT_ACE_CBOR);
    expect(answer.code).toBe(201);
    const client = begun.finish(answer.payload);
    expect(constantTimeEqual(client.masterSecret, t.popKey!.k!)).toBe(true);
    expectSameContext(derive(client), d.oscoreContexts.lookup(client.senderId)!.context.ctx);
    // Posted bare (RFC 9200 §5.10.1) it is stored, with no context.
    expect(dev().authzInfoExchange(t.accessToken).code).toBe(201);
  });

  it('a token bound to a public key sets up no OSCORE context (4.00)', async () => {
    const kp = nativeProvider.generateKeyPair('Ed25519');
    const t = await plain.issue('ekg', { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8('ekg-key') });
    const d = dev();
    expect(exchange(d, t).answer.code).toBe(400);
    expect(d.authzInfoExchange(t.accessToken).code).toBe(201);
    expect(d.oscoreContexts.size).toBe(0);
  });
});

describe('/authz-info under mutated input', () => {
  it('answers every mutation of a valid post with a CoAP code, and makes a context only for a valid one', async () => {
    const t = await service.issue('ekg');
    const seed = encodeAuthzInfoPayload({ token: t.accessToken, nonce1: random(8), clientRecipientId: fromHex('01') });
    const dev = device(AUDIENCE, { maxSessions: 64, maxUnprovenSessionsPerToken: 64 });
    const allowed = new Set([201, 400, 401, 403, 415, 503]);
    let made = 0;
    fc.assert(
      fc.property(mutationsOf([seed]), (b) => {
        const before = dev.oscoreContexts.size;
        const a = dev.authzInfoExchange(b, CONTENT_FORMAT_ACE_CBOR);
        expect(allowed.has(a.code)).toBe(true);
        if (a.code === 201 && a.payload.length > 0) {
          made++;
          // Only a post that still names this token, a fresh nonce1 and an ID1 makes a context.
          const req = decodeAuthzInfoPayload(b);
          expect(req.nonce1).toBeInstanceOf(Uint8Array);
          expect(req.clientRecipientId).toBeInstanceOf(Uint8Array);
        } else expect(dev.oscoreContexts.size).toBeLessThanOrEqual(before);
      }),
      { numRuns: 600 },
    );
    expect(made).toBeLessThan(600);
  });
});

describe('OSCORE-protected requests after the exchange (RFC 8613 §8, RFC 9203 §4.4)', () => {
  const GET = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
  async function connected(dev = device()) {
    const t = await service.issue('ekg');
    const start = beginOscoreClient(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider);
    return { dev, t, client: start.finish(dev.serveCoap(start.message)) };
  }

  it('serves GET /result (2.05) to the holder of the Master Secret, protected both ways', async () => {
    const { dev, client } = await connected();
    const { message, binding } = client.request(GET);
    const answer = client.response(dev.serveCoap(message), binding);
    expect(answer).toMatchObject({ code: 205, authenticated: true });
    expect(new TextDecoder().decode(answer.payload)).toBe('42');
    // The answer on the wire is OSCORE: 2.04 outside, the 2.05 and its payload inside.
    const outer = decodeCoapMessage(dev.serveCoap(client.request(GET).message));
    expect(outer.code).toBe(0x44);
    expect(toHex(outer.payload)).not.toContain(toHex(utf8('42')));
  });

  it('answers a replayed request 4.01 "Replay detected" and a tampered one 4.00, unprotected', async () => {
    const { dev, client } = await connected();
    const { message, binding } = client.request(GET);
    expect(client.response(dev.serveCoap(message), binding).code).toBe(205);
    expect(client.response(dev.serveCoap(message), binding)).toMatchObject({ code: 401, error: 'Replay detected', authenticated: false });
    const tampered = client.request(GET).message.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(client.response(dev.serveCoap(tampered), binding)).toMatchObject({ code: 400, error: 'Decryption failed', authenticated: false });
  });

  it('refuses a resource outside the token scope with a protected 4.03', async () => {
    const { dev, client } = await connected();
    const from = logged.length;
    for (const req of [{ ...GET, method: 'PUT' }, { ...GET, resource: '/config' }]) {
      const { message, binding } = client.request(req);
      expect(client.response(dev.serveCoap(message), binding)).toMatchObject({ code: 403, authenticated: true });
    }
    // Logged as a refusal over MQTT or HTTP is (walkthrough, stop 36: it was not logged at all).
    const refused = logged.slice(from).filter((l) => l.event === 'request_refused' && l.oscore === true);
    expect(refused.map((l) => [l.level, l.code, l.method, l.resource])).toEqual([
      ['warn', 'insufficient_scope', 'PUT', '/result'],
      ['warn', 'insufficient_scope', 'GET', '/config'],
    ]);
  });

  it('answers an unknown kid "Security context not found" and an unprotected request 4.01 with AS hints', async () => {
    const { dev } = await connected();
    const stranger = new OscoreClient(deriveOscoreContext({ masterSecret: random(16), senderId: fromHex('5a5a'), recipientId: fromHex('01') }, nativeProvider), nativeProvider);
    const { message, binding } = stranger.request(GET);
    expect(stranger.response(dev.serveCoap(message), binding)).toMatchObject({ code: 401, error: 'Security context not found' });
    const plain = decodeCoapMessage(dev.serveCoap(encodeCoapMessage({ code: 1, options: [{ number: 11, value: utf8('result') }], payload: new Uint8Array(0) })));
    expect(plain.code).toBe(0x81);
    expect(readCreationHints(plain.payload)?.audience).toBe(AUDIENCE);
  });

  it('answers requests of an expired token unprotected 4.01 with hints, and drops the context', async () => {
    const { dev, client } = await connected();
    const saved = now;
    now += 600 + 61;
    try {
      const { message, binding } = client.request(GET);
      const answer = client.response(dev.serveCoap(message), binding);
      expect(answer).toMatchObject({ code: 401, authenticated: false });
      expect(readCreationHints(answer.payload!)?.audience).toBe(AUDIENCE);
      expect(dev.oscoreContexts.size).toBe(0);
    } finally {
      now = saved;
    }
  });

  it('a client proving context after context holds at most half the slots (its least recently used gives way); another client still gets one', async () => {
    const dev = device(AUDIENCE, { maxSessions: 4, maxUnprovenSessionsPerToken: 2 });
    const t = await service.issue('mallory');
    const proven: OscoreClient[] = [];
    let busy = 0;
    for (let i = 0; i < 6; i++) {
      const start = beginOscoreClient(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider);
      const answer = dev.serveCoap(start.message);
      if (decodeCoapMessage(answer).code !== 0x41) {
        busy++;
        continue;
      }
      const c = start.finish(answer);
      const { message, binding } = c.request(GET);
      expect(c.response(dev.serveCoap(message), binding).code).toBe(205); // proven
      proven.push(c);
    }
    // Each new context, once proven, retired the client's least recently used one: never busy,
    // and never more than its share (2 of 4) held.
    expect(proven.length).toBe(6);
    expect(busy).toBe(0);
    expect(dev.oscoreContexts.size).toBe(2);
    const answers = proven.map((c) => {
      const { message, binding } = c.request(GET);
      const answer = dev.serveCoap(message);
      return decodeCoapMessage(answer).code === 0x81 ? 401 : c.response(answer, binding).code;
    });
    expect(answers).toEqual([401, 401, 401, 401, 205, 205]);
    const other = await connected(dev);
    const { message, binding } = other.client.request(GET);
    expect(other.client.response(dev.serveCoap(message), binding).code).toBe(205);
  });
});
