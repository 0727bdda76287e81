/**
 * gateway/: requests per second through the gateway (DPoP-bound JWT access token + a fresh DPoP
 * proof each request) vs the same requests straight to the upstream, measured in the same run,
 * interleaved rounds, median of the round ratios (goal >= 0.5x, issue 11).
 *
 * As deployed: three processes. The upstream is a bare node:http server in a child process; the
 * gateway is `keybound gateway serve` (bin/keybound.js, the CLI users run) in another, trusting
 * the token's signer through a saved JWKS (--jwks, the same jose path as the service's
 * /jwks.json); this process is the load generator (node:http keep-alive pool, lighter than fetch,
 * so that the client is not what is measured). The token is an RFC 9068 at+jwt; the proofs are
 * made before each timed round, so the figure is the gateway's cost (proof check, token check,
 * replay record, proxying), not the client's signing.
 *
 * KEYBOUND_BENCH_PROFILE=<dir> writes a V8 CPU profile of the gateway process there (--cpu-prof).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxyServer } from 'http-proxy-3';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { accessTokenHash } from '../sender-constraint/index.js';
import { recordFigure } from './figures.js';
import { median } from './interleaved.js';

const REQUESTS = 3000;
/** Enough for the JIT of all four processes: with 300 the first straight round ran at a third of the rest. */
const WARMUP = 3000;
const CONCURRENCY = 16;
const ROUNDS = 3;
const AUDIENCE = 'https://api.example/records';
const PUBLIC = 'http://gateway.bench';
const ROLE_ENV = 'KEYBOUND_GATEWAY_BENCH_ROLE';
const TARGET_ENV = 'KEYBOUND_GATEWAY_BENCH_TARGET';
const CLI = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));

/**
 * The child servers: the upstream answers a small JSON document and nothing else; the bare proxy
 * is http-proxy-3 (the gateway's own proxy library) with a keep-alive agent and no checks at all,
 * so the gateway's figure can be read against what proxying alone costs on this machine.
 */
function serveChild(role: string, target: string | undefined): void {
  const proxy = target ? createProxyServer({ target, xfwd: false, agent: new Agent({ keepAlive: true }) }) : undefined;
  const server =
    role === 'bare-proxy'
      ? createServer((req, res) => proxy!.web(req, res))
      : createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"temperature":21.5}'));
  server.listen(0, '127.0.0.1', () => process.send!({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  process.once('disconnect', () => server.close(() => process.exit(0)));
}

function startChild(role: 'upstream' | 'bare-proxy', target?: string): Promise<{ child: ChildProcess; url: string }> {
  const env = { ...process.env, [ROLE_ENV]: role, ...(target ? { [TARGET_ENV]: target } : {}) };
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: (m as { url: string }).url }));
    child.once('exit', (code) => reject(new Error(`bench ${role} exited (${code})`)));
  });
}

