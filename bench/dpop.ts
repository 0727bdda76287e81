/**
 * DPoP proof checks (sender-constraint/ verifyDpopProof: header checks, embedded key import,
 * signature, htm/htu/iat/ath) per second, against raw jose `jwtVerify` of the same proof under an
 * already imported key (the least any verifier must do). Interleaved rounds, median of the round
 * ratios, as bench/cose.ts does; no replay record (a repeated proof would be refused), so the
 * figure is the check itself.
 */
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { accessTokenHash, verifyDpopProof } from '../sender-constraint/index.js';
import { recordFigure } from './figures.js';

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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

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
}
