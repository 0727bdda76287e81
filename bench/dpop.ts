/**
 * DPoP proof checks (sender-constraint/ verifyDpopProof: header checks, embedded key import,
 * signature, htm/htu/iat/ath) per second, against raw jose `jwtVerify` of the same proof under an
 * already imported key (the least any verifier must do). Interleaved rounds, median of the round
 * ratios, as bench/cose.ts does; no replay record (a repeated proof would be refused), so the
 * figure is the check itself.
 */
import { EmbeddedJWK, SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { accessTokenHash, verifyDpopProof } from '../sender-constraint/index.js';
import { recordFigure } from './figures.js';
import { median } from './interleaved.js';

const ROUND_MS = 1000;
const ROUNDS = 3;
const WARMUP_MS = 300;
const URL_ = 'https://api.example/records/7';
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.e30.sig'; // only hashed (ath)

async function opsPerSecond(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 8; i++) await fn();
    n += 8;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (n * 1000) / elapsed;
}

async function compare(ours: () => Promise<unknown>, raw: () => Promise<unknown>): Promise<{ ours: number; raw: number; ratio: number }> {
  await opsPerSecond(ours, WARMUP_MS);
  await opsPerSecond(raw, WARMUP_MS);
  const o: number[] = [];
  const r: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const x = await opsPerSecond(ours, ROUND_MS);
    const y = await opsPerSecond(raw, ROUND_MS);
    o.push(x);
    r.push(y);
    ratios.push(x / y);
  }
  return { ours: median(o), raw: median(r), ratio: median(ratios) };
}

async function proofFor(alg: 'ES256' | 'EdDSA'): Promise<{ proof: string; publicKey: CryptoKey; now: number }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const now = Math.floor(Date.now() / 1000);
  const proof = await new SignJWT({ jti: 'bench-1', htm: 'GET', htu: URL_, iat: now, ath: accessTokenHash(ACCESS_TOKEN) })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .sign(privateKey);
  return { proof, publicKey, now };
}

export async function benchDpop(): Promise<void> {
  console.log('DPoP proof checks/s (verifyDpopProof) vs raw jose jwtVerify of the same proof, key already imported');
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const { proof, publicKey, now } = await proofFor(alg);
    const check = { method: 'GET', url: URL_, accessToken: ACCESS_TOKEN, now };
    const { ours, raw, ratio } = await compare(
      () => verifyDpopProof(proof, check),
      () => jwtVerify(proof, publicKey, { typ: 'dpop+jwt', algorithms: [alg], currentDate: new Date(now * 1000) }),
    );
    recordFigure({ name: `dpop.proof_checks_per_s.${alg}`, value: Math.round(ours), unit: 'checks/s', baseline: Math.round(raw), ratio: Number(ratio.toFixed(3)) });
    console.log(`  ${alg.padEnd(6)} ours ${Math.round(ours).toString().padStart(7)}/s   raw jwtVerify ${Math.round(raw).toString().padStart(7)}/s   ratio ${ratio.toFixed(2)}x`);
  }
  await firstProofs();
}

/**
 * A key seen for the first time (no import cached): our check vs jose's own way to verify a proof
 * under its embedded key (jwtVerify with EmbeddedJWK), each over proofs by as many fresh keys.
 */
async function firstProofs(): Promise<void> {
  const KEYS = 150;
  const made = await Promise.all(Array.from({ length: 2 * KEYS }, () => proofFor('ES256')));
  const ours = made.slice(0, KEYS);
  const raw = made.slice(KEYS);
  let start = performance.now();
  for (const p of ours) await verifyDpopProof(p.proof, { method: 'GET', url: URL_, accessToken: ACCESS_TOKEN, now: p.now });
  const oursRate = (KEYS * 1000) / (performance.now() - start);
  start = performance.now();
  for (const p of raw) await jwtVerify(p.proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'], currentDate: new Date(p.now * 1000) });
  const rawRate = (KEYS * 1000) / (performance.now() - start);
  const ratio = oursRate / rawRate;
  recordFigure({ name: 'dpop.proof_checks_per_s.ES256_new_key', value: Math.round(oursRate), unit: 'checks/s', baseline: Math.round(rawRate), ratio: Number(ratio.toFixed(3)) });
  console.log(`  ES256 first proof of a new key: ours ${Math.round(oursRate)}/s   jose jwtVerify(EmbeddedJWK) ${Math.round(rawRate)}/s   ratio ${ratio.toFixed(2)}x`);
}
