/**
 * The service records each token under its hash over the token's canonical bytes (cose/token-hash.ts),
 * the name revocation lists, devices and the broker use. For a tagged EdDSA Sign1 or Mac0 it skips
 * the re-encoding (issue 13: those are emitted canonical); every other form takes it. Attack: a
 * recorded hash that differs from what a device computes lets a revoked token through unlisted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, toBase64Url, toHex, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';

const dirs: string[] = [];
const servers: AuthzServer[] = [];
const stores: SqliteStore[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const s of stores) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function service(signingAlgorithm: 'EdDSA' | 'ES256') {
  const dir = mkdtempSync(join(tmpdir(), 'kb-issued-hash-'));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  stores.push(store);
  await registerAudience(store, nativeProvider, { id: 'signed', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'maced', scopes: ['read'], protection: 'mac0' });
  await registerAudience(store, nativeProvider, { id: 'sealed', scopes: ['read'], protection: 'encrypt0' });
  await registerAudience(store, nativeProvider, { id: 'bare', scopes: ['read'], untaggedTokens: true });
  await registerAudience(store, nativeProvider, { id: 'ref', scopes: ['read'], referenceTokens: true });
  await registerClient(store, { id: 'app', secret: 'issued-hash-secret-0123456789', audiences: ['signed', 'maced', 'sealed', 'bare', 'ref'], scopes: ['read'] });
  const server = await createAuthzServer({ store, dataDir: dir, issuer: 'https://as.example', signingAlgorithm });
  servers.push(server);
  return { store, url: (await server.listen(0)).url };
}

const pop = nativeProvider.generateKeyPair('Ed25519');
const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap({ kty: 'OKP', crv: 'Ed25519', x: pop.x })]])));

describe('issued token records: the hash over canonical bytes, whatever the form', () => {
  for (const alg of ['EdDSA', 'ES256'] as const) {
    it(`${alg}: Sign1, Mac0, Encrypt0, untagged and reference tokens`, async () => {
      const { store, url } = await service(alg);
      for (const audience of ['signed', 'maced', 'sealed', 'bare', 'ref']) {
        const res = await fetch(`${url}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('app:issued-hash-secret-0123456789').toString('base64')}` },
          body: JSON.stringify({ grant_type: 'client_credentials', audience, req_cnf: reqCnf }),
        });
        expect(res.status, audience).toBe(200);
        const token = fromBase64Url(((await res.json()) as { access_token: string }).access_token);
        const recorded = store.db.prepare('SELECT token_hash FROM tokens WHERE audience = ?').pluck().all(audience);
        expect(recorded, audience).toEqual([toHex(tokenHash(token, nativeProvider))]);
      }
    });
  }
});
