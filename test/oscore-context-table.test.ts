/**
 * The device's OSCORE context table (device/oscore-contexts.ts) on its own: who may push out
 * whom. A post needs only a token, which may be stolen; proving a context needs its Master
 * Secret. So a thief's posts never close a client's proven contexts, and a client whose share is
 * full of its own dead (proven, never used again) contexts is not locked out: its new context
 * waits unproven, and once it proves, the client's least recently used context goes.
 */
import { describe, it, expect } from 'vitest';
import { toHex } from '../cose/index.js';
import { createOscoreContextTable, DEVICE_ERR, type OscoreContextEntry } from '../device/index.js';
import { errorCode } from './support/error-code.js';

const MAX = 8; // a share of 4 per client
let nextId = 1;

function table(dead: Set<string> = new Set()) {
  const dropped: string[] = [];
  const t = createOscoreContextTable<string>({
    provider: { randomBytes: () => Uint8Array.of(0, nextId++ & 0xff) },
    maxContexts: MAX,
    maxUnprovenPerToken: 2,
    tokenRefusal: (h) => (dead.has(toHex(h)) ? DEVICE_ERR.EXPIRED : undefined),
    onDrop: (e) => dropped.push(e.context as string),
  });
  return { t, dropped };
}

let nonce = 0;
function entry(t: ReturnType<typeof table>['t'], name: string, subject: string | undefined, token = `${subject}-token`): OscoreContextEntry<string> {
  const tokenHash = new TextEncoder().encode(token);
  return {
    recipientId: t.allocateRecipientId(Uint8Array.of(0xff)),
    clientRecipientId: Uint8Array.of(0xff),
    tokenHash,
    tokenHashHex: toHex(tokenHash),
    subject,
    nonce1Hex: (nonce++).toString(16).padStart(16, '0'),
    context: name,
    proven: false,
  };
}

/** Posts (install) and then proves (a request verified under it). */
function postAndProve(t: ReturnType<typeof table>['t'], name: string, subject: string | undefined, token?: string): OscoreContextEntry<string> {
  const e = entry(t, name, subject, token);
  t.install(e);
  t.verified(e);
  return e;
}

const names = (t: ReturnType<typeof table>['t']) => [...t.entries()].map((e) => e.context).sort();

describe('OSCORE context table: a client is never locked out by its own dead contexts', () => {
  it('a fifth reboot of the same client: the new context installs unproven, and proving it retires the least recently used', () => {
    const { t, dropped } = table();
    const [a1, a2] = ['a1', 'a2', 'a3', 'a4'].map((n, i) => postAndProve(t, n, 'alice', `alice-token-${i}`));
    // a2 stays in use; a1, a3, a4 are dead (the client lost them rebooting).
    t.verified(a2!);
    const a5 = entry(t, 'a5', 'alice', 'alice-token-4');
    t.install(a5);
    expect(names(t)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(dropped).toEqual([]);
    t.verified(a5);
    // a1 was the least recently used: it goes, a2 (used after it) stays.
    expect(dropped).toEqual(['a1']);
    expect(names(t)).toEqual(['a2', 'a3', 'a4', 'a5']);
    expect(t.lookup(a1!.recipientId)).toBeUndefined();
    expect(t.lookup(a2!.recipientId)?.context).toBe('a2');
  });

  it("a thief posting the client's stolen token (no Master Secret, never proven) closes none of its proven contexts", () => {
    const { t, dropped } = table();
    for (let i = 0; i < 4; i++) postAndProve(t, `a${i}`, 'alice', `alice-token-${i}`);
    for (let i = 0; i < 10; i++) t.install(entry(t, `thief${i}`, 'alice', 'alice-token-0'));
    // Each post replaced the thief's own previous unproven one; alice's four are all there.
    expect(names(t)).toEqual(['a0', 'a1', 'a2', 'a3', 'thief9']);
    expect(dropped).toEqual(['thief0', 'thief1', 'thief2', 'thief3', 'thief4', 'thief5', 'thief6', 'thief7', 'thief8']);
  });

  it('one client holds at most its share plus one waiting context, whatever it posts', () => {
    const { t } = table();
    for (let i = 0; i < 4; i++) postAndProve(t, `a${i}`, 'alice', `alice-token-${i}`);
    for (let i = 0; i < 5; i++) t.install(entry(t, `w${i}`, 'alice', `alice-token-${i}`));
    expect(t.size).toBe(5);
    for (let i = 0; i < 3; i++) postAndProve(t, `b${i}`, 'bob');
    expect(t.size).toBe(8);
  });

  it("another client's proven contexts never give way: a full table of proven contexts answers busy", () => {
    const { t } = table();
    for (let i = 0; i < 4; i++) postAndProve(t, `a${i}`, 'alice', `alice-token-${i}`);
    for (let i = 0; i < 4; i++) postAndProve(t, `b${i}`, 'bob', `bob-token-${i}`);
    expect(errorCode(() => t.install(entry(t, 'carol', 'carol')))).toBe(DEVICE_ERR.BUSY);
    expect(errorCode(() => t.install(entry(t, 'a-new', 'alice', 'alice-token-9')))).toBe(DEVICE_ERR.BUSY);
    expect(t.size).toBe(8);
  });

  it('a context whose token died is dropped at lookup and gives its slot back', () => {
    const dead = new Set<string>();
    const { t } = table(dead);
    const a = postAndProve(t, 'a', 'alice');
    dead.add(a.tokenHashHex);
    expect(errorCode(() => t.lookup(a.recipientId))).toBe(DEVICE_ERR.EXPIRED);
    expect(t.size).toBe(0);
  });

  it('verified() of a context no longer in the table changes nothing', () => {
    const { t } = table();
    const a = postAndProve(t, 'a', 'alice');
    t.dropToken(a.tokenHashHex);
    t.verified(a);
    expect(t.size).toBe(0);
  });

  it('tokens without a subject share no owner: one key holder proving context after context never closes another\'s', () => {
    const { t, dropped } = table();
    const other = postAndProve(t, 'other', undefined, 'no-sub-token-other');
    // The attacker has a token of its own (no sub) and proves a context per reboot, many times.
    for (let i = 0; i < 12; i++) postAndProve(t, `m${i}`, undefined, 'no-sub-token-mallory');
    expect(t.lookup(other.recipientId)?.context).toBe('other');
    expect(dropped).not.toContain('other');
    // Its own contexts retire each other instead: at most its share (4) of them live.
    expect(names(t).filter((n) => n.startsWith('m'))).toEqual(['m10', 'm11', 'm8', 'm9']);
  });
});
