import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  BROKER_ERR,
  DEFAULT_SUBJECT_CONNECT_RATE,
  DEFAULT_CONNECT_RATE,
  brokerTrust,
  createAdmission,
  createBroker,
  createTokenVerifier,
  memoryJtiStore,
  type KeyboundBroker,
} from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, ed25519, password, refusal } from './support/broker-fixture.js';
import { stop } from './support/processes.js';
import { startRedis } from './support/redis-server.js';

// Finding 9 of issue 9: CONNECT allowances per key, not per token. 100 tokens bound to one key
// each had their own allowance, so one key holder filled the proof replay store and every other
// client got CONNACK 3. Now a fresh proof draws on its key's allowance (RFC 9679 thumbprint) and
// its client id's, whatever the token.
const issuer = createIssuer();
const SCOPE = [['x/#', ['pub']]] as const;
const TOKENS = 100;

/** CONNACK codes of one CONNECT per token, all at once, each under its own client id (so only the key is shared). */
async function flood(urls: string[], tag: string, key = ed25519('flooder')): Promise<{ codes: number[]; seconds: number }> {
  const tokens = Array.from({ length: TOKENS }, (_, i) => issuer.token({ scope: SCOPE.map(([f, a]) => [f, [...a]] as const), key, sub: `${tag}-${i}` }).token);
  expect(new Set(tokens.map((t) => Buffer.from(t).toString('hex'))).size).toBe(TOKENS); // distinct tokens, one key
  const started = Date.now();
  const codes = await Promise.all(tokens.map((t, i) => refusal(connect(urls[i % urls.length]!, `${tag}-${i}`, password(t, key, `${tag}-${i}`)))));
  return { codes, seconds: (Date.now() - started) / 1000 };
}

/** The most fresh proofs one key may get in `seconds`, at one broker or at a whole cluster on Redis. */
const budget = (seconds: number) => DEFAULT_CONNECT_RATE.burst + Math.ceil(seconds * DEFAULT_CONNECT_RATE.perSecond) + 1;

async function honest(url: string, id: string): Promise<number> {
  const { token, key } = issuer.token({ scope: [['x/#', ['pub']]] });
  return refusal(connect(url, id, password(token, key, id)));
}

describe('one key with 100 tokens floods CONNECTs at a broker on a port', () => {
  let broker: KeyboundBroker;
  let url: string;
  const log: string[] = [];
  beforeAll(async () => {
    broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
    url = (await broker.listen(0)).url;
  });
  afterAll(() => broker?.close());

  it('the flooder gets CONNACK 3 past its key\'s budget; another client with its own key still connects (CONNACK 0)', async () => {
    const key = ed25519('flooder');
    const { codes, seconds } = await flood([url], 'flood', key);
    const admitted = codes.filter((c) => c === 0).length;
    expect(codes.filter((c) => c !== 0 && c !== 3)).toEqual([]);
    expect(admitted).toBeGreaterThanOrEqual(DEFAULT_CONNECT_RATE.burst);
    expect(admitted).toBeLessThanOrEqual(budget(seconds));
    expect(log.some((l) => /refused CONNECT "flood-\d+": busy \(too many fresh proofs for this key/.test(l))).toBe(true);
    expect(await honest(url, 'bystander')).toBe(0);
    // Still flooding: still refused, and still nobody else is.
    const again = await flood([url], 'flood2', key);
    expect(again.codes.filter((c) => c === 0).length).toBeLessThanOrEqual(Math.ceil((seconds + again.seconds) * DEFAULT_CONNECT_RATE.perSecond) + 1);
    expect(await honest(url, 'bystander-2')).toBe(0);
  }, 60_000);
});

describe('the same across two brokers sharing Redis (one allowance per key for the cluster, charged with the jti)', () => {
  let redis: ChildProcess;
  const brokers: KeyboundBroker[] = [];
  const urls: string[] = [];
  beforeAll(async () => {
    const r = await startRedis();
    redis = r.process;
    for (let i = 0; i < 2; i++) {
      const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, redis: r.url });
      brokers.push(b);
      urls.push((await b.listen(0)).url);
    }
  }, 60_000);
  afterAll(async () => {
    for (const b of brokers) await b.close();
    await stop(redis);
  });

  it('the flooder, spread over both brokers, gets one budget in all and CONNACK 3 at each past it; others connect at both', async () => {
    const { codes, seconds } = await flood(urls, 'cflood');
    const admitted = codes.filter((c) => c === 0).length;
    expect(codes.filter((c) => c !== 0 && c !== 3)).toEqual([]);
    for (let b = 0; b < 2; b++) expect(codes.filter((c, i) => i % 2 === b && c === 3).length, `broker ${b}`).toBeGreaterThan(0);
    expect(admitted).toBeGreaterThanOrEqual(DEFAULT_CONNECT_RATE.burst);
    expect(admitted).toBeLessThanOrEqual(budget(seconds));
    expect(await honest(urls[0]!, 'c-bystander-a')).toBe(0);
    expect(await honest(urls[1]!, 'c-bystander-b')).toBe(0);
  }, 60_000);
});

