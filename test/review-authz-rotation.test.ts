/**
 * Adversarial review of signing-key rotation in a scaled-out service (two `keybound authz serve`
 * processes on one data directory and SQLite file, as the issuance budget's tests run them).
 *
 * The attack: the signing key leaks, and the operator rotates it at once (`keepSeconds: 0`) through
 * one instance's admin API. The other instance read its keys at start and kept them in memory: it
 * went on signing with the retired (leaked) key and publishing it at /keys and /jwks.json without
 * an end date, so verifiers fed by that instance kept trusting the thief's forgeries, and did not
 * learn the new key either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyFromMap, decodeCbor, fromBase64Url, toBase64Url, toHex, verifyCwt, type CborMap, type CoseKey, type ParsedHeaders } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { basic, post } from './support/authz-client.js';
import { stop, waitForLine } from './support/processes.js';

const ADMIN = 'review-rotation-admin-token';
const dir = mkdtempSync(join(tmpdir(), 'review-rotation-'));
const procs: ChildProcess[] = [];
const bases: string[] = [];

async function serve(): Promise<string> {
  const p = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dir, '--port', '0', '--issuer', 'https://as.review.example', '--admin-token-file', join(dir, 'admin-token')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  p.stderr!.resume(); // its JSON log: drained, so a full pipe never blocks it
  procs.push(p);
  return (await waitForLine(p, /listening on (\S+)/))[1]!;
}
const admin = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
async function publishedKeys(base: string): Promise<CoseKey[]> {
  return (decodeCbor(new Uint8Array(await (await fetch(`${base}/keys`)).arrayBuffer())) as CborMap[]).map((m) => coseKeyFromMap(m));
}
async function kidOf(token: Uint8Array, keys: CoseKey[]): Promise<string> {
  const byKid = (h: ParsedHeaders) => keys.find((k) => k.kid && h.kid && toHex(k.kid) === toHex(h.kid));
  return toHex(verifyCwt(token, byKid, { audience: 'meter', clock: () => Date.now() / 1000, provider: nativeProvider, allowNoCnf: true }).header.kid!);
}
const token = async (base: string) => {
  const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'meter', scope: 'read' }, 'json', { authorization: basic('portal', 'portal-Vq3xT9kLm2Rw8ZpB4nYc7') });
  expect(r.status, JSON.stringify(r.data)).toBe(200);
  return fromBase64Url(r.data.access_token as string);
};

beforeAll(async () => {
  writeFileSync(join(dir, 'admin-token'), ADMIN, { mode: 0o600 });
  bases.push(await serve());
  bases.push(await serve());
  expect((await admin(bases[0]!, '/admin/audiences', { id: 'meter', scopes: ['read'] })).status).toBe(201);
  expect((await admin(bases[0]!, '/admin/clients', { id: 'portal', secret: 'portal-Vq3xT9kLm2Rw8ZpB4nYc7', audiences: ['meter'], scopes: ['read'], grantTypes: ['client_credentials'] })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  for (const p of procs) await stop(p);
  rmSync(dir, { recursive: true, force: true });
});

describe('a rotated signing key is retired on every instance (review)', () => {
  it('after an emergency rotation at one instance, the other neither signs with nor publishes the old key', async () => {
    const [a, b] = bases as [string, string];
    const oldKid = await kidOf(await token(b), await publishedKeys(b));
    const rot = await admin(a, '/admin/rotate-key', { keepSeconds: 0 });
    expect(rot.status).toBe(201);
    const { kid: newKid } = (await rot.json()) as { kid: string };
    expect(newKid).not.toBe(oldKid);
    // Positive: the instance that rotated is right at once.
    expect((await publishedKeys(a)).map((k) => toHex(k.kid!))).toEqual([newKid]);
    // The other one follows within a second (it re-reads the store's keys at most once a second).
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await publishedKeys(b)).map((k) => toHex(k.kid!))).toEqual([newKid]);
    const jwks = (await (await fetch(`${b}/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual([toBase64Url(Buffer.from(newKid, 'hex'))]);
    expect(await kidOf(await token(b), await publishedKeys(a))).toBe(newKid);
  });
});
