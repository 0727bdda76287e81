/**
 * The service remembers a client's verified secret (authz/secret-cache.ts) so that scrypt runs
 * once per client, not per token: the bench's cached path. What that cache must never do is
 * outlive the secret: re-registering the client with a new secret, or deleting it, from another
 * connection to the same database (as `keybound authz register-client` from another process
 * does), takes effect at the next request although the old secret is warm in the cache.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { nativeProvider } from '../cose/adapters/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-secret-rotation-'));
const file = join(dir, 'authz.sqlite');
const OLD = 'old-secret-3b9f1c77a0d24e6e';
const NEW = 'new-secret-8e2d5a41c9f07b13';
let store: SqliteStore;
let server: AuthzServer;
let base = '';

const client = (secret: string) => ({ id: 'meter', secret, audiences: ['grid'], scopes: ['read'], grantTypes: ['client_credentials' as const] });

async function token(secret: string): Promise<number> {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`meter:${secret}`).toString('base64')}` },
    body: JSON.stringify({ grant_type: 'client_credentials', audience: 'grid' }),
  });
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  store = new SqliteStore(file);
  await registerAudience(store, nativeProvider, { id: 'grid', scopes: ['read'] });
  await registerClient(store, client(OLD));
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
});

afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a cached client secret', () => {
  it('does not survive re-registration with a new secret, nor deletion, made by another connection', async () => {
    // Warm: the second request is served from the cache (scrypt ran once).
    expect(await token(OLD)).toBe(200);
    expect(await token(OLD)).toBe(200);
    const other = new SqliteStore(file);
    await registerClient(other, client(NEW));
    expect(await token(OLD)).toBe(401);
    expect(await token(NEW)).toBe(200);
    expect(await token(NEW)).toBe(200);
    expect(await other.deleteClient('meter')).toBe(true);
    other.close();
    expect(await token(NEW)).toBe(401);
  });
});
