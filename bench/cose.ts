/**
 * Size of a typical PoP access token as CWT vs JWT (same claims), and the cost of our Sign1 and
 * CWT verification over the raw Ed25519 verify of the same bytes, in both providers.
 * Fair measurement: bench/interleaved.ts (warm-up, interleaved rounds, median of the ratios).
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { SignJWT, importJWK, type JWK } from 'jose';
import { Decoder, Encoder } from 'cbor-x';
import {
  ALG,
  createCwt,
  decodeCbor,
  encodeCbor,
  portableProvider,
  publicCoseKey,
  sigStructure,
  toHex,
  utf8,
  verifyCwt,
  verifySign1,
  type CborValue,
  type CoseKey,
  type CryptoProvider,
  coseKeyToJwk,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { compare, median, opsPerSecond, ROUNDS, WARMUP_MS } from './interleaved.js';
import { jwtEquivalentBytes } from '../firmware-sim/index.js';
import { recordFigure } from './figures.js';

const NOW = 1_764_000_000;

/**
 * The smallest useful token (issue 13): a Mac0 CWT (HMAC 256/64, the audience's shared key named
 * by a 1-byte kid) whose PoP key is named by kid too (RFC 8747 §3.4: a key both sides already
 * hold, so no COSE_Key travels), with short claims. It must fit one IEEE 802.15.4 frame: 127
 * bytes of PHY payload, of which about 100 are left after the MAC header, 6LoWPAN and CoAP.
 */
const FRAME_BUDGET = 100;
function smallestToken(): void {
  const audienceKey: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: utf8('a'), alg: ALG.HMAC_256_64 };
  const claims = { iss: 'as', aud: 't1', exp: NOW + 3600, cti: portableProvider.randomBytes(4), cnf: { kid: utf8('k1') }, scope: 'r' };
  const token = createCwt(claims, audienceKey);
  // Real, not a byte count of a guess: it verifies as the device would (audience, key by kid, expiry).
  const { claims: back } = verifyCwt(token, audienceKey, { audience: 't1', clock: () => NOW });
  if (!back.cnf || !('kid' in back.cnf)) throw new Error('bench: the smallest token lost its cnf kid');
  const jwt = jwtEquivalentBytes(token);
  console.log(`\nSmallest token (Mac0 HMAC 256/64, cnf by kid, claims iss/aud/exp/cti(4 B)/scope):`);
  console.log(`  CWT  ${String(token.length).padStart(4)} bytes (goal <= ${FRAME_BUDGET}: one IEEE 802.15.4 frame ${token.length <= FRAME_BUDGET ? 'met' : 'NOT met'})`);
  console.log(`  JWT  ${String(jwt).padStart(4)} bytes (same claims, HS256: a JWS has no truncated HMAC)`);
  recordFigure({ name: 'cose.token_bytes.smallest_mac0', value: token.length, unit: 'bytes', baseline: jwt, ratio: token.length / jwt, goal: `<= ${FRAME_BUDGET} bytes`, met: token.length <= FRAME_BUDGET });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);

