/**
 * Adversarial review: the bound of MAX_SUBSCRIPTIONS_PER_CONNECTION filters held per connection,
 * not per persistent session. aedes restores a clean=false session's stored filters at each
 * CONNECT (MQTT 3.1.1 §3.1.2.4) and keeps those the new token's scope does not cover, so one key
 * reconnecting with fresh proofs under tokens of other scopes gathered 1,000 more filters in the
 * store each time. The filters a session holds in the store now count toward the bound. A real
 * broker on a real port (aedes' in-memory store), real mqtt.js clients and tokens.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, MAX_SUBSCRIPTIONS_PER_CONNECTION, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, ed25519, password, storedFilters, subackCodes } from './support/broker-fixture.js';

const stored = async (clientId: string): Promise<number> => (await storedFilters(broker, clientId)).length;

const issuer = createIssuer();
const log: string[] = [];
let broker: KeyboundBroker;
let url: string;
const N = MAX_SUBSCRIPTIONS_PER_CONNECTION;

beforeAll(async () => {
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust, logger: (l) => log.push(l) });
  url = (await broker.listen(0)).url;
}, 30_000);
afterAll(async () => broker?.close());

const filters = (prefix: string, from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}/${from + i}`, { qos: 1 as const }]));

describe(`one persistent session holds at most ${N} filters, across reconnects`, () => {
  const key = ed25519('hoarder');
  /** A fresh token (same key: the same session) with another scope, and a fresh proof. */
  const session = (clientId: string, prefix: string, clean = false): Promise<MqttClient> => {
    const { token } = issuer.token({ scope: [[`${prefix}/#`, ['sub']]], key });
    return connect(url, clientId, password(token, key, clientId), { clean });
  };

  it('reconnects under tokens of other scopes add no filter past the bound; the session keeps its own', async () => {
    const first = await session('gatherer', 'a');
    expect((await subackCodes(first, filters('a', 0, N - 10))).every((c) => c === 1)).toBe(true);
    await first.endAsync();
    expect(await stored('gatherer')).toBe(N - 10);

    const second = await session('gatherer', 'b');
    const codes = await subackCodes(second, filters('b', 0, 30));
    expect(codes.slice(0, 10).every((c) => c === 1)).toBe(true); // the room the session had left
    expect(codes.slice(10).every((c) => c === 128)).toBe(true);
    await second.endAsync();
    const third = await session('gatherer', 'c');
    expect((await subackCodes(third, filters('c', 0, 30))).every((c) => c === 128)).toBe(true);
    await third.endAsync();
    expect(await stored('gatherer')).toBe(N);
    expect(log.filter((l) => l.includes('"gatherer"') && l.includes(`more than ${N} filters`)).length).toBe(2);

    // The legitimate paths: a filter the session holds may be subscribed again (a QoS change) …
    const fourth = await session('gatherer', 'a');
    expect(await subackCodes(fourth, { 'a/0': { qos: 0 } })).toEqual([0]);
    await fourth.endAsync();
    // … and a clean session starts from nothing (aedes wipes the stored filters).
    const clean = await session('gatherer', 'd', true);
    expect((await subackCodes(clean, filters('d', 0, 30))).every((c) => c === 1)).toBe(true);
    await clean.endAsync();
  }, 60_000);
});
