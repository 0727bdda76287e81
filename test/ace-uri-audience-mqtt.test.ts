/**
 * A URI audience (RFC 9200's `coaps://rs.example.com`) through a real broker: its revocation list
 * travels on one topic level, the audience's safe name (cose/audience-id.ts), a device registered
 * under that URI reads it from the retained topic, and lists on any other spelling of the level,
 * or for another audience, are not kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCwt, encodeProvisioningBundle, publicCoseKey, tokenHash, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createResourceServer, DEVICE_ERR, DeviceError, loadProvisioningBundle, memoryStorage } from '../device/index.js';
import { deviceTopics } from '../device/adapters/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, ed25519, inbox, ISSUER, now, password, sleep } from './support/broker-fixture.js';

const RS = 'coaps://rs.example.com';
const issuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
const log: string[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust, logger: (l) => log.push(l) });
  ({ url } = await broker.listen(0));
}, 30_000);

afterAll(async () => {
  await broker?.close();
});

const clientKey: CoseKey = ed25519('ekg');
const rsToken = createCwt(
  { iss: ISSUER, aud: RS, iat: Math.floor(now()), exp: Math.floor(now()) + 3600, cnf: { coseKey: publicCoseKey(clientKey) }, scope: [['/temp', 1]] },
  issuer.signingKey,
  { provider: nativeProvider },
);

function device() {
  const bundle = encodeProvisioningBundle({ version: 1, deviceId: RS, audience: RS, issuer: ISSUER, trustAnchors: [publicCoseKey(issuer.signingKey)] });
  return createResourceServer({ trust: loadProvisioningBundle(bundle, now()), storage: memoryStorage(), clock: now, handler: () => ({ code: 205 }) });
}

function verdict(dev: ReturnType<typeof device>): string {
  try {
    dev.authzInfo({ token: rsToken });
    return 'accepted';
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
}

/** What a device waking now reads on `topic` (retained messages only). */
async function retained(topic: string, id: string): Promise<Buffer[]> {
  const t = issuer.token({ scope: [['x/#', ['sub']]] });
  const client = await connect(url, id, password(t.token, t.key, id));
  const box = inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  await box.next(1, 1000);
  await client.endAsync();
  return box.got.filter((m) => m.retain).map((m) => m.payload);
}

async function publishAs(id: string, topic: string, payload: Uint8Array): Promise<void> {
  const t = issuer.token({ scope: [['x/#', ['pub']]] });
  const client = await connect(url, id, password(t.token, t.key, id));
  await client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain: true });
  await client.endAsync();
}

describe('a URI audience’s revocation list through the broker', () => {
  const topic = deviceTopics(RS).trl;

  it('the device serves the token before any list (the positive case)', () => {
    expect(topic).toBe('ace/trl/coaps:%2F%2Frs.example.com');
    expect(verdict(device())).toBe('accepted');
  });

  it('the service’s list, published for the URI, is retained on its one-level topic and revokes at the device', async () => {
    const list = issuer.revoke(RS, tokenHash(rsToken, nativeProvider));
    await broker.publishRevocationList(RS, list);
    const [kept] = await retained(topic, 'rs-wakes');
    expect(kept && Buffer.from(list).equals(kept)).toBe(true);
    const dev = device();
    dev.applyRevocationList(kept!);
    expect(verdict(dev)).toBe(DEVICE_ERR.REVOKED);
  });

  it('the same list on another spelling of the level (a lower-case escape) is routed nowhere and not retained', async () => {
    const other = 'ace/trl/coaps:%2f%2Frs.example.com';
    await publishAs('spoofer-1', other, issuer.revoke(RS));
    await sleep(200);
    expect(await retained(other, 'reader-1')).toEqual([]);
  });

  it('a list signed for another audience is refused on the URI audience’s topic; the retained list stays', async () => {
    const before = await retained(topic, 'reader-2');
    await publishAs('spoofer-2', topic, issuer.revoke('tube-123'));
    await sleep(200);
    expect(log.some((l) => l.includes('"spoofer-2"') && l.includes('revocation list refused'))).toBe(true);
    expect(await retained(topic, 'reader-3')).toEqual(before);
  });
});