export async function benchCose(): Promise<void> {
  const asPair = portableProvider.generateKeyPair('Ed25519');
  const clientPair = portableProvider.generateKeyPair('Ed25519');
  const asKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', kid: utf8('as-1'), x: asPair.x, d: asPair.d };
  const asPublic = publicCoseKey(asKey);
  const clientKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: clientPair.x };
  const cti = portableProvider.randomBytes(8);
  const claims = {
    iss: 'https://as.example',
    sub: 'ekg-abc',
    aud: 'tube-123',
    exp: NOW + 3600,
    iat: NOW,
    cti,
    cnf: { coseKey: clientKey },
    scope: 'read_result',
  };
  const cwt = createCwt(claims, asKey);
  const jwt = await new SignJWT({
    iss: claims.iss,
    sub: claims.sub,
    aud: claims.aud,
    exp: claims.exp,
    iat: claims.iat,
    jti: toHex(cti), // 16 hex characters
    cnf: { jwk: coseKeyToJwk(clientKey) },
    scope: claims.scope,
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'as-1' })
    .sign(await importJWK(coseKeyToJwk(asKey) as JWK, 'EdDSA'));
  const jwtBytes = utf8(jwt).length;
  console.log('Token size (PoP access token, same claims, EdDSA, kid "as-1"):');
  console.log(`  CWT  ${String(cwt.length).padStart(4)} bytes (tag 61(18(...)), deterministic CBOR)`);
  console.log(`  JWT  ${String(jwtBytes).padStart(4)} bytes (compact JWS, jose)`);
  console.log(`  CWT/JWT = ${((100 * cwt.length) / jwtBytes).toFixed(1)}%`);
  recordFigure({ name: 'cose.token_bytes.sign1_cose_key', value: cwt.length, unit: 'bytes', baseline: jwtBytes, ratio: cwt.length / jwtBytes });
  smallestToken();

  // The exact bytes the signature covers, for the raw primitive.
  const arr = (decodeCbor(cwt) as { value: { value: CborValue[] } }).value.value;
  const [prot, , payload, signature] = arr as [Uint8Array, unknown, Uint8Array, Uint8Array];
  const tbs = sigStructure('Signature1', prot, undefined, new Uint8Array(0), payload);
  const opts = { anyAudience: true, clock: () => NOW };
  const check = (ok: boolean) => {
    if (!ok) throw new Error('bench: raw verify failed');
  };

  const providers: Array<{ provider: CryptoProvider; rawName: string; raw: () => void }> = [];
  providers.push({
    provider: portableProvider,
    rawName: '@noble/curves ed25519.verify',
    raw: () => check(ed25519.verify(signature, tbs, asPublic.x!, { zip215: false })),
  });
  const keyObject: KeyObject = createPublicKey({ key: coseKeyToJwk(asPublic) as JWK & { kty: string }, format: 'jwk' });
  providers.push({
    provider: nativeProvider,
    rawName: 'node:crypto verify (KeyObject)',
    raw: () => check(nodeVerify(null, tbs, keyObject, signature)),
  });

  // Our own cost, apart from the primitive: the same calls with a provider whose verify answers
  // at once. Steadier on a shared machine than a ratio, and it says what the ratio can be.
  const instant: CryptoProvider = { ...portableProvider, name: 'instant', verify: () => true };
  const usPerOp = (fn: () => void) => 1e6 / median([0, 1, 2].map(() => opsPerSecond(fn, 500)));
  opsPerSecond(() => verifyCwt(cwt, asPublic, { ...opts, provider: instant }), WARMUP_MS);
  const overhead = {
    sign1: usPerOp(() => verifySign1(cwt, asPublic, { provider: instant })),
    cwt: usPerOp(() => verifyCwt(cwt, asPublic, { ...opts, provider: instant })),
  };
  console.log(`\nOur overhead per verify, crypto excluded: verifySign1 ${overhead.sign1.toFixed(1)} µs, verifyCwt ${overhead.cwt.toFixed(1)} µs`);

  for (const { provider, rawName, raw } of providers) {
    console.log(`\nVerify, ${provider.name} provider (raw: ${rawName}):`);
    const sign1 = compare(() => verifySign1(cwt, asPublic, { provider }), raw);
    const cwtRun = compare(() => verifyCwt(cwt, asPublic, { ...opts, provider }), raw);
    console.log(`  raw primitive  ${fmt(sign1.b)} ops/s`);
    console.log(`  verifySign1    ${fmt(sign1.a)} ops/s   ratio ${sign1.ratio.toFixed(3)}x raw (median of ${ROUNDS} interleaved rounds)`);
    console.log(`  verifyCwt      ${fmt(cwtRun.a)} ops/s   ratio ${cwtRun.ratio.toFixed(3)}x raw`);
    recordFigure({ name: `cose.verify_sign1_per_s.${provider.name}`, value: Math.round(sign1.a), unit: 'ops/s', baseline: Math.round(sign1.b), ratio: sign1.ratio });
    recordFigure({ name: `cose.verify_cwt_per_s.${provider.name}`, value: Math.round(cwtRun.a), unit: 'ops/s', baseline: Math.round(sign1.b), ratio: cwtRun.ratio });
    const rawUs = 1e6 / sign1.b;
    console.log(
      `  from the overhead: ${rawUs.toFixed(0)} µs raw → expected ratio Sign1 ${(rawUs / (rawUs + overhead.sign1)).toFixed(3)}x, CWT ${(rawUs / (rawUs + overhead.cwt)).toFixed(3)}x`,
    );
  }
  cborCodec(payload);
}

/**
 * Our CBOR writer (deterministic, RFC 8949 §4.2.1) and strict reader on a token's claims, against
 * cbor-x, which neither sorts map keys nor checks anything: what our rules cost (issue 13).
 */
function cborCodec(claimsBytes: Uint8Array): void {
  const claimsMap = decodeCbor(claimsBytes);
  const peerEncoder = new Encoder({ useRecords: false, mapsAsObjects: false, useTag259ForMaps: false, tagUint8Array: false, variableMapSize: true } as never);
  const peerDecoder = new Decoder({ mapsAsObjects: false, useRecords: false } as never);
  const enc = compare(() => encodeCbor(claimsMap), () => peerEncoder.encode(claimsMap), 500);
  const dec = compare(() => decodeCbor(claimsBytes), () => peerDecoder.decode(claimsBytes), 500);
  console.log(`\nCBOR, a token's claims (${claimsBytes.length} bytes), against cbor-x:`);
  console.log(`  encode  ${fmt(enc.a)} ops/s   cbor-x ${fmt(enc.b)} ops/s   ratio ${enc.ratio.toFixed(3)}x (sorted keys, shortest heads)`);
  console.log(`  decode  ${fmt(dec.a)} ops/s   cbor-x ${fmt(dec.b)} ops/s   ratio ${dec.ratio.toFixed(3)}x (strict walk first, byte strings copied out)`);
  recordFigure({ name: 'cose.cbor_encode_per_s.claims', value: Math.round(enc.a), unit: 'ops/s', baseline: Math.round(enc.b), ratio: enc.ratio });
  recordFigure({ name: 'cose.cbor_decode_per_s.claims', value: Math.round(dec.a), unit: 'ops/s', baseline: Math.round(dec.b), ratio: dec.ratio });
}