/** `keybound gateway serve` as a user starts it; resolves with its URL from its one stdout line. */
function startGateway(upstream: string, jwksFile: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, 'gateway', 'serve', '--upstream', upstream, '--audience', AUDIENCE, '--jwks', jwksFile, '--port', '0', '--public-url', PUBLIC, '--require-scope', 'read', '--log-level', 'warn'];
  const profile = process.env.KEYBOUND_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KEYBOUND_BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`keybound gateway serve exited (${code}): ${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  if (child.connected) child.disconnect();
  else child.kill('SIGTERM');
  await gone;
}

/** CPU seconds a process has used (all its threads), from /proc; undefined where there is no /proc. */
function cpuSeconds(pid: number | undefined): number | undefined {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return undefined;
  // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
  const fields = readFileSync(file, 'utf8').slice(readFileSync(file, 'utf8').lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends every request with CONCURRENCY in flight; returns requests/s (all must answer 200). */
async function load(url: string, headers: Array<Record<string, string>>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < headers.length) {
        const status = await get(url, headers[next++]!);
        if (status !== 200) throw new Error(`bench request answered ${status}`);
      }
    }),
  );
  return (headers.length * 1000) / (performance.now() - start);
}

export async function benchGateway(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
  const children: ChildProcess[] = [];
  try {
    const service = await generateKeyPair('ES256', { extractable: true });
    const serviceJwk = { ...(await exportJWK(service.publicKey)), kid: 'svc-1', alg: 'ES256', use: 'sig' } as JWK;
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [serviceJwk] }));
    const client = await generateKeyPair('ES256', { extractable: true });
    const clientJwk = await exportJWK(client.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ client_id: 'bench', scope: 'read', cnf: { jkt: await calculateJwkThumbprint(clientJwk, 'sha256') } })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'svc-1' })
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .setJti(randomUUID())
      .sign(service.privateKey);
    const ath = accessTokenHash(token);
    const proofs = (n: number): Promise<Array<Record<string, string>>> =>
      Promise.all(
        Array.from({ length: n }, async () => ({
          authorization: `DPoP ${token}`,
          dpop: await new SignJWT({ htm: 'GET', htu: `${PUBLIC}/temperature`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath })
            .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
            .sign(client.privateKey),
        })),
      );
    const plain = (n: number) => Array.from({ length: n }, () => ({}));

    const upstream = await startChild('upstream');
    children.push(upstream.child);
    const bareProxy = await startChild('bare-proxy', upstream.url);
    children.push(bareProxy.child);
    const gateway = await startGateway(upstream.url, jwksFile);
    children.push(gateway.child);

    await load(`${upstream.url}/temperature`, plain(WARMUP));
    await load(`${bareProxy.url}/temperature`, plain(WARMUP));
    await load(`${gateway.url}/temperature`, await proofs(WARMUP));
    const rounds = { straight: [] as number[], bare: [] as number[], through: [] as number[], ratio: [] as number[], ofBare: [] as number[] };
    // CPU per request of each server process during the rounds through the gateway: what the
    // gateway costs beside what the upstream costs, whatever else the machine is doing.
    const cpu = { gateway: 0, upstream: 0, bare: 0 };
    const cpuDuring = async (pid: number | undefined, run: () => Promise<number>): Promise<{ rate: number; cpu: number }> => {
      const before = cpuSeconds(pid);
      const rate = await run();
      const after = cpuSeconds(pid);
      return { rate, cpu: before !== undefined && after !== undefined ? after - before : 0 };
    };
    for (let i = 0; i < ROUNDS; i++) {
      const s = await load(`${upstream.url}/temperature`, plain(REQUESTS));
      const bare = await cpuDuring(bareProxy.child.pid, () => load(`${bareProxy.url}/temperature`, plain(REQUESTS)));
      const headers = await proofs(REQUESTS);
      const u0 = cpuSeconds(upstream.child.pid);
      const g = await cpuDuring(gateway.child.pid, () => load(`${gateway.url}/temperature`, headers));
      const u1 = cpuSeconds(upstream.child.pid);
      cpu.gateway += g.cpu;
      cpu.bare += bare.cpu;
      cpu.upstream += u0 !== undefined && u1 !== undefined ? u1 - u0 : 0;
      rounds.straight.push(s);
      rounds.bare.push(bare.rate);
      rounds.through.push(g.rate);
      rounds.ratio.push(g.rate / s);
      rounds.ofBare.push(g.rate / bare.rate);
    }
    const ratio = median(rounds.ratio);
    const ofBare = median(rounds.ofBare);
    const all = (xs: number[]) => `[${xs.map((x) => x.toFixed(2)).join(', ')}]`;
    const f = recordFigure({ name: 'gateway.requests_per_s.dpop', value: Math.round(median(rounds.through)), unit: 'requests/s', baseline: Math.round(median(rounds.straight)), ratio: Number(ratio.toFixed(3)), goal: 'ratio >= 0.5', met: ratio >= 0.5 });
    const b = recordFigure({ name: 'gateway.requests_per_s.dpop_vs_bare_proxy', value: f.value, unit: 'requests/s', baseline: Math.round(median(rounds.bare)), ratio: Number(ofBare.toFixed(3)) });
    console.log(`gateway, 4 processes (load generator, keybound gateway serve, bare http-proxy-3 proxy, upstream), ${CONCURRENCY} in flight, ${REQUESTS} requests a round, ${ROUNDS} rounds:`);
    console.log(`gateway straight to the upstream                  ${String(f.baseline).padStart(6)} /s  [${rounds.straight.map((x) => x.toFixed(0)).join(", ")}]`);
    console.log(`gateway bare proxy (http-proxy-3, no checks)      ${String(b.baseline).padStart(6)} /s  ${(median(rounds.bare) / median(rounds.straight)).toFixed(2)}x straight: the ceiling of any proxy here`);
    console.log(`gateway keybound gateway, DPoP token + proof      ${String(f.value).padStart(6)} /s  ${ratio.toFixed(2)}x straight, median of round ratios ${all(rounds.ratio)} (goal >= 0.5x: ${f.met ? 'met' : 'NOT met'}); ${ofBare.toFixed(2)}x the bare proxy`);
    if (cpu.gateway > 0) {
      const perRequest = (seconds: number) => Math.round((seconds * 1e6) / (ROUNDS * REQUESTS));
      recordFigure({ name: 'gateway.cpu_us_per_request', value: perRequest(cpu.gateway), unit: 'µs CPU/request', baseline: perRequest(cpu.bare), ratio: Number((cpu.gateway / cpu.bare).toFixed(2)) });
      console.log(`gateway CPU per request: keybound gateway ${perRequest(cpu.gateway)} µs, bare proxy ${perRequest(cpu.bare)} µs, upstream ${perRequest(cpu.upstream)} µs`);
    }
  } finally {
    agent.destroy();
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[ROLE_ENV]) serveChild(process.env[ROLE_ENV], process.env[TARGET_ENV]);
else if (import.meta.url === `file://${process.argv[1]}`) await benchGateway();
