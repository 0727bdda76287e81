/**
 * CONNECT checks on worker threads (broker/admission-threads.ts, issue 13): a real broker on a real
 * port with one admission thread, mqtt.js clients. What the thread proved is taken only if it still
 * holds on the loop (revoked since, a floor, expired), the jti and allowances are the loop's, and
 * whatever the thread refuses is decided on the loop with the in-line path's own refusal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIM_MARGIN_S, createBroker, createConnectPassword, startAdmissionThreads, type KeyboundBroker } from '../broker/index.js';
import { encodeProvisioningBundle, publicCoseKey, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { AUDIENCE, connect, createIssuer, inbox, ISSUER, password, refusal, subackCodes } from './support/broker-fixture.js';
import { serveBroker, trustFile } from './support/broker-process.js';
import { stop } from './support/processes.js';

const issuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
const log: string[] = [];
const SENSORS: Array<[string, Array<'pub' | 'sub'>]> = [['sensors/#', ['pub', 'sub']]];

async function untilThreadUp(b: KeyboundBroker): Promise<void> {
  // The thread comes up in the background; until then CONNECTs are checked on the loop.
  for (let i = 0; i < 100; i++) {
    const { token, key } = issuer.token({ scope: SENSORS });
    const before = b.stats.admissionChecks.thread;
    await (await connect(url, `warm-${i}`, password(token, key, `warm-${i}`))).endAsync();
    if (b.stats.admissionChecks.thread > before) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the admission thread never answered');
}

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, admissionThreads: 1, logger: (l) => log.push(l) });
  url = (await broker.listen(0)).url;
  await untilThreadUp(broker);
}, 60_000);
afterAll(async () => broker?.close());

/** Runs `f` and says which side decided the CONNECTs it made. */
async function decided<T>(f: () => Promise<T>): Promise<{ result: T; thread: number; loop: number }> {
  const before = { ...broker.stats.admissionChecks };
  const result = await f();
  const after = broker.stats.admissionChecks;
  return { result, thread: after.thread - before.thread, loop: after.loop - before.loop };
}

describe('CONNECT checked on an admission thread', () => {
  it('admits a new token there, with its scope, and the same token again (cached there)', async () => {
    const { token, key } = issuer.token({ scope: SENSORS });
    const first = await decided(() => connect(url, 'thread-alice', password(token, key, 'thread-alice')));
    expect(first).toMatchObject({ thread: 1, loop: 0 });
    const c = first.result;
    const box = inbox(c);
    await c.subscribeAsync('sensors/t', { qos: 1 });
    await c.publishAsync('sensors/t', 'in scope', { qos: 1 });
    expect((await box.next(1)).map((m) => m.payload.toString())).toEqual(['in scope']);
    // Out of scope is still refused by the loop's hooks, from the scope the thread sent back.
    expect(await subackCodes(c, { 'other/t': { qos: 1 } })).toEqual([128]);
    await c.endAsync();
    const again = await decided(async () => (await connect(url, 'thread-alice', password(token, key, 'thread-alice'))).endAsync());
    expect(again).toMatchObject({ thread: 1, loop: 0 });
  });

  it('a replayed CONNECT is refused: the jti is claimed on the loop, whatever the thread proved', async () => {
    const { token, key } = issuer.token({ scope: SENSORS });
    const pw = password(token, key, 'replayer');
    await (await connect(url, 'replayer', pw)).endAsync();
    const replay = await decided(() => refusal(connect(url, 'replayer', pw)));
    expect(replay.result).toBe(4);
    // The thread's answer was good; the refusal came from the loop's replay store.
    expect(replay.thread).toBe(1);
  });

  it('refuses a stolen token, another audience and a tampered token on the loop, as in line', async () => {
    const { token } = issuer.token({ scope: SENSORS });
    const thief = issuer.token({ scope: SENSORS }).key;
    const stolen = await decided(() => refusal(connect(url, 'thief', password(token, thief, 'thief'))));
    expect(stolen).toMatchObject({ result: 4, thread: 0, loop: 1 });
    const other = issuer.token({ scope: SENSORS, audience: 'broker-2' });
    expect(await decided(() => refusal(connect(url, 'elsewhere', password(other.token, other.key, 'elsewhere'))))).toMatchObject({ result: 5, thread: 0, loop: 1 });
    const good = issuer.token({ scope: SENSORS });
    const tampered = good.token.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(await decided(() => refusal(connect(url, 'tampered', password(tampered, good.key, 'tampered'))))).toMatchObject({ result: 4, thread: 0, loop: 1 });
  });

  it('refuses a token revoked after the thread cached it: the loop checks revocation on every answer', async () => {
    const { token, key } = issuer.token({ scope: SENSORS });
    const admitted = await decided(async () => (await connect(url, 'revokee', password(token, key, 'revokee'))).endAsync());
    expect(admitted.thread).toBe(1);
    await broker.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(token, nativeProvider)));
    // The thread still has it cached and answers yes (counted as checked there); the loop's list says no.
    const after = await decided(() => refusal(connect(url, 'revokee', password(token, key, 'revokee'))));
    expect(after).toMatchObject({ result: 5, thread: 1 });
  });

  it('an expired token is decided on the loop', async () => {
    const { token, key } = issuer.token({ scope: SENSORS, exp: Math.floor(Date.now() / 1000) - 5 });
    expect(await decided(() => refusal(connect(url, 'late', password(token, key, 'late'))))).toMatchObject({ result: 5, thread: 0, loop: 1 });
  });
});

