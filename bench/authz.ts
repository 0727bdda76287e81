/**
 * Tokens issued per second over HTTP (client_credentials, JSON, req_cnf, Sign1 CWT) with 50
 * concurrent clients, as a ratio of the raw native Ed25519 sign rate measured in the same run.
 *
 * The service runs in a child process so that the load generator (50 fetch clients) does not
 * share its event loop; assertions are made before the clock starts, so the figure is the
 * server's, not the client's signing. Three client authentications are measured:
 * - a COSE_Sign1 client assertion (the device path: one Ed25519 verify and one replay-cache write);
 * - client_secret_basic with the server's secret cache warm (scrypt once per client, then an HMAC);
 * - client_secret_basic with the cache off (scrypt, ~30 ms of CPU, on every request: the bound
 *   is the CPU count, by design of scrypt).
 * Each issuance also writes the issued-token record (SQLite, WAL, synchronous=NORMAL).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coseKeyToMap, createCwt, encodeCbor, fromHex, toBase64Url, toHex, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { CLIENT_ASSERTION_TYPE, createAuthzServer, registerAudience, registerClient, SqliteStore } from '../authz/index.js';

const CONCURRENCY = 50;
/** Requests per measured run (after WARMUP requests that are not counted). */
const REQUESTS = 4000;
const SCRYPT_REQUESTS = 200;
const WARMUP = 500;
const ROLE_ENV = 'KEYBOUND_AUTHZ_BENCH_SERVER';

interface Setup {
  dir: string;
  devX: string;
}
interface Ready {
  url: string;
  uncachedUrl: string;
}

/** The child: one store, two servers on it (secret cache on and off). */
async function serve(setup: Setup): Promise<void> {
  const store = new SqliteStore(join(setup.dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'] });
  const devKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: fromHex(setup.devX) };
  for (let i = 0; i < CONCURRENCY; i++) {
    await registerClient(store, { id: `c${i}`, secret: `bench-secret-${i}`, audiences: ['dev'], scopes: ['read'] });
    await registerClient(store, { id: `d${i}`, publicKey: devKey, audiences: ['dev'], scopes: ['read'] });
  }
  const server = await createAuthzServer({ store, dataDir: setup.dir, issuer: 'bench-as' });
  const uncached = await createAuthzServer({ store, dataDir: setup.dir, issuer: 'bench-as', cacheClientSecrets: false });
  const ready: Ready = { url: (await server.listen(0)).url, uncachedUrl: (await uncached.listen(0)).url };
  process.send!(ready);
  process.once('disconnect', async () => {
    await server.close();
    await uncached.close();
    store.close();
    process.exit(0);
  });
}

function startChild(setup: Setup): Promise<{ child: ChildProcess; ready: Ready }> {
  // KEYBOUND_BENCH_PROFILE=<dir> writes a V8 CPU profile of the server process there.
  const profile = process.env.KEYBOUND_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KEYBOUND_BENCH_PROFILE}`] : [];
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx', ...profile], env: { ...process.env, [ROLE_ENV]: '1' } });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ready: m as Ready }));
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
    child.send(setup);
  });
}

/** One keep-alive connection per client, as a real client pool would hold. */
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** POST with node:http (lighter than fetch, so the load generator is not what is measured). */
function postToken(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/token`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `requests` with CONCURRENCY workers; returns tokens/s and failures. */
async function load(url: string, requests: Array<{ headers: Record<string, string>; body: string }>): Promise<{ rate: number; failed: number }> {
  let next = 0;
  let issued = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        if ((await postToken(url, r.headers, r.body)) === 200) issued++;
        else failed++;
      }
    }),
  );
  return { rate: issued / ((performance.now() - start) / 1000), failed };
}

export async function benchAuthz(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'authz-bench-'));
  const devPair = nativeProvider.generateKeyPair('Ed25519');
  const devKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: devPair.x, d: devPair.d };
  const { child, ready } = await startChild({ dir, devX: toHex(devPair.x) });
  try {
    const popPair = nativeProvider.generateKeyPair('Ed25519');
    const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap({ kty: 'OKP', crv: 'Ed25519', x: popPair.x })]])));
    const base = { grant_type: 'client_credentials', audience: 'dev', req_cnf: reqCnf };

    // Raw native sign rate, this run, one core.
    const signKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: popPair.x, d: popPair.d };
    const msg = new Uint8Array(200);
    let signs = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) {
      nativeProvider.sign(signKey, undefined, msg);
      signs++;
    }
    const signRate = signs / ((performance.now() - t0) / 1000);

    let cti = 0;
    const now = Math.floor(Date.now() / 1000);
    const assertions = (n: number) =>
      Array.from({ length: n }, (_, k) => {
        const id = `d${k % CONCURRENCY}`;
        const a = createCwt({ iss: id, sub: id, aud: 'bench-as', exp: now + 240, iat: now, cti: utf8(`b${cti++}`) }, devKey, { provider: nativeProvider });
        return { headers: {}, body: JSON.stringify({ ...base, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(a) }) };
      });
    const secrets = (n: number) =>
      Array.from({ length: n }, (_, k) => {
        const i = k % CONCURRENCY;
        return { headers: { authorization: `Basic ${Buffer.from(`c${i}:bench-secret-${i}`).toString('base64')}` }, body: JSON.stringify(base) };
      });

    await load(ready.url, assertions(WARMUP));
    const assertion = await load(ready.url, assertions(REQUESTS));
    await load(ready.url, secrets(WARMUP)); // also fills the secret cache: scrypt once per client
    const cached = await load(ready.url, secrets(REQUESTS));
    const scrypt = await load(ready.uncachedUrl, secrets(SCRYPT_REQUESTS));

    const line = (name: string, r: { rate: number; failed: number }) =>
      console.log(`authz ${name.padEnd(34)} ${r.rate.toFixed(0).padStart(6)} tokens/s  ratio to raw sign ${(r.rate / signRate).toFixed(4)}${r.failed ? `  (${r.failed} failed)` : ''}`);
    console.log(`authz raw native Ed25519 sign (1 core)     ${signRate.toFixed(0).padStart(6)} ops/s`);
    console.log(`authz over HTTP, ${CONCURRENCY} concurrent clients, server in a child process:`);
    line('client assertion (COSE_Sign1)', assertion);
    line('client_secret_basic, cache warm', cached);
    line('client_secret_basic, scrypt every time', scrypt);
  } finally {
    agent.destroy();
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[ROLE_ENV]) {
  process.once('message', (m) => void serve(m as Setup));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await benchAuthz();
}
