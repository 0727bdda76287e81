/**
 * Finding 9, service half (issue 9): issuance is rate-limited per client id, counted in the store.
 * The attack: one client bursts /token in parallel, split over two service instances that share
 * one SQLite file, to mint more than its budget; only the budget is issued, the rest get 429
 * temporarily_unavailable, and another client is unaffected. Requests that fail spend nothing, so
 * nobody can exhaust a client's budget with requests that do not yield a token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, DEFAULT_ISSUANCE_LIMIT, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-issuance-'));
const LIMIT = { tokens: 5, windowSeconds: 60 };
let now = 1_800_000_000;
const clock = () => now;
const stores: SqliteStore[] = [];
const servers: AuthzServer[] = [];
const bases: string[] = [];
const burst = { authorization: basic('burst', 'burst-secret') };
const calm = { authorization: basic('calm', 'calm-secret') };
const ask = (base: string, auth: Record<string, string>, scope = 'read') => post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg', scope }, 'json', auth);

beforeAll(async () => {
  // Two instances of the service on one database, as a scaled-out deployment runs them.
  for (let i = 0; i < 2; i++) stores.push(new SqliteStore(join(dir, 'authz.sqlite')));
  await registerAudience(stores[0]!, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(stores[0]!, { id: 'burst', secret: 'burst-secret', audiences: ['ekg'], scopes: ['read'] });
  await registerClient(stores[0]!, { id: 'calm', secret: 'calm-secret', audiences: ['ekg'], scopes: ['read'] });
  for (const store of stores) {
    const server = await createAuthzServer({ store, dataDir: dir, clock, issuanceLimit: LIMIT });
    servers.push(server);
    bases.push((await server.listen(0)).url);
  }
});
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const s of stores) s.close();
});

describe('issuance is limited per client id (issue 9)', () => {
  it('failed requests and bad credentials spend nothing of the budget', async () => {
    for (let i = 0; i < LIMIT.tokens * 2; i++) expect(errorOf(await ask(bases[i % 2]!, burst, 'write'))).toBe('invalid_scope');
    for (let i = 0; i <= LIMIT.tokens; i++) expect(errorOf(await ask(bases[0]!, { authorization: basic('burst', 'guess') }))).toBe('invalid_client');
  });

  it('a parallel burst over two instances gets exactly the budget; the rest 429 temporarily_unavailable', async () => {
    const replies = await Promise.all(Array.from({ length: 24 }, (_, i) => ask(bases[i % 2]!, burst)));
    const ok = replies.filter((r) => r.status === 200);
    const limited = replies.filter((r) => r.status === 429);
    expect(ok).toHaveLength(LIMIT.tokens);
    expect(limited).toHaveLength(24 - LIMIT.tokens);
    for (const r of limited) expect(errorOf(r)).toBe('temporarily_unavailable');
    // Still limited for the rest of the window, on either instance.
    expect((await ask(bases[0]!, burst)).status).toBe(429);
    expect((await ask(bases[1]!, burst)).status).toBe(429);
  });

  it('another client is unaffected', async () => {
    for (let i = 0; i < LIMIT.tokens; i++) expect((await ask(bases[i % 2]!, calm)).status).toBe(200);
  });

  it('the budget comes back when the window passes', async () => {
    now += LIMIT.windowSeconds;
    expect((await ask(bases[1]!, burst)).status).toBe(200);
  });

  it('refuses a limit it cannot keep, and defaults to a documented one', async () => {
    await expect(createAuthzServer({ store: stores[0]!, dataDir: dir, clock, issuanceLimit: { tokens: 0, windowSeconds: 60 } })).rejects.toThrow(RangeError);
    await expect(createAuthzServer({ store: stores[0]!, dataDir: dir, clock, issuanceLimit: { tokens: 5, windowSeconds: 86_400 } })).rejects.toThrow(RangeError);
    expect(DEFAULT_ISSUANCE_LIMIT).toEqual({ tokens: 300, windowSeconds: 60 });
  });
});
