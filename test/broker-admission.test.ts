import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, connectPasswordText, type KeyboundBroker } from '../broker/index.js';
import { tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { AUDIENCE, closedWithin, connect, createIssuer, ed25519, inbox, now, password, refusal, sleep, subackCodes } from './support/broker-fixture.js';

const issuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
let wsUrl: string;
const log: string[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
  const a = await broker.listen({ port: 0, wsPort: 0 });
  url = a.url;
  wsUrl = a.wsUrl!;
});
afterAll(async () => broker.close());

const SENSORS = [['sensors/#', ['pub', 'sub']]] as const;

describe('CONNECT with a valid token and proof', () => {
  it('publishes and subscribes within scope (raw CBOR password)', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const c = await connect(url, 'alice', password(token, key, 'alice'));
    const box = inbox(c);
    expect((await c.subscribeAsync('sensors/+/temp', { qos: 1 }))[0]!.qos).toBe(1);
    await c.publishAsync('sensors/a/temp', '21.5', { qos: 1 });
    expect((await box.next(1)).map((m) => m.payload.toString())).toEqual(['21.5']);
    await c.endAsync();
  });

  it('accepts the password as base64url text', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const c = await connect(url, 'alice-text', connectPasswordText(password(token, key, 'alice-text')));
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('works over WebSocket on the second port', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const c = await connect(wsUrl, 'alice-ws', password(token, key, 'alice-ws'));
    const box = inbox(c);
    await c.subscribeAsync('sensors/ws', { qos: 0 });
    await c.publishAsync('sensors/ws', 'hi');
    expect((await box.next(1)).length).toBe(1);
    await c.endAsync();
  });

  it('a reconnect with the same token needs only a fresh proof (verified token cached)', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const before = broker.stats.cachedTokens;
    for (let i = 0; i < 3; i++) await (await connect(url, 'again', password(token, key, 'again'))).endAsync();
    expect(broker.stats.cachedTokens).toBe(before + 1);
  });
});

describe('CONNECT refusals', () => {
  it('refuses the token without its key (proof by another key): CONNACK 4', async () => {
    const { token } = issuer.token({ scope: [...SENSORS] });
    expect(await refusal(connect(url, 'thief', password(token, ed25519('thief'), 'thief')))).toBe(4);
    expect(log.some((l) => l.includes('"thief"') && l.includes('bad_proof'))).toBe(true);
  });

  it('refuses a replayed CONNECT: CONNACK 4', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const pw = password(token, key, 'once');
    await (await connect(url, 'once', pw)).endAsync();
    expect(await refusal(connect(url, 'once', pw))).toBe(4);
    expect(log.some((l) => l.includes('"once"') && l.includes('replay'))).toBe(true);
  });

  it('refuses a proof bound to another client id: CONNACK 4', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    expect(await refusal(connect(url, 'mallory', password(token, key, 'alice')))).toBe(4);
  });

  it('refuses a token for another audience: CONNACK 5', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS], audience: 'broker-2' });
    expect(await refusal(connect(url, 'other-aud', password(token, key, 'other-aud')))).toBe(5);
    expect(log.some((l) => l.includes('wrong_audience'))).toBe(true);
  });

  it('refuses an expired token: CONNACK 5', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS], exp: Math.floor(now()) - 1 });
    expect(await refusal(connect(url, 'late', password(token, key, 'late')))).toBe(5);
  });

  it('refuses a token signed by an unknown key: CONNACK 4', async () => {
    const stranger = createIssuer();
    const { token, key } = stranger.token({ scope: [...SENSORS] });
    expect(await refusal(connect(url, 'forged', password(token, key, 'forged')))).toBe(4);
  });

  it('refuses a wrong username, garbage and empty passwords: CONNACK 4', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    expect(await refusal(connect(url, 'u1', password(token, key, 'u1'), { username: 'bob' }))).toBe(4);
    expect(await refusal(connect(url, 'u2', Buffer.from([0x82, 0xff, 0x00])))).toBe(4);
    expect(await refusal(connect(url, 'u3', 'not base64url!'))).toBe(4);
  });

  it('refuses a Will topic outside the scope: CONNACK 5', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const will = { topic: 'alerts/down', payload: Buffer.from('x'), qos: 0 as const, retain: false };
    expect(await refusal(connect(url, 'will-out', password(token, key, 'will-out'), { will }))).toBe(5);
  });

  it('never logs the token or the proof', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    await refusal(connect(url, 'nolog', password(token, ed25519('x'), 'nolog')));
    const hex = Buffer.from(token).toString('hex');
    const b64 = Buffer.from(token).toString('base64url');
    const text = log.join('\n');
    expect(text.includes(hex.slice(0, 40)) || text.includes(b64.slice(0, 40))).toBe(false);
    void key;
  });

  it('does not let another key take over a connected client id', async () => {
    const a = issuer.token({ scope: [...SENSORS] });
    const owner = await connect(url, 'dev-x', password(a.token, a.key, 'dev-x'));
    const b = issuer.token({ scope: [...SENSORS] });
    expect(await refusal(connect(url, 'dev-x', password(b.token, b.key, 'dev-x')))).toBe(5);
    expect(owner.connected).toBe(true);
    await owner.endAsync();
  });
});