describe('the allowance per client, the token subject (admission, no socket)', () => {
  let t = Date.now() / 1000;
  const at = () => t;
  const make = (subjectRate?: { burst: number; perSecond: number }) => {
    t = Date.now() / 1000; // the fixture's proofs carry the wall clock's iat
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: t }), clock: at, provider: nativeProvider, isRevoked: () => false });
    return createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(at), clock: at, provider: nativeProvider, ...(subjectRate ? { subjectRate } : {}) });
  };
  const fresh = (sub?: string) => issuer.token({ scope: [['x/#', ['pub']]], ...(sub !== undefined ? { sub } : {}) });

  it('bounds a client that makes a new key for every token (busy), not other clients, and refills with time', async () => {
    const admit = make({ burst: 3, perSecond: 1 });
    for (let i = 0; i < 3; i++) {
      const { token, key } = fresh('many-keys');
      await admit(`mk-${i}`, 'ace', password(token, key, `mk-${i}`));
    }
    const { token, key } = fresh('many-keys');
    await expect(admit('mk-3', 'ace', password(token, key, 'mk-3'))).rejects.toMatchObject({ code: BROKER_ERR.BUSY, returnCode: 3 });
    // The refused key was not charged: another client's token for it connects at once.
    const other = issuer.token({ scope: [['x/#', ['pub']]], key, sub: 'someone-else' });
    await expect(admit('se-0', 'ace', password(other.token, key, 'se-0'))).resolves.toMatchObject({ reference: false });
    t += 1.5;
    const next = fresh('many-keys');
    await expect(admit('mk-4', 'ace', password(next.token, next.key, 'mk-4'))).resolves.toMatchObject({ reference: false });
  });

  it("other clients' keys flooding under a victim's MQTT client id cannot lock the victim out", async () => {
    const admit = make();
    // Any admitted key holder may sign proofs for any client id: three attackers try to exhaust 'victim'.
    for (let a = 0; a < 3; a++) {
      const key = ed25519(`attacker-${a}`);
      const { token } = issuer.token({ scope: [['x/#', ['pub']]], key, sub: `attacker-${a}` });
      let refused = 0;
      for (let i = 0; i < DEFAULT_SUBJECT_CONNECT_RATE.burst; i++) {
        await admit('victim', 'ace', password(token, key, 'victim')).catch((e: { code?: string }) => {
          expect(e.code).toBe(BROKER_ERR.BUSY);
          refused++;
        });
      }
      expect(refused).toBe(DEFAULT_SUBJECT_CONNECT_RATE.burst - DEFAULT_CONNECT_RATE.burst);
    }
    const victim = fresh('victim');
    await expect(admit('victim', 'ace', password(victim.token, victim.key, 'victim'))).resolves.toMatchObject({ reference: false });
  });

  it('a replay store with room for 50 proofs: one key with 100 tokens takes its 20, and the bystander still gets in', async () => {
    t = Date.now() / 1000;
    const verifier = createTokenVerifier({ audience: AUDIENCE, trust: brokerTrust(issuer.trust, { audience: AUDIENCE, now: t }), clock: at, provider: nativeProvider, isRevoked: () => false });
    const admit = createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(at, 50), clock: at, provider: nativeProvider });
    const key = ed25519('flooder');
    const results = await Promise.allSettled(
      Array.from({ length: TOKENS }, (_, i) => admit(`s-${i}`, 'ace', password(issuer.token({ scope: [['x/#', ['pub']]], key, sub: `s-${i}` }).token, key, `s-${i}`))),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(DEFAULT_CONNECT_RATE.burst);
    expect(results.every((r) => r.status === 'fulfilled' || (r.reason as { code?: string }).code === BROKER_ERR.BUSY)).toBe(true);
    const bystander = fresh();
    await expect(admit('bystander', 'ace', password(bystander.token, bystander.key, 'bystander'))).resolves.toMatchObject({ reference: false });
  });

  it('counts per key, not per token: a second token for the same key shares the first one\'s allowance', async () => {
    const admit = make();
    const key = ed25519('k');
    for (let i = 0; i < DEFAULT_CONNECT_RATE.burst; i++) {
      const { token } = issuer.token({ scope: [['x/#', ['pub']]], key, sub: `k-${i}` });
      await admit(`k-${i}`, 'ace', password(token, key, `k-${i}`));
    }
    const { token } = issuer.token({ scope: [['x/#', ['pub']]], key, sub: 'k-last' });
    await expect(admit('k-last', 'ace', password(token, key, 'k-last'))).rejects.toMatchObject({ code: BROKER_ERR.BUSY, message: /this key/ });
  });
});
