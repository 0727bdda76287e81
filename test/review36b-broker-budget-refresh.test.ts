/**
 * Adversarial review 36b, broker queue budgets (broker/hooks.ts). The budgets are keyed by the
 * token's signed subject (else its key), fixed at CONNECT. A token refresh on ace/authz-info
 * must keep the key, not the subject: a client that binds one key to tokens for two subjects
 * (req_cnf with its own key, for its own grant and a user's) refreshes from one to the other, and
 * the session went on spending the first subject's budgets with the second subject's traffic: the
 * first subject's other clients were then refused toward the device, and the second subject's
 * budget was never spent. The budget holder follows the token the session now holds.
 * A real broker on a real port, real mqtt.js clients and tokens.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../cose/adapters/index.js';
import { createBroker, createConnectPassword, DEVICE_SENDER_SHARES, PURPOSE_REFRESH, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, inbox, now, password, sleep } from './support/broker-fixture.js';

const issuer = createIssuer();
const log: string[] = [];
let broker: KeyboundBroker;
let url: string;
const DEVICE_BURST = 16 * 1024;
const SIZE = 1000;
const SHARE = Math.floor(DEVICE_BURST / DEVICE_SENDER_SHARES / SIZE);
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l), deviceQueueRate: { burst: DEVICE_BURST, perSecond: 0 } });
  url = (await broker.listen(0)).url;
});

afterAll(async () => {
  for (const c of open) c.end(true);
  await broker.close();
});

describe('review 36b: a token refresh and the queue budget holder', () => {
  it('after a refresh to a token of another subject, the session spends that subject\'s share, not the first one\'s', async () => {
    const device = 'tube-refresh';
    const d = issuer.token({ scope: [[`ace/${device}/req`, ['sub']]] });
    const sleeper = await connect(url, device, password(d.token, d.key, device), { clean: false });
    await sleeper.subscribeAsync(`ace/${device}/req`, { qos: 1 });
    await sleeper.endAsync();
    const scope = [[`ace/${device}/req`, ['pub']] as const];
    // One key, a token for subject alice, then a token for subject bob (the same key).
    const first = issuer.token({ scope, sub: 'alice' });
    const c = await connect(url, 'switcher', password(first.token, first.key, 'switcher'));
    open.push(c);
    const second = issuer.token({ scope, sub: 'bob', key: first.key });
    const body = createConnectPassword(second.token, second.key, { audience: AUDIENCE, clientId: 'switcher', clock: now, provider: nativeProvider, purpose: PURPOSE_REFRESH });
    await c.publishAsync('ace/authz-info', Buffer.from(body), { qos: 1 });
    for (let i = 0; i < 50 && !log.some((l) => l.includes('token refreshed for "switcher"')); i++) await sleep(20);
    expect(log.some((l) => l.includes('token refreshed for "switcher"'))).toBe(true);
    // Bob's traffic: a share's worth and more.
    for (let i = 0; i < SHARE + 2; i++) await c.publishAsync(`ace/${device}/req`, Buffer.alloc(SIZE, 1), { qos: 1 });
    // Alice, from another client of hers (another key), still has her share toward the device.
    const alice = issuer.token({ scope, sub: 'alice' });
    const a = await connect(url, 'alice-app', password(alice.token, alice.key, 'alice-app'));
    open.push(a);
    await a.publishAsync(`ace/${device}/req`, Buffer.alloc(SIZE, 2), { qos: 1 });
    const awake = await connect(url, device, password(d.token, d.key, device), { clean: false });
    open.push(awake);
    const box = inbox(awake);
    await box.next(SHARE + 1, 2000).catch(() => undefined);
    await sleep(100);
    expect(box.got.filter((m) => m.payload[0] === 2).length).toBe(1);
    expect(log.some((l) => l.includes('"alice-app"') && l.includes('queue budget'))).toBe(false);
  });
});
