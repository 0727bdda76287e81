/**
 * Issue 9, finding 5: the Will obeys the rules of a PUBLISH. Each attack runs with real mqtt.js
 * clients against a real broker on a port: a retained Will that outlives its token, an unsigned
 * Will for a token that requires per-message PoP, the Will of a client disconnected for
 * revocation, and the retained messages of a revoked client.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createBroker, createConnectCredentials, createMessagePop, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, closedWithin, connect, createIssuer, ed25519, inbox, now, password, refusal, sleep } from './support/broker-fixture.js';

const issuer = createIssuer();
const log: string[] = [];
let broker: KeyboundBroker;
let url: string;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
  url = (await broker.listen(0)).url;
});

afterAll(async () => {
  for (const c of open) c.end(true);
  await broker.close();
});

async function watcher(id: string): Promise<{ client: MqttClient; box: ReturnType<typeof inbox> }> {
  const w = issuer.token({ scope: [['lamp/#', ['sub']]] });
  const client = await connect(url, id, password(w.token, w.key, id));
  open.push(client);
  const box = inbox(client);
  await client.subscribeAsync('lamp/#', { qos: 1 });
  return { client, box };
}

/** What a subscriber arriving now is handed as retained on `topic`. */
async function retainedOn(topic: string, id: string): Promise<string[]> {
  const w = issuer.token({ scope: [['lamp/#', ['sub']]] });
  const client = await connect(url, id, password(w.token, w.key, id));
  const box = inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  await sleep(300);
  await client.endAsync();
  return box.got.filter((m) => m.retain).map((m) => m.payload.toString());
}

/** Drops the TCP connection without DISCONNECT: the broker then sends the Will (MQTT 3.1.1 §3.1.2.5). */
function dropConnection(client: MqttClient): void {
  (client as unknown as { stream: { destroy(): void } }).stream.destroy();
}

describe('a retained Will lives no longer than its token (RFC 9431 §6)', () => {
  it('a Will sent while the token lives is retained, then cleared at the token’s exp', async () => {
    const { token, key } = issuer.token({ scope: [['lamp/1/#', ['pub']]], exp: Math.floor(now()) + 3 });
    const lamp = await connect(url, 'lamp-1', password(token, key, 'lamp-1'), { will: { topic: 'lamp/1/state', payload: Buffer.from('gone'), qos: 1, retain: true } });
    dropConnection(lamp);
    await sleep(300);
    expect(await retainedOn('lamp/1/state', 'late-1')).toEqual(['gone']); // the positive case
    await sleep(Math.max(0, (Math.floor(now()) + 1 - now()) * 1000) + 3000); // past exp and one sweep
    expect(await retainedOn('lamp/1/state', 'late-2')).toEqual([]);
  });

  it('a Will sent at expiry (the broker disconnects the client) is delivered but not retained', async () => {
    const { box } = await watcher('watch-exp');
    const { token, key } = issuer.token({ scope: [['lamp/2/#', ['pub']]], exp: Math.floor(now()) + 2 });
    const lamp = await connect(url, 'lamp-2', password(token, key, 'lamp-2'), { will: { topic: 'lamp/2/state', payload: Buffer.from('expired'), qos: 1, retain: true } });
    expect(await closedWithin(lamp, 4000)).toBe(true);
    await box.next(1);
    expect(box.got.map((m) => m.payload.toString())).toEqual(['expired']);
    expect(await retainedOn('lamp/2/state', 'late-3')).toEqual([]);
    expect(log.some((l) => l.includes('"lamp-2"') && l.includes('not retained: its token has expired'))).toBe(true);
  });
});

describe('a Will is signed when the token requires per-message PoP', () => {
  const credentials = (token: Uint8Array, key: Parameters<typeof createConnectCredentials>[1], clientId: string) =>
    createConnectCredentials(token, key, { audience: AUDIENCE, clientId, clock: now, provider: nativeProvider });

  it('refuses a CONNECT whose Will is unsigned, or signed for another connection (CONNACK 4)', async () => {
    const { token, key } = issuer.token({ scope: [['lamp/3/#', ['pub']]], messagePop: true });
    const unsigned = credentials(token, key, 'lamp-3');
    expect(await refusal(connect(url, 'lamp-3', Buffer.from(unsigned.password), { will: { topic: 'lamp/3/state', payload: Buffer.from('unsigned'), qos: 1, retain: false } }))).toBe(4);
    const elsewhere = credentials(token, key, 'lamp-3');
    const stale = createMessagePop(Buffer.from('old'), 'lamp/3/state', 0, key, { provider: nativeProvider, connection: unsigned.jti });
    expect(await refusal(connect(url, 'lamp-3', Buffer.from(elsewhere.password), { will: { topic: 'lamp/3/state', payload: Buffer.from(stale), qos: 1, retain: false } }))).toBe(4);
    expect(log.filter((l) => l.includes('"lamp-3"') && l.includes('bad_proof')).length).toBe(2);
  });

  it('routes a Will signed for this connection; its seq floors the connection’s later messages', async () => {
    const { box } = await watcher('watch-pop');
    const { token, key } = issuer.token({ scope: [['lamp/4/#', ['pub']]], messagePop: true });
    const c = credentials(token, key, 'lamp-4');
    const signed = (seq: number, text: string, topic = 'lamp/4/state') => Buffer.from(createMessagePop(Buffer.from(text), topic, seq, key, { provider: nativeProvider, connection: c.jti }));
    const willPayload = signed(0, 'will');
    const lamp = await connect(url, 'lamp-4', Buffer.from(c.password), { will: { topic: 'lamp/4/state', payload: willPayload, qos: 1, retain: false } });
    await lamp.publishAsync('lamp/4/state', willPayload, { qos: 1 }); // the Will replayed as a PUBLISH: seq 0 is taken
    await lamp.publishAsync('lamp/4/state', signed(1, 'one'), { qos: 1 });
    dropConnection(lamp);
    await box.next(2);
    await sleep(200);
    expect(box.got.map((m) => m.payload.equals(willPayload) ? 'will' : m.payload.length)).toEqual([signed(1, 'one').length, 'will']);
  });
});