describe('scope on PUBLISH and SUBSCRIBE', () => {
  it('refuses a subscribe outside scope with SUBACK 0x80 and keeps the connection', async () => {
    const { token, key } = issuer.token({ scope: [['sensors/a/#', ['sub']]] });
    const c = await connect(url, 'narrow', password(token, key, 'narrow'));
    expect(await subackCodes(c, { 'sensors/#': { qos: 0 }, 'sensors/a/temp': { qos: 0 } })).toEqual([128, 0]);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('drops a publish outside scope; the publisher stays connected and in-scope traffic flows', async () => {
    const watcher = issuer.token({ scope: [['#', ['sub']]] });
    const w = await connect(url, 'watcher', password(watcher.token, watcher.key, 'watcher'));
    const box = inbox(w);
    await w.subscribeAsync('#', { qos: 1 });
    const pub = issuer.token({ scope: [['sensors/b/temp', ['pub']]] });
    const p = await connect(url, 'pub-b', password(pub.token, pub.key, 'pub-b'));
    await p.publishAsync('secret/door', 'open', { qos: 1 });
    await p.publishAsync('sensors/b/temp', '20', { qos: 1 });
    const got = await box.next(1);
    await sleep(200);
    expect(got.map((m) => m.topic)).toEqual(['sensors/b/temp']);
    expect(p.connected).toBe(true);
    expect(log.some((l) => l.includes('dropped PUBLISH from "pub-b" on "secret/door"'))).toBe(true);
    await Promise.all([p.endAsync(), w.endAsync()]);
  });

  it('refuses $ topics even to a "#" scope', async () => {
    const { token, key } = issuer.token({ scope: [['#', ['pub', 'sub']]] });
    const c = await connect(url, 'dollar', password(token, key, 'dollar'));
    expect(await subackCodes(c, { '$SYS/#': { qos: 0 }, '$keybound/dropped': { qos: 0 } })).toEqual([128, 128]);
    await c.endAsync();
  });
});

describe('expiry, refresh and revocation', () => {
  it('disconnects a client at its token expiry and still sends its Will (RFC 9431 §6)', async () => {
    const watcher = issuer.token({ scope: [['status/#', ['sub']]] });
    const w = await connect(url, 'w-exp', password(watcher.token, watcher.key, 'w-exp'));
    const box = inbox(w);
    await w.subscribeAsync('status/#', { qos: 1 });
    const { token, key } = issuer.token({ scope: [['status/dev', ['pub']]], exp: Math.floor(now()) + 2 });
    const will = { topic: 'status/dev', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
    const c = await connect(url, 'short', password(token, key, 'short'), { will });
    expect(await closedWithin(c, 4000)).toBe(true);
    expect((await box.next(1)).map((m) => m.payload.toString())).toEqual(['gone']);
    expect(log.some((l) => l.includes('disconnect "short": expired'))).toBe(true);
    c.end(true);
    await w.endAsync();
  });

  it('replaces the token in place on ace/authz-info (no reconnect)', async () => {
    const first = issuer.token({ scope: [...SENSORS], exp: Math.floor(now()) + 2 });
    const c = await connect(url, 'refresher', password(first.token, first.key, 'refresher'));
    const second = issuer.token({ scope: [...SENSORS], key: first.key });
    const { createConnectPassword, PURPOSE_REFRESH } = await import('../broker/index.js');
    const body = createConnectPassword(second.token, second.key, { audience: AUDIENCE, clientId: 'refresher', clock: now, provider: nativeProvider, purpose: PURPOSE_REFRESH });
    await c.publishAsync('ace/authz-info', Buffer.from(body), { qos: 1 });
    expect(await closedWithin(c, 3500)).toBe(false);
    expect(log.some((l) => l.includes('token refreshed for "refresher"'))).toBe(true);
    await c.endAsync();
  });

  it('refuses a refresh with a token bound to another key (that is a new CONNECT, not a refresh)', async () => {
    const first = issuer.token({ scope: [...SENSORS], exp: Math.floor(now()) + 2 });
    const c = await connect(url, 'refresher-2', password(first.token, first.key, 'refresher-2'));
    const other = issuer.token({ scope: [...SENSORS] });
    const { createConnectPassword, PURPOSE_REFRESH } = await import('../broker/index.js');
    const body = createConnectPassword(other.token, other.key, { audience: AUDIENCE, clientId: 'refresher-2', clock: now, provider: nativeProvider, purpose: PURPOSE_REFRESH });
    await c.publishAsync('ace/authz-info', Buffer.from(body), { qos: 1 });
    expect(await closedWithin(c, 3500)).toBe(true);
    expect(log.some((l) => l.includes('refresh refused for "refresher-2": the new token is bound to another key'))).toBe(true);
    c.end(true);
  });

  it('disconnects a client whose token the signed revocation list names, and refuses it after', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const c = await connect(url, 'revokee', password(token, key, 'revokee'));
    const admin = issuer.token({ scope: [] });
    const a = await connect(url, 'trl-pub', password(admin.token, admin.key, 'trl-pub'));
    await a.publishAsync(`ace/trl/${AUDIENCE}`, Buffer.from(issuer.revoke(AUDIENCE, tokenHash(token, nativeProvider))), { qos: 1 });
    expect(await closedWithin(c, 3000)).toBe(true);
    expect(await refusal(connect(url, 'revokee', password(token, key, 'revokee')))).toBe(5);
    // The list is retained for sleepers: a late subscriber gets it.
    const late = await connect(url, 'trl-late', password(admin.token, admin.key, 'trl-late'));
    const box = inbox(late);
    await late.subscribeAsync(`ace/trl/${AUDIENCE}`, { qos: 1 });
    expect((await box.next(1))[0]!.retain).toBe(true);
    await Promise.all([a.endAsync(), late.endAsync()]);
  });

  it('drops a revocation list that does not verify', async () => {
    const stranger = createIssuer();
    const admin = issuer.token({ scope: [] });
    const a = await connect(url, 'trl-forger', password(admin.token, admin.key, 'trl-forger'));
    await a.publishAsync(`ace/trl/${AUDIENCE}`, Buffer.from(stranger.revoke(AUDIENCE, new Uint8Array(32))), { qos: 1 });
    await sleep(100);
    expect(log.some((l) => l.includes('"trl-forger"') && l.includes('revocation list refused'))).toBe(true);
    await a.endAsync();
  });

  it('clears a retained message when its publisher token expires', async () => {
    const { token, key } = issuer.token({ scope: [['state/#', ['pub', 'sub']]], exp: Math.floor(now()) + 2 });
    const p = await connect(url, 'retainer', password(token, key, 'retainer'));
    await p.publishAsync('state/lamp', 'on', { qos: 1, retain: true });
    const reader = issuer.token({ scope: [['state/#', ['sub']]] });
    const r1 = await connect(url, 'reader-1', password(reader.token, reader.key, 'reader-1'));
    const box1 = inbox(r1);
    await r1.subscribeAsync('state/#');
    expect((await box1.next(1)).length).toBe(1);
    await r1.endAsync();
    await sleep(3200);
    const r2 = await connect(url, 'reader-2', password(reader.token, reader.key, 'reader-2'));
    const box2 = inbox(r2);
    await r2.subscribeAsync('state/#');
    await sleep(300);
    expect(box2.got.length).toBe(0);
    await r2.endAsync();
    p.end(true);
  });
});

describe('retained-message budgets', () => {
  it('delivers but does not retain a publish on a topic too long or too deep for the table', async () => {
    const { MAX_RETAINED_TOPIC_BYTES, MAX_RETAINED_TOPIC_LEVELS } = await import('../broker/index.js');
    const { token, key } = issuer.token({ scope: [['deep/#', ['pub', 'sub']]] });
    const p = await connect(url, 'deep-pub', password(token, key, 'deep-pub'));
    const deep = ['deep', ...Array.from({ length: MAX_RETAINED_TOPIC_LEVELS }, (_, i) => `l${i}`)].join('/');
    const long = `deep/${'x'.repeat(MAX_RETAINED_TOPIC_BYTES)}`;
    await p.publishAsync(deep, 'deep', { qos: 1, retain: true });
    await p.publishAsync(long, 'long', { qos: 1, retain: true });
    await p.publishAsync('deep/ok', 'kept', { qos: 1, retain: true });
    const late = await connect(url, 'deep-sub', password(token, key, 'deep-sub'));
    const box = inbox(late);
    await late.subscribeAsync('deep/#', { qos: 1 });
    await sleep(300);
    expect(box.got.map((m) => m.payload.toString())).toEqual(['kept']);
    expect(log.filter((l) => l.includes('"deep-pub"') && l.includes('not retained')).length).toBe(2);
    await p.publishAsync('deep/ok', '', { qos: 1, retain: true });
    await Promise.all([p.endAsync(), late.endAsync()]);
  });
});

describe('a restarted broker (in-memory replay store) refuses CONNECTs captured before it started', () => {
  it('refuses the captured CONNECT (CONNACK 4) and admits a fresh proof of the same token', async () => {
    const { token, key } = issuer.token({ scope: [...SENSORS] });
    const lines: string[] = [];
    const first = await createBroker({ audience: AUDIENCE, trust: issuer.trust });
    const u1 = (await first.listen(0)).url;
    const captured = password(token, key, 'restarted');
    await (await connect(u1, 'restarted', captured)).endAsync();
    await first.close();
    await sleep(1100); // the next broker starts in a later second than the captured proof's iat
    const second = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => lines.push(l) });
    try {
      const u2 = (await second.listen(0)).url;
      expect(await refusal(connect(u2, 'restarted', captured))).toBe(4);
      expect(lines.some((l) => l.includes('older than this broker process'))).toBe(true);
      await (await connect(u2, 'restarted', password(token, key, 'restarted'))).endAsync();
    } finally {
      await second.close();
    }
  });
});

