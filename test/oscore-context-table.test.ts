/**
 * The device's OSCORE context table (device/oscore-contexts.ts) on its own: who may push out
 * whom. A post needs only a token, which may be stolen; proving a context needs its Master
 * Secret. So a thief's posts never close a client's proven contexts, and a client whose share is
 * full of its own dead (proven, never used again) contexts is not locked out: its new context
 * waits unproven, and once it proves, the client's least recently used context goes. Proven
 * contexts never fill the table (a quarter of it is kept for posts), so no set of clients holding
 * proven contexts can make the device busy for the others (review, stop 34).
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

  it('one client holds at most its share plus one waiting context, whatever it posts; past the proven limit its least recently used gives way', () => {
    const { t, dropped } = table();
    for (let i = 0; i < 4; i++) postAndProve(t, `a${i}`, 'alice', `alice-token-${i}`);
    for (let i = 0; i < 5; i++) t.install(entry(t, `w${i}`, 'alice', `alice-token-${i}`));
    expect(t.size).toBe(5);
    // Six of the eight slots may hold proven contexts: bob's third proof takes one from alice,
    // the largest holder, her least recently used.
    for (let i = 0; i < 3; i++) postAndProve(t, `b${i}`, 'bob');
    expect(dropped).toEqual(['w0', 'w1', 'w2', 'w3', 'a0']);
    expect(names(t)).toEqual(['a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'w4']);
  });

  it('a table full of proven contexts: a post still finds a slot and retires none; only its proof takes from the largest holder', () => {
    const { t, dropped } = table();
    for (let i = 0; i < 4; i++) postAndProve(t, `a${i}`, 'alice', `alice-token-${i}`);
    for (let i = 0; i < 4; i++) postAndProve(t, `b${i}`, 'bob', `bob-token-${i}`);
    // The proven limit (6 of 8): bob's third proof took alice's oldest (she held the most), his
    // fourth his own oldest (now he did).
    expect(dropped).toEqual(['a0', 'b0']);
    expect(names(t)).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
    // A thief with carol's and alice's tokens (no Master Secrets) posts: never busy, nothing proven goes.
    for (let i = 0; i < 6; i++) t.install(entry(t, `thief${i}`, i % 2 ? 'carol' : 'alice', i % 2 ? 'carol-token' : 'alice-token-2'));
    expect(names(t).filter((n) => !n.startsWith('thief'))).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
    // Carol herself posts and proves: alice and bob hold the most, and a1 is their least recently used.
    const carol = postAndProve(t, 'carol', 'carol', 'carol-token-real');
    expect(dropped.at(-1)).toBe('a1');
    expect(t.lookup(carol.recipientId)?.context).toBe('carol');
    const proven = [...t.entries()].filter((e) => e.proven).map((e) => e.context).sort();
    expect(proven).toEqual(['a2', 'a3', 'b1', 'b2', 'b3', 'carol']);
  });

  it('clients holding one proven context each: a newcomer proving retires the least recently used of all, never busy', () => {
    const { t, dropped } = table();
    const firsts = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].map((n) => postAndProve(t, n, n));
    t.verified(firsts[0]!); // c0 used again: c1 is now the least recently used
    const late = postAndProve(t, 'late', 'late');
    expect(dropped).toEqual(['c1']);
    expect(t.lookup(late.recipientId)?.context).toBe('late');
  });

  it('a one-slot table held by a proven context answers busy to a post', () => {
    const dropped: string[] = [];
    const t = createOscoreContextTable<string>({ provider: { randomBytes: () => Uint8Array.of(0, nextId++ & 0xff) }, maxContexts: 1, maxUnprovenPerToken: 2, tokenRefusal: () => undefined, onDrop: (e) => dropped.push(e.context as string) });
    postAndProve(t, 'a', 'alice');
    expect(errorCode(() => t.install(entry(t, 'b', 'bob')))).toBe(DEVICE_ERR.BUSY);
    expect(dropped).toEqual([]);
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
