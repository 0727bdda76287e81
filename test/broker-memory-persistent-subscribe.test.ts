/**
 * A persistent session (clean=false) on a broker of one process, with aedes' own in-memory
 * persistence (the default, no Redis). aedes 1.2 writes a clean=false SUBSCRIBE's whole list once
 * PER FILTER and stores the filters the broker refused; the broker wraps its persistence
 * (broker/subscription-writes.ts) so each granted filter is written once and a refused one never.
 * Unwrapped, one SUBSCRIBE of 6,000 filters from any admitted client held every other client for
 * 22 s (adversarial review, stop 34), and a refused `#` came back at the next reconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import aedesMemoryPersistence from 'aedes-persistence';
import { createBroker, MAX_SUBSCRIPTIONS_PER_CONNECTION, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, password, subackCodes } from './support/broker-fixture.js';

const issuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
const SCOPE: Array<[string, Array<'pub' | 'sub'>]> = [['sensors/a/#', ['pub', 'sub']]];
/** Filters that reached aedes' own store (counted on its prototype, below the broker's wrapper). */
let written = 0;
type Adds = { addSubscriptions(c: object, subs: object[]): Promise<unknown> };
let owner: Adds;
let original: Adds['addSubscriptions'];

beforeAll(async () => {
  owner = (aedesMemoryPersistence as unknown as () => object)() as Adds;
  while (!Object.prototype.hasOwnProperty.call(owner, 'addSubscriptions')) owner = Object.getPrototypeOf(owner) as Adds;
  original = owner.addSubscriptions;
  owner.addSubscriptions = function (this: unknown, c: object, subs: object[]) {
    written += subs.length;
    return original.call(this, c, subs);
  };
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust });
  url = (await broker.listen(0)).url;
}, 30_000);
afterAll(async () => {
  if (original) owner.addSubscriptions = original;
  await broker?.close();
});

/** The filters the persistence holds for a client id (what a reconnect restores). */
async function stored(clientId: string): Promise<string[]> {
  const persistence = (broker.aedes as unknown as { persistence: unknown }).persistence as { subscriptionsByClient(c: { id: string }): Promise<Array<{ topic: string }> | null> };
  return ((await persistence.subscriptionsByClient({ id: clientId })) ?? []).map((s) => s.topic).sort();
}

describe('persistent subscriptions on the in-memory broker', () => {
  const { key } = issuer.token({ scope: SCOPE });
  const session = async (clientId: string) => {
    const { token } = issuer.token({ scope: SCOPE, key });
    return connect(url, clientId, password(token, key, clientId), { clean: false });
  };

  it('stores only the granted filters of a SUBSCRIBE, so a refused one is not restored at reconnect', async () => {
    const client = await session('sleeper-1');
    expect(await subackCodes(client, { 'sensors/a/t': { qos: 1 }, '#': { qos: 1 }, 'sensors/b/t': { qos: 1 } })).toEqual([1, 128, 128]);
    await client.endAsync();
    expect(await stored('sleeper-1')).toEqual(['sensors/a/t']);
    const again = await session('sleeper-1');
    expect(await stored('sleeper-1')).toEqual(['sensors/a/t']);
    await again.endAsync();
  });

  it('writes each filter of a large SUBSCRIBE once, not once per filter of the packet', async () => {
    // As many as one connection may hold (broker/hooks.ts MAX_SUBSCRIPTIONS_PER_CONNECTION).
    const n = MAX_SUBSCRIPTIONS_PER_CONNECTION;
    const filters = Object.fromEntries(Array.from({ length: n }, (_, i) => [`sensors/a/${i}`, { qos: 1 as const }]));
    const client = await session('many-filters');
    const before = written;
    const codes = await subackCodes(client, filters);
    expect(codes).toHaveLength(n);
    expect(codes.every((c) => c === 1)).toBe(true);
    // Unwrapped: n calls of n filters each (1,000,000 here).
    expect(written - before).toBe(n);
    expect(await stored('many-filters')).toHaveLength(n);
    await client.endAsync();
  }, 60_000);
});
