/**
 * mintAccessToken (cose/access-token.ts): the one issuance the service, the simulator and the
 * tests' issuers share. What it puts in a token, as a verifier reads it back, with the inputs
 * it refuses next to the ones it takes.
 */
import { describe, expect, it } from 'vitest';
import {
  ALG,
  CLAIM_CNONCE,
  exiCti,
  mintAccessToken,
  openEncryptedCoseKey,
  parseExiCti,
  portableProvider,
  verifyCwt,
  type AccessTokenInput,
  type CborValue,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { secretKey, signingKey } from './support/keys.js';
import { errorCode } from './support/error-code.js';

const NOW = 1_800_000_000;
const clock = () => NOW + 0.7;
const AUD = 'tube-123';
const as = signingKey('Ed25519', 'as-1');
const client = signingKey('P-256', 'client-1');
const audienceKey = { ...secretKey(16, 'tube-enc'), alg: ALG.AES_CCM_16_64_128 };
const base: AccessTokenInput = { issuer: 'https://as.example', audience: AUD, subject: 'ekg-app', scope: [['/temp', 1]], lifetime: 3600, cnf: { coseKey: client.priv } };

describe('mintAccessToken', () => {
  for (const provider of [portableProvider, nativeProvider]) {
    it(`makes a Sign1 CWT with exp = iat + lifetime and a 16-byte cti, bound to the client's public key (${provider.name})`, () => {
      const { token, claims } = mintAccessToken(base, { key: as.priv, clock, provider });
      const v = verifyCwt(token, as.pub, { audience: AUD, clock, provider });
      expect(v.claims).toMatchObject({ iss: 'https://as.example', sub: 'ekg-app', aud: AUD, iat: NOW, exp: NOW + 3600, scope: [['/temp', 1]] });
      expect(v.claims.cti).toHaveLength(16);
      expect(v.cnf).toEqual({ coseKey: client.pub }); // d(-4) never leaves the issuer
      expect(v.claims).toEqual(claims);
    });
  }

  it('makes its cti of the issue time in ms and 80 random bits: issue order is cti order, and one millisecond gives different ctis', () => {
    // iat given: only the cti reads the clock, so that a clock out of range reaches it.
    const ms = (t: number) => {
      const { claims } = mintAccessToken({ ...base, iat: NOW }, { key: as.priv, clock: () => t, provider: portableProvider });
      return claims.cti!;
    };
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    // 1_800_000_000.7 s = 1_800_000_000_700 ms = 0x01a3185c52bc, big-endian in the first 6 bytes.
    expect(hex(ms(NOW + 0.7).subarray(0, 6))).toBe('01a3185c52bc');
    const sameMs = Array.from({ length: 64 }, () => hex(ms(NOW + 0.7)));
    expect(new Set(sameMs).size).toBe(64);
    expect(new Set(sameMs.map((c) => c.slice(12))).size).toBe(64); // the random part alone differs
    // Later issues sort after earlier ones, byte by byte (as the store's TEXT hex key sorts them).
    const times = [NOW, NOW + 0.001, NOW + 0.999, NOW + 1, NOW + 86_400, NOW + 10 * 365 * 86_400];
    const ctis = times.map((t) => hex(ms(t)));
    expect([...ctis].sort()).toEqual(ctis);
    // A clock out of range (a test's, a broken host's) still gives a 16-byte cti, never a throw.
    for (const t of [-5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) expect(ms(t)).toHaveLength(16);
    expect(hex(ms(-5).subarray(0, 6))).toBe('000000000000');
    expect(hex(ms(2 ** 60).subarray(0, 6))).toBe('ffffffffffff');
  });

  it('takes a cti given to it as it is', () => {
    const cti = new Uint8Array([1, 2, 3]);
    expect(mintAccessToken({ ...base, cti }, { key: as.priv, clock, provider: portableProvider }).claims.cti).toEqual(cti);
  });

  it('for a clock-less audience: exi = lifetime, no exp, and the cti of the audience sequence', () => {
    const { token } = mintAccessToken({ ...base, exiSequence: 7n }, { key: as.priv, clock, provider: portableProvider });
    const { claims } = verifyCwt(token, as.pub, { audience: AUD, clock });
    expect(claims.exp).toBeUndefined();
    expect(claims.exi).toBe(3600);
    expect(claims.cti).toEqual(exiCti(AUD, 7));
    expect(parseExiCti(claims.cti!, AUD)).toBe(7);
  });

  it('makes a symmetric PoP key sealed for the audience and hands it back; Mac0 under the shared key', () => {
    const mac = { ...secretKey(32, 'tube-mac'), alg: ALG.HMAC_256_64 };
    const { token, popKey } = mintAccessToken({ ...base, cnf: { sealFor: audienceKey } }, { key: mac, alg: ALG.HMAC_256_64, clock, provider: portableProvider });
    const v = verifyCwt(token, mac, { audience: AUD, clock });
    expect(v.protection.type).toBe('Mac0');
    expect(popKey).toMatchObject({ kty: 'Symmetric' });
    expect(popKey!.k).toHaveLength(32);
    expect(openEncryptedCoseKey(v.cnf as { encryptedCoseKey: CborValue }, audienceKey)).toEqual(popKey);
  });

  it('wraps in an Encrypt0 when asked, and carries the cnonce and extra claims by label', () => {
    const cnonce = portableProvider.randomBytes(8);
    const { token } = mintAccessToken(
      { ...base, cnonce, extra: new Map([[-65601, true]]) },
      { key: as.priv, encryptTo: audienceKey, encryptAlg: ALG.AES_CCM_16_64_128, clock, provider: portableProvider },
    );
    expect(errorCode(() => verifyCwt(token, as.pub, { audience: AUD, clock }))).toBe('ERR_COSE_NO_KEY');
    const v = verifyCwt(token, as.pub, { audience: AUD, clock, decryptionKeys: audienceKey });
    expect(v.protection).toEqual({ type: 'Sign1', encrypted: true });
    expect(v.claims.other?.get(CLAIM_CNONCE)).toEqual(cnonce);
    expect(v.claims.other?.get(-65601)).toBe(true);
  });

  it('refuses a lifetime that is not a positive integer, a cti next to an exi sequence, and an empty or oversized cnonce', () => {
    const keys = { key: as.priv, clock, provider: portableProvider };
    expect(errorCode(() => mintAccessToken({ ...base, lifetime: 0 }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, lifetime: 1.5 }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, exiSequence: 1, cti: new Uint8Array(4) }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, cnonce: new Uint8Array(0) }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, cnonce: new Uint8Array(65) }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, cnf: { sealFor: audienceKey, popKey: client.priv } }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, exiSequence: -1 }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, exiSequence: 2n ** 64n }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
    expect(errorCode(() => mintAccessToken({ ...base, audience: 'a\u0000b', exiSequence: 1 }, keys))).toBe('ERR_CWT_CLAIM_INVALID');
  });
});
