/**
 * Tokens issued per second over HTTP (client_credentials, JSON, req_cnf, Sign1) with 50 concurrent
 * clients, as a ratio of the raw native Ed25519 sign rate measured in the same run. Two client
 * authentications are measured: client_secret_basic (scrypt on every request, deliberately slow)
 * and a COSE_Sign1 client assertion (the device path: one Ed25519 verify, one replay-cache write).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, createCwt, encodeCbor, toBase64Url, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { CLIENT_ASSERTION_TYPE, createAuthzServer, registerAudience, registerClient, SqliteStore } from '../authz/index.js';

const CONCURRENCY = 50;
const DURATION_MS = 3000;

export async function benchAuthz(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'authz-bench-'));
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'] });
  // One client per worker, with the same secret; scrypt runs on every request, as in production.
  const devPair = nativeProvider.generateKeyPair('Ed25519');
  const devKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: devPair.x, d: devPair.d };
  for (let i = 0; i < CONCURRENCY; i++) {
    await registerClient(store, { id: `c${i}`, secret: 'bench-secret', audiences: ['dev'], scopes: ['read'] });
    await registerClient(store, { id: `d${i}`, publicKey: devKey, audiences: ['dev'], scopes: ['read'] });
  }
  const server = await createAuthzServer({ store, dataDir: dir });
  const { url } = await server.listen(0);
  const pair = nativeProvider.generateKeyPair('Ed25519');
  const pop: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: pair.x };
  const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(pop)]])));

  // Raw native sign rate, same process, same run.
  const signKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d };
  const msg = new Uint8Array(200);
  let signs = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    nativeProvider.sign(signKey, undefined, msg);
    signs++;
  }
  const signRate = signs / ((performance.now() - t0) / 1000);

  let counter = 0;
  const run = async (mode: 'secret' | 'assertion') => {
    let issued = 0;
    let failed = 0;
    const end = performance.now() + DURATION_MS;
    const worker = async (i: number) => {
      while (performance.now() < end) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const body: Record<string, string> = { grant_type: 'client_credentials', audience: 'dev', req_cnf: reqCnf };
        if (mode === 'secret') headers.authorization = `Basic ${Buffer.from(`c${i}:bench-secret`).toString('base64')}`;
        else {
          const now = Math.floor(Date.now() / 1000);
          const a = createCwt({ iss: `d${i}`, sub: `d${i}`, aud: url, exp: now + 60, cti: utf8(`b${counter++}`) }, devKey, { provider: nativeProvider });
          body.client_assertion_type = CLIENT_ASSERTION_TYPE;
          body.client_assertion = toBase64Url(a);
        }
        const res = await fetch(`${url}/token`, { method: 'POST', headers, body: JSON.stringify(body) });
        await res.arrayBuffer();
        if (res.status === 200) issued++;
        else failed++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => worker(i)));
    const rate = issued / ((performance.now() - start) / 1000);
    console.log(`authz (${mode}): ${rate.toFixed(0)} tokens/s over HTTP, ${CONCURRENCY} concurrent clients (${failed} failed); ratio to raw sign ${(rate / signRate).toFixed(3)}`);
  };
  console.log(`authz: raw native Ed25519 sign ${signRate.toFixed(0)} ops/s`);
  await run('assertion');
  await run('secret');
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) await benchAuthz();
