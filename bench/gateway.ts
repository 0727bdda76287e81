/**
 * gateway/: requests per second through the gateway (DPoP-bound JWT access token + a fresh DPoP
 * proof each request, replay record in process) vs the same requests straight to the upstream,
 * measured in the same run, interleaved rounds, median ratio (goal >= 0.5x, issue 11). The token
 * is an RFC 9068 at+jwt signed here with a key the gateway trusts through a local JWKS (the same
 * jose path as the service's /jwks.json); proofs are made before each timed round, so the figure
 * is the gateway's cost (token + proof checks, proxying), not the client's signing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createGateway } from '../gateway/index.js';
import { accessTokenHash } from '../sender-constraint/index.js';
import { recordFigure } from './figures.js';

const REQUESTS = 1500;
const CONCURRENCY = 16;
const ROUNDS = 3;
const AUDIENCE = 'https://api.example/records';
const PUBLIC = 'http://gateway.bench';

async function run(url: string, headers: Array<Record<string, string>>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < headers.length) {
        const h = headers[next++]!;
        const r = await fetch(url, { headers: h });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`bench request answered ${r.status}`);
      }
    }),
  );
  return (headers.length * 1000) / (performance.now() - start);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;

export async function benchGateway(): Promise<void> {
  const upstream = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"temperature":21.5}'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const service = await generateKeyPair('ES256', { extractable: true });
  const serviceJwk = { ...(await exportJWK(service.publicKey)), kid: 'svc-1', alg: 'ES256' } as JWK;
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
  const gateway = createGateway({ upstream: upstreamUrl, audience: AUDIENCE, keys: createLocalJWKSet({ keys: [serviceJwk] }), publicUrl: PUBLIC, requiredScope: ['read'] });
  const { port } = await gateway.listen(0);
  const ath = accessTokenHash(token);
  const proofs = async (): Promise<Array<Record<string, string>>> =>
    Promise.all(
      Array.from({ length: REQUESTS }, async () => ({
        authorization: `DPoP ${token}`,
        dpop: await new SignJWT({ htm: 'GET', htu: `${PUBLIC}/temperature`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
          .sign(client.privateKey),
      })),
    );
  try {
    await run(`${upstreamUrl}/temperature`, Array.from({ length: 200 }, () => ({})));
    await run(`http://127.0.0.1:${port}/temperature`, await proofs());
    const through: number[] = [];
    const straight: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const headers = await proofs();
      const g = await run(`http://127.0.0.1:${port}/temperature`, headers);
      const s = await run(`${upstreamUrl}/temperature`, Array.from({ length: REQUESTS }, () => ({})));
      through.push(g);
      straight.push(s);
      ratios.push(g / s);
    }
    const ratio = median(ratios);
    recordFigure({ name: 'gateway.requests_per_s.dpop', value: Math.round(median(through)), unit: 'requests/s', baseline: Math.round(median(straight)), ratio: Number(ratio.toFixed(3)), goal: 'ratio >= 0.5', met: ratio >= 0.5 });
    console.log(`requests/s, ${CONCURRENCY} in flight: through the gateway with DPoP ${Math.round(median(through))}/s   straight to the upstream ${Math.round(median(straight))}/s   ratio ${ratio.toFixed(2)}x (goal >= 0.5x)`);
  } finally {
    await gateway.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
}
