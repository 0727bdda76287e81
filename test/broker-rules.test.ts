import { describe, expect, it } from 'vitest';
import { aifMqtt, encodeCbor, toBase64Url, utf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  BROKER_ERR,
  BrokerError,
  MAX_PASSWORD_BYTES,
  createAdmission,
  createMessagePop,
  createRetainedExpiry,
  createTokenBucket,
  createTokenVerifier,
  brokerTrust,
  decodeConnectPassword,
  mayReceive,
  maySubscribe,
  memoryJtiStore,
  type JtiStore,
  publishRoute,
  verifyMessagePop,
  type Identity,
} from '../broker/index.js';
import { AUDIENCE, createIssuer, ed25519, password } from './support/broker-fixture.js';

// The broker's logic without a socket: the same modules the aedes hooks call.

describe('CONNECT password decoding', () => {
  it('reads [token, proof] raw and as base64url text, identically', () => {
    const raw = encodeCbor([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]);
    const a = decodeConnectPassword(raw);
    const b = decodeConnectPassword(utf8(toBase64Url(raw)));
    expect(a).toEqual(b);
    expect([...a.token]).toEqual([1, 2, 3]);
  });

  it.each([
    ['missing', undefined],
    ['empty', new Uint8Array(0)],
    ['not an array', encodeCbor(new Uint8Array([1]))],
    ['one element', encodeCbor([new Uint8Array([1])])],
    ['text elements', encodeCbor(['a', 'b'])],
    ['trailing bytes', new Uint8Array([...encodeCbor([new Uint8Array([1]), new Uint8Array([2])]), 0])],
    ['base64 with padding', utf8('gkEBQQI=')],
    ['oversized', new Uint8Array(MAX_PASSWORD_BYTES + 1).fill(0x41)],
  ])('refuses %s with bad_credentials', (_name, pw) => {
    expect(() => decodeConnectPassword(pw)).toThrow(expect.objectContaining({ code: BROKER_ERR.BAD_CREDENTIALS }));
  });
});

describe('topic rules (AIF-MQTT, RFC 9431, and the ace/ relay topics)', () => {
  const who: Identity = { scope: aifMqtt([['sensors/+/temp', ['pub', 'sub']], ['alerts/#', ['sub']], ['ace/tube/req', ['pub']]]), clientId: 'app', subject: 'app' };

  it('routes publishes by scope, with the ace/ exceptions', () => {
    expect(publishRoute(who, 'sensors/a/temp').kind).toBe('scoped');
    expect(publishRoute(who, 'sensors/a/hum').kind).toBe('denied');
    expect(publishRoute(who, 'alerts/x').kind).toBe('denied'); // sub only
    expect(publishRoute(who, 'ace/tube/req').kind).toBe('scoped');
    expect(publishRoute(who, 'ace/other/req').kind).toBe('denied');
    expect(publishRoute(who, 'ace/authz-info')).toEqual({ kind: 'refresh' });
    expect(publishRoute(who, 'ace/any-device/authz-info')).toEqual({ kind: 'authz-info', device: 'any-device' });
    expect(publishRoute(who, 'ace/trl/broker-1')).toEqual({ kind: 'trl', audience: 'broker-1' });
    expect(publishRoute(who, '$SYS/x').kind).toBe('denied');
    expect(publishRoute(who, 'sensors/+/temp').kind).toBe('denied'); // wildcards are not topic names
  });

  it('grants subscriptions only when every matching topic is covered', () => {
    expect(maySubscribe(who, 'sensors/+/temp')).toBe(true);
    expect(maySubscribe(who, 'sensors/#')).toBe(false);
    expect(maySubscribe(who, 'alerts/fire/#')).toBe(true);
    expect(maySubscribe(who, 'ace/trl/broker-1')).toBe(true);
    expect(maySubscribe(who, 'ace/+/res/app')).toBe(true);
    expect(maySubscribe(who, 'ace/+/res/other')).toBe(false);
    expect(maySubscribe(who, 'ace/+/res/+')).toBe(false);
    expect(maySubscribe(who, '#')).toBe(false);
    expect(maySubscribe(who, '$SYS/#')).toBe(false);
  });

  it('grants responses by client id only when the token subject is that client', () => {
    expect(maySubscribe({ ...who, subject: 'someone-else' }, 'ace/+/res/app')).toBe(false);
    expect(maySubscribe({ ...who, subject: undefined }, 'ace/+/res/app')).toBe(false);
  });

  it('forwards only what the (current) scope lets the receiver read', () => {
    expect(mayReceive(who, 'sensors/a/temp')).toBe(true);
    expect(mayReceive(who, 'sensors/a/hum')).toBe(false);
    expect(mayReceive(who, 'ace/tube/res/app')).toBe(true);
    expect(mayReceive(who, '$keybound/dropped')).toBe(false);
  });
});