describe('admission threads: lifecycle and options', () => {
  it('a closed pool answers "not checked" at once, so CONNECTs go to the loop', async () => {
    const threads = startAdmissionThreads({ threads: 1, data: { audience: AUDIENCE, trust: issuer.trust }, log: () => {} });
    await threads.close();
    const { token, key } = issuer.token({ scope: SENSORS });
    expect(await threads.check('x', password(token, key, 'x'), 'mqtt-connect')).toBeUndefined();
    expect(threads.counts.loop).toBe(1);
  });

  it('refuses a bad thread count, and threads with an injected clock or provider', async () => {
    await expect(createBroker({ audience: AUDIENCE, trust: issuer.trust, admissionThreads: -1 })).rejects.toThrow(RangeError);
    await expect(createBroker({ audience: AUDIENCE, trust: issuer.trust, admissionThreads: 1.5 })).rejects.toThrow(RangeError);
    await expect(createBroker({ audience: AUDIENCE, trust: issuer.trust, admissionThreads: 1, clock: () => Date.now() / 1000 })).rejects.toThrow(/wall clock/);
  });

  it('with an injected clock, by default every CONNECT is checked on the loop', async () => {
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, clock: () => Date.now() / 1000 });
    try {
      const u = (await b.listen(0)).url;
      const { token, key } = issuer.token({ scope: SENSORS });
      await (await connect(u, 'clocked', password(token, key, 'clocked'))).endAsync();
      expect(b.stats.admissionChecks).toEqual({ thread: 0, loop: 0 });
    } finally {
      await b.close();
    }
  });
});

describe('a proof whose window ends before its jti is surely recorded (review, stop 34)', () => {
  it(`is refused: at least ${CLAIM_MARGIN_S} s of the iat window must be left when the jti is claimed`, { timeout: 20_000 }, async () => {
    // A 4 s window: a proof whose iat (whole seconds) is 3 s back ends within a second from now.
    // Its first use's record would be gone before a replay held up by a thread round trip (or
    // Redis) is claimed.
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, iatWindow: 4, admissionThreads: 0 });
    try {
      const u = (await b.listen(0)).url;
      // Proofs made before the broker started are refused anyway (its replay store is new).
      await new Promise((r) => setTimeout(r, 3500));
      const { token, key } = issuer.token({ scope: SENSORS });
      const madeAt = (ago: number) => Buffer.from(createConnectPassword(token, key, { audience: AUDIENCE, clientId: 'edge', clock: () => Math.floor(Date.now() / 1000) - ago, provider: nativeProvider }));
      expect(await refusal(connect(u, 'edge', madeAt(3)))).toBe(4);
      // With the margin left, the same token is admitted.
      expect(await refusal(connect(u, 'edge', madeAt(0)))).toBe(0);
    } finally {
      await b.close();
    }
  });
});

describe('admission threads as deployed (review, stop 34)', () => {
  it('start when `keybound broker serve` runs from a checkout in another working directory', { timeout: 30_000 }, async () => {
    // The README's first hour runs the linked CLI in an empty directory: the thread's loader must
    // be found from the broker's files, not from the working directory (it failed there, and was
    // started again every second).
    const elsewhere = mkdtempSync(join(tmpdir(), 'kb-cwd-'));
    const b = await serveBroker(trustFile(issuer.trust), ['--admission-threads', '1'], { cwd: elsewhere });
    try {
      for (let i = 0; i < 5; i++) {
        const { token, key } = issuer.token({ scope: SENSORS });
        await (await connect(b.url, `far-${i}`, password(token, key, `far-${i}`))).endAsync();
        await new Promise((r) => setTimeout(r, 400));
      }
      expect(b.stderr).toContain('admitted CONNECT');
      expect(b.stderr).not.toMatch(/admission thread/);
    } finally {
      await stop(b.proc);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('a thread that cannot start', () => {
  it('is started again with growing waits, then given up: every CONNECT is checked on the loop', async () => {
    const lines: string[] = [];
    // No anchors: the thread's trust refuses at load, every time.
    const threads = startAdmissionThreads({ threads: 1, data: { audience: AUDIENCE, trust: [] }, log: (l) => lines.push(l), restartMs: 20 });
    try {
      const until = Date.now() + 15_000;
      while (Date.now() < until && !lines.some((l) => l.includes('could not start'))) await new Promise((r) => setTimeout(r, 50));
      expect(lines.filter((l) => l.includes('an admission thread failed'))).toHaveLength(5);
      expect(lines.filter((l) => l.includes('could not start 5 times in a row'))).toHaveLength(1);
      expect(threads.running).toBe(0);
      const { token, key } = issuer.token({ scope: SENSORS });
      expect(await threads.check('x', password(token, key, 'x'), 'mqtt-connect')).toBeUndefined();
    } finally {
      await threads.close();
    }
  }, 30_000);
});

describe('admission threads with the broker\'s own provisioning bundle (the README\'s deployment)', () => {
  it('checks CONNECTs on the thread with the bundle\'s trust', async () => {
    const bundle = encodeProvisioningBundle({ version: 1, deviceId: AUDIENCE, audience: AUDIENCE, issuer: ISSUER, trustAnchors: [publicCoseKey(issuer.signingKey)] });
    const b = await createBroker({ audience: AUDIENCE, trust: bundle, admissionThreads: 1 });
    try {
      const u = (await b.listen(0)).url;
      let onThread = 0;
      for (let i = 0; i < 50 && onThread === 0; i++) {
        const { token, key } = issuer.token({ scope: SENSORS });
        await (await connect(u, `bundled-${i}`, password(token, key, `bundled-${i}`))).endAsync();
        onThread = b.stats.admissionChecks.thread;
        if (onThread === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(onThread).toBe(1);
    } finally {
      await b.close();
    }
  }, 30_000);
});