describe('per-message PoP (token claim kb_msgpop)', () => {
  it('routes only payloads signed by the cnf key for this connection with a rising sequence number', async () => {
    const { createMessagePop, createConnectCredentials } = await import('../broker/index.js');
    const credentials = (clientId: string) => createConnectCredentials(token, key, { audience: AUDIENCE, clientId, clock: now, provider: nativeProvider });
    const w = issuer.token({ scope: [['meter/#', ['sub']]] });
    const watcher = await connect(url, 'meter-w', password(w.token, w.key, 'meter-w'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('meter/#', { qos: 1 });
    const { token, key } = issuer.token({ scope: [['meter/1', ['pub']]], messagePop: true });
    const first = credentials('meter-1');
    const p = await connect(url, 'meter-1', Buffer.from(first.password));
    const signedOn = (connection: Uint8Array) => (n: number, text: string) => Buffer.from(createMessagePop(Buffer.from(text), 'meter/1', n, key, { provider: nativeProvider, connection }));
    const signed = signedOn(first.jti);
    await p.publishAsync('meter/1', 'unsigned', { qos: 1 });
    await p.publishAsync('meter/1', signed(1, 'one'), { qos: 1 });
    await p.publishAsync('meter/1', signed(1, 'replayed'), { qos: 1 });
    await p.publishAsync('meter/1', Buffer.from(createMessagePop(Buffer.from('forged'), 'meter/1', 9, ed25519('m'), { provider: nativeProvider, connection: first.jti })), { qos: 1 });
    await p.publishAsync('meter/1', signed(2, 'two'), { qos: 1 });
    await box.next(2);
    await sleep(200);
    expect(box.got.length).toBe(2);
    expect(log.filter((l) => l.includes('"meter-1"') && l.includes('message PoP')).length).toBe(3);
    await p.endAsync();
    // A signed PUBLISH overheard on one connection is no good on the next: it names its connection.
    const logged = log.length;
    const second = credentials('meter-1');
    const again = await connect(url, 'meter-1', Buffer.from(second.password));
    await again.publishAsync('meter/1', signed(2, 'two, injected after a reconnect'), { qos: 1 });
    await again.publishAsync('meter/1', signed(7, 'seven, from the old connection'), { qos: 1 });
    await again.publishAsync('meter/1', signedOn(second.jti)(1, 'one, on the new connection'), { qos: 1 });
    expect((await box.next(3)).map((m) => m.payload.length > 0)).toEqual([true, true, true]);
    await sleep(200);
    expect(box.got.length).toBe(3);
    expect(log.slice(logged).filter((l) => l.includes('"meter-1"') && l.includes('message PoP (bad_proof)')).length).toBe(2);
    await Promise.all([again.endAsync(), watcher.endAsync()]);
  });
});