describe('admission without a socket', () => {
  const issuer = createIssuer();
  const clock = () => Date.now() / 1000;
  const make = () => {
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: clock() }), clock, provider: nativeProvider, isRevoked: () => false });
    return createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(clock), clock, provider: nativeProvider });
  };

  it('admits the holder and returns the parsed scope and expiry', async () => {
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]], sub: 'app' });
    const granted = await make()('c1', 'ace', password(token, key, 'c1'));
    expect(granted.scope.kind).toBe('aif-mqtt');
    expect(granted.subject).toBe('app');
    expect(granted.expiresAt).toBeGreaterThan(clock());
  });

  it('refuses with stable codes: replay, thief, wrong client id, stale iat', async () => {
    const admit = make();
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
    const pw = password(token, key, 'c2');
    await admit('c2', 'ace', pw);
    await expect(admit('c2', 'ace', pw)).rejects.toMatchObject({ code: BROKER_ERR.REPLAY, returnCode: 4 });
    await expect(admit('c3', 'ace', password(token, ed25519('x'), 'c3'))).rejects.toMatchObject({ code: BROKER_ERR.BAD_PROOF });
    await expect(admit('c4', 'ace', password(token, key, 'c5'))).rejects.toMatchObject({ code: BROKER_ERR.BAD_PROOF });
    const { createConnectPassword } = await import('../broker/index.js');
    const stale = createConnectPassword(token, key, { audience: AUDIENCE, clientId: 'c6', clock: () => clock() - 600, provider: nativeProvider });
    await expect(admit('c6', 'ace', stale)).rejects.toMatchObject({ code: BROKER_ERR.REPLAY });
  });

  it('limits fresh proofs per token (CONNACK 3, busy), and replays of an overheard CONNECT never drain the holder', async () => {
    let t = clock();
    const at = () => t;
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: t }), clock: at, provider: nativeProvider, isRevoked: () => false });
    const admit = createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(at), clock: at, provider: nativeProvider, connectRate: { burst: 3, perSecond: 1 } });
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
    const overheard = password(token, key, 'r0');
    await admit('r0', 'ace', overheard);
    // An eavesdropper replays the CONNECT it saw: refused as a replay, and it costs the holder nothing.
    for (let i = 0; i < 10; i++) await expect(admit('r0', 'ace', overheard)).rejects.toMatchObject({ code: BROKER_ERR.REPLAY });
    await admit('r1', 'ace', password(token, key, 'r1'));
    await admit('r2', 'ace', password(token, key, 'r2'));
    await expect(admit('r3', 'ace', password(token, key, 'r3'))).rejects.toMatchObject({ code: BROKER_ERR.BUSY, returnCode: 3 });
    // Another token is not held back by this one, and the allowance refills with time.
    const other = issuer.token({ scope: [['a/#', ['pub']]] });
    await admit('o1', 'ace', password(other.token, other.key, 'o1'));
    t += 1.5;
    await admit('r4', 'ace', password(token, key, 'r4'));
  });

  it('holds the allowance for CONNECTs in flight at once against a slow shared store (as Redis is)', async () => {
    const slow: JtiStore = (() => {
      const inner = memoryJtiStore(clock);
      return { claim: async (jti, until) => (await new Promise((r) => setTimeout(r, 5)), inner.claim(jti, until)) };
    })();
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: clock() }), clock, provider: nativeProvider, isRevoked: () => false });
    const admit = createAdmission({ audience: AUDIENCE, verifier, jtis: slow, clock, provider: nativeProvider, connectRate: { burst: 5, perSecond: 0.001 } });
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => admit(`p${i}`, 'ace', password(token, key, `p${i}`))));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(5);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === BROKER_ERR.BUSY).length).toBe(35);
  });

  it('a full jti store refuses with busy (CONNACK 3), not as a replay', async () => {
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: clock() }), clock, provider: nativeProvider, isRevoked: () => false });
    const admit = createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(clock, 2), clock, provider: nativeProvider });
    for (const id of ['f1', 'f2']) {
      const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
      await admit(id, 'ace', password(token, key, id));
    }
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
    await expect(admit('f3', 'ace', password(token, key, 'f3'))).rejects.toMatchObject({ code: BROKER_ERR.BUSY, returnCode: 3 });
  });

  it('refuses a token whose scope is not AIF-MQTT with the code a device gives (returnCode 5)', async () => {
    const { createCwt, publicCoseKey } = await import('../cose/index.js');
    const key = ed25519('k');
    const token = createCwt({ aud: AUDIENCE, exp: Math.floor(clock()) + 60, cnf: { coseKey: publicCoseKey(key) }, scope: [['/temp', 1]] }, issuer.signingKey, { provider: nativeProvider });
    await expect(make()('c7', 'ace', password(token, key, 'c7'))).rejects.toMatchObject({ code: BROKER_ERR.INSUFFICIENT_SCOPE, returnCode: 5 });
  });
});