describe('a refresh to a token that requires per-message PoP holds the Will to it', () => {
  it('is refused while the Will is unsigned; the session keeps its first token', async () => {
    const { createConnectPassword, PURPOSE_REFRESH } = await import('../broker/index.js');
    const key = ed25519('lamp-9');
    const first = issuer.token({ scope: [['lamp/9/#', ['pub']]], key });
    const lamp = await connect(url, 'lamp-9', password(first.token, key, 'lamp-9'), { will: { topic: 'lamp/9/state', payload: Buffer.from('unsigned'), qos: 1, retain: false } });
    open.push(lamp);
    const strict = issuer.token({ scope: [['lamp/9/#', ['pub']]], key, messagePop: true });
    const body = createConnectPassword(strict.token, key, { audience: AUDIENCE, clientId: 'lamp-9', clock: now, provider: nativeProvider, purpose: PURPOSE_REFRESH });
    await lamp.publishAsync('ace/authz-info', Buffer.from(body), { qos: 1 });
    await sleep(200);
    expect(log.some((l) => l.includes('"lamp-9"') && l.includes('the new token requires a signed Will'))).toBe(true);
    expect(log.some((l) => l.includes('token refreshed for "lamp-9"'))).toBe(false);
    // The positive case: the same refresh without the PoP claim is taken.
    const plain = issuer.token({ scope: [['lamp/9/#', ['pub']]], key });
    await lamp.publishAsync('ace/authz-info', Buffer.from(createConnectPassword(plain.token, key, { audience: AUDIENCE, clientId: 'lamp-9', clock: now, provider: nativeProvider, purpose: PURPOSE_REFRESH })), { qos: 1 });
    await sleep(200);
    expect(log.some((l) => l.includes('token refreshed for "lamp-9"'))).toBe(true);
  });
});

describe('a client disconnected for revocation sends no Will', () => {
  it('its Will is neither delivered nor retained; an unrevoked client’s Will still is', async () => {
    const { box } = await watcher('watch-rev');
    const revoked = issuer.token({ scope: [['lamp/5/#', ['pub']]] });
    const kept = issuer.token({ scope: [['lamp/6/#', ['pub']]] });
    const a = await connect(url, 'lamp-5', password(revoked.token, revoked.key, 'lamp-5'), { will: { topic: 'lamp/5/state', payload: Buffer.from('revoked'), qos: 1, retain: true } });
    const b = await connect(url, 'lamp-6', password(kept.token, kept.key, 'lamp-6'), { will: { topic: 'lamp/6/state', payload: Buffer.from('kept'), qos: 1, retain: true } });
    await broker.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(revoked.token, nativeProvider)));
    expect(await closedWithin(a, 2000)).toBe(true);
    dropConnection(b);
    await box.next(1);
    await sleep(300);
    expect(box.got.map((m) => m.payload.toString())).toEqual(['kept']);
    expect(await retainedOn('lamp/5/state', 'late-5')).toEqual([]);
    expect(await retainedOn('lamp/6/state', 'late-6')).toEqual(['kept']);
    expect(log.some((l) => l.includes('"lamp-5"') && l.includes('Will') && l.includes('revoked'))).toBe(true);
  });
});

describe('a revoked client’s retained messages end with its token', () => {
  it('they are cleared when the list arrives, not at exp; others’ stay', async () => {
    const revoked = issuer.token({ scope: [['lamp/7/#', ['pub']]] });
    const kept = issuer.token({ scope: [['lamp/8/#', ['pub']]] });
    const a = await connect(url, 'lamp-7', password(revoked.token, revoked.key, 'lamp-7'));
    const b = await connect(url, 'lamp-8', password(kept.token, kept.key, 'lamp-8'));
    open.push(b);
    await a.publishAsync('lamp/7/state', 'on', { qos: 1, retain: true });
    await b.publishAsync('lamp/8/state', 'on', { qos: 1, retain: true });
    expect(await retainedOn('lamp/7/state', 'late-7a')).toEqual(['on']); // the positive case
    await broker.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(revoked.token, nativeProvider)));
    await closedWithin(a, 2000);
    expect(await retainedOn('lamp/7/state', 'late-7b')).toEqual([]);
    expect(await retainedOn('lamp/8/state', 'late-8')).toEqual(['on']);
  });
});
