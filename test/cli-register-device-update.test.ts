/**
 * `authz register-device` on a registered device updates it (its keys stay: a provisioned device
 * holds them). It said "registered device" either way, so an operator re-running a README block
 * with other scopes did not see that the device's earlier scopes, which a client was registered
 * for, were gone (walkthrough, stop 36). It now says "updated" and warns of the scopes dropped.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/index.js';
import { SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'keybound-register-device-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

async function audience(id: string) {
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  try {
    return await store.getAudience(id);
  } finally {
    store.close();
  }
}

describe('keybound authz register-device on a registered device', () => {
  it('says it updated the device, keeps its keys, and warns of the scopes it no longer serves', async () => {
    const first = io();
    expect(await main(['authz', 'register-device', 'tube-123', '--data-dir', dir, '--init', '--scope', 'read_result'], first.io)).toBe(0);
    expect(first.out.stdout).toBe('registered device tube-123\n');
    const keys = await audience('tube-123');

    const again = io();
    expect(await main(['authz', 'register-device', 'tube-123', '--data-dir', dir, '--scope', '[["/result",1]]'], again.io)).toBe(0);
    expect(again.out.stdout).toMatch(/^updated device tube-123 /);
    expect(again.out.stderr).toContain("no longer serves 'read_result'");
    const after = await audience('tube-123');
    expect(after!.macKey).toEqual(keys!.macKey);
    expect(after!.encKey).toEqual(keys!.encKey);

    // Same scopes again (or none given): an update, and nothing dropped to warn of.
    const same = io();
    expect(await main(['authz', 'register-device', 'tube-123', '--data-dir', dir, '--clockless'], same.io)).toBe(0);
    expect(same.out.stdout).toMatch(/^updated device tube-123 /);
    expect(same.out.stderr).toBe('');
  });
});