describe('per-message PoP', () => {
  const key = ed25519('pub-key');
  it('verifies a signed payload for its topic and connection with a rising sequence number', () => {
    const connection = nativeProvider.randomBytes(16);
    const on = { provider: nativeProvider, connection };
    const m = createMessagePop(utf8('21.5'), 'sensors/a', 7, key, on);
    expect(verifyMessagePop(m, key, 'sensors/a', 6, on).seq).toBe(7);
    expect(() => verifyMessagePop(m, key, 'sensors/a', 7, on)).toThrow(expect.objectContaining({ code: BROKER_ERR.REPLAY }));
    expect(() => verifyMessagePop(m, key, 'sensors/b', 0, on)).toThrow(expect.objectContaining({ code: BROKER_ERR.BAD_PROOF }));
    // Recorded on another connection: refused whatever the counter says.
    expect(() => verifyMessagePop(m, key, 'sensors/a', -1, { provider: nativeProvider, connection: nativeProvider.randomBytes(16) })).toThrow(
      expect.objectContaining({ code: BROKER_ERR.BAD_PROOF, message: expect.stringContaining('connection(4)') }),
    );
    expect(() => verifyMessagePop(m, ed25519('other'), 'sensors/a', 0, on)).toThrow(BrokerError);
    expect(() => verifyMessagePop(utf8('plain text'), key, 'sensors/a', 0, on)).toThrow(BrokerError);
  });
});

describe('budgets', () => {
  it('a token bucket allows the burst, then the refill rate', () => {
    let t = 0;
    const bucket = createTokenBucket(() => t, { burst: 2, perSecond: 1 });
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    t = 1;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });

  it('retained messages expire with their publisher token; the table is bounded', () => {
    const r = createRetainedExpiry(2);
    expect(r.set('a', 10)).toBe(true);
    expect(r.set('b', 20)).toBe(true);
    expect(r.set('c', 30)).toBe(false);
    expect(r.isExpired('a', 10)).toBe(true);
    expect(r.isExpired('b', 10)).toBe(false);
    expect(r.takeExpired(15)).toEqual(['a']);
    expect(r.size).toBe(1);
  });

  it('one token holds at most its share of retained topics; replacing, clearing and expiry keep the count right', () => {
    const r = createRetainedExpiry(100, 2);
    expect(r.set('t/1', 50, 0, 'alice')).toBe(true);
    expect(r.set('t/1', 60, 1, 'alice')).toBe(true); // the same topic again: still one
    expect(r.set('t/2', 50, 0, 'alice')).toBe(true);
    expect(r.set('t/3', 50, 0, 'alice')).toBe(false); // over alice's share
    expect(r.set('t/3', 50, 0, 'bob')).toBe(true); // others are not held back
    expect(r.set('t/4', 50, 0)).toBe(true); // a record from a peer broker has no owner here
    expect(r.ownedBy('alice')).toBe(2);
    r.clear('t/1');
    expect(r.set('t/5', 50, 0, 'alice')).toBe(true);
    expect(r.set('t/3', 70, 2, 'alice')).toBe(false); // taking bob's topic counts against alice too
    expect(r.takeExpired(55).sort()).toEqual(['t/2', 't/3', 't/4', 't/5']);
    expect(r.ownedBy('alice')).toBe(0);
    expect(r.ownedBy('bob')).toBe(0);
  });
});

describe('retained-expiry records shared between brokers ($keybound/retained-exp sidecars)', () => {
  it('converge on the latest publish whatever order the brokers hear of them in', async () => {
    const { createRetainedExpiry, shareRetainedExpiry } = await import('../broker/index.js');
    let t = 10;
    const clock = () => t;
    const outbox: Array<{ from: 'a' | 'b'; topic: string; payload: Uint8Array }> = [];
    const a = shareRetainedExpiry(createRetainedExpiry(), (topic, payload) => outbox.push({ from: 'a', topic, payload }), clock);
    const b = shareRetainedExpiry(createRetainedExpiry(), (topic, payload) => outbox.push({ from: 'b', topic, payload }), clock);
    a.set('lamp/1', 100); // at t = 10, a short token
    t = 11;
    b.set('lamp/1', 1000); // at t = 11, a long one
    // Each hears the other's record after its own: b's (newer) must win at both.
    for (const m of [...outbox].reverse()) (m.from === 'a' ? b : a).applyShared(m.topic, m.payload);
    expect(a.get('lamp/1')?.expiresAt).toBe(1000);
    expect(b.get('lamp/1')?.expiresAt).toBe(1000);
    // At 100 neither broker clears it: the live record belongs to the newer publish.
    t = 100;
    expect(a.takeExpired(t)).toEqual([]);
    expect(b.takeExpired(t)).toEqual([]);
    // A peer's clear does not drop a live record; an expired one goes.
    b.applyShared('$keybound/retained-exp/lamp/1', new Uint8Array(0));
    expect(b.get('lamp/1')).toBeDefined();
    t = 1000;
    b.applyShared('$keybound/retained-exp/lamp/1', new Uint8Array(0));
    expect(b.get('lamp/1')).toBeUndefined();
    // Malformed sidecars (only brokers write $ topics) change nothing.
    a.applyShared('$keybound/retained-exp/lamp/1', utf8('soon'));
    expect(a.get('lamp/1')?.expiresAt).toBe(1000);
  });
});

