/**
 * CWTs (RFC 8392): the RFC's own examples, our tokens through both providers, and every claim
 * check with its refusal next to it.
 */
import { describe, expect, it } from 'vitest';
import {
  ALG,
  claimsFromMap,
  createCwt,
  createEncrypt0,
  createMac0,
  decodeCbor,
  decryptEncrypt0,
  encodeCbor,
  fromHex,
  openEncryptedCoseKey,
  portableProvider,
  publicCoseKey,
  sealCoseKey,
  Tag,
  toHex,
  utf8,
  verifyCwt,
  type CborValue,
  type CwtClaims,
  type VerifyCwtOptions,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { vectorFiles, vectorKey } from './support/vectors.js';
import { secretKey, signingKey } from './support/keys.js';
import { errorCode } from './support/error-code.js';

const NOW = 1_800_000_000;
const clock = () => NOW;


describe('RFC 8392 Appendix A examples (COSE WG CWT files)', () => {
  const files = Object.fromEntries(vectorFiles('CWT').map((v) => [v.file.split('/')[1], v.json]));
  const a3 = files['A_3.json'];
  const esKey = vectorKey(a3.input.sign0.key);
  const at = () => 1443944944; // the examples' iat
  const rfc: VerifyCwtOptions = { audience: 'coap://light.example.com', clock: at, allowNoCnf: true, algorithms: [ALG.ES256, ALG.HMAC_256_64] };

  for (const provider of [portableProvider, nativeProvider]) {
    it(`CWT/A_3.json (Sign1, ES256) verifies through ${provider.name}`, () => {
      const { claims, protection } = verifyCwt(fromHex(a3.output.cbor), esKey, { ...rfc, provider });
      expect(claims).toMatchObject({ iss: 'coap://as.example.com', sub: 'erikw', exp: 1444064944, cti: fromHex('0b71') });
      expect(protection).toEqual({ type: 'Sign1', encrypted: false });
    });

    it(`CWT/A_4.json (Mac0, HMAC 256/64) verifies through ${provider.name}`, () => {
      const a4 = files['A_4.json'];
      const { claims } = verifyCwt(fromHex(a4.output.cbor), vectorKey(a4.input.mac0.recipients[0].key), { ...rfc, provider });
      expect(claims.sub).toBe('erikw');
    });

    it(`CWT/A_5.json (Encrypt0 of the claims) decrypts through ${provider.name}`, () => {
      const a5 = files['A_5.json'];
      const { plaintext } = decryptEncrypt0(fromHex(a5.output.cbor), vectorKey(a5.input.encrypted.recipients[0].key), { provider });
      expect(claimsFromMap(decodeCbor(plaintext)).iss).toBe('coap://as.example.com');
      // A claims set with no signature or MAC inside is not a token keybound accepts.
      expect(errorCode(() => verifyCwt(fromHex(a5.output.cbor), esKey, { ...rfc, provider, decryptionKeys: vectorKey(a5.input.encrypted.recipients[0].key) }))).toBe('ERR_CWT_NESTING');
    });

    it(`CWT/A_6.json (signed, then encrypted) opens and verifies through ${provider.name}`, () => {
      const a6 = files['A_6.json'];
      const out = verifyCwt(fromHex(a6.output.cbor), esKey, { ...rfc, provider, decryptionKeys: vectorKey(a6.input.encrypted.recipients[0].key), encryptionAlgorithms: [ALG.AES_CCM_16_64_128] });
      expect(out.protection).toEqual({ type: 'Sign1', encrypted: true });
      expect(out.claims.sub).toBe('erikw');
    });

    it(`CWT/A_7.json (Mac0 with a floating-point iat) verifies through ${provider.name}`, () => {
      const a7 = files['A_7.json'];
      const { claims } = verifyCwt(fromHex(a7.output.cbor), vectorKey(a7.input.mac0.recipients[0].key), { ...rfc, provider, anyAudience: true, allowNoExpiry: true });
      expect(claims.iat).toBe(1443944944.5);
    });
  }

  // Deterministic protections: made again from the file's inputs, the bytes are the file's own.
  for (const provider of [portableProvider, nativeProvider]) {
    for (const name of ['A_4.json', 'A_7.json']) {
      it(`CWT/${name} (Mac0) re-created from its inputs through ${provider.name} gives the exact bytes`, () => {
        const v = files[name];
        const made = createMac0(fromHex(v.input.plaintext_hex), vectorKey(v.input.mac0.recipients[0].key), { alg: ALG.HMAC_256_64, provider });
        expect(toHex(made)).toBe(v.output.cbor.toLowerCase());
      });
    }
    for (const name of ['A_5.json', 'A_6.json']) {
      it(`CWT/${name} (Encrypt0, IV from its rng_stream) re-created through ${provider.name} gives the exact bytes`, () => {
        const v = files[name];
        const made = createEncrypt0(fromHex(v.input.plaintext_hex), vectorKey(v.input.encrypted.recipients[0].key), {
          alg: ALG.AES_CCM_16_64_128,
          iv: fromHex(v.input.rng_stream[0]),
          provider,
        });
        expect(toHex(made)).toBe(v.output.cbor.toLowerCase());
      });
    }
  }

  it('CWT/A_3.json is refused at its own audience once expired, and with a wrong key', () => {
    const token = fromHex(a3.output.cbor);
    expect(errorCode(() => verifyCwt(token, esKey, { ...rfc, clock: () => 1444064944 + 61 }))).toBe('ERR_CWT_EXPIRED');
    expect(errorCode(() => verifyCwt(token, signingKey('P-256').pub, rfc))).toBe('ERR_COSE_BAD_SIGNATURE');
  });
});

describe('keybound tokens', () => {
  const as = signingKey('Ed25519', 'as-1');
  const client = signingKey('Ed25519', 'client');
  const claims: CwtClaims = {
    iss: 'https://as.example',
    sub: 'ekg-abc',
    aud: 'tube-123',
    exp: NOW + 3600,
    iat: NOW,
    cti: fromHex('0102030405060708'),
    cnf: { coseKey: publicCoseKey(client.priv) },
    scope: 'read_result',
  };
  const opts: VerifyCwtOptions = { audience: 'tube-123', clock };

  it('emit 61(18(...)) with alg and kid protected and an empty unprotected header', () => {
    const token = createCwt(claims, as.priv);
    expect(toHex(token.subarray(0, 3))).toBe('d83dd2');
    const inner = ((decodeCbor(token) as Tag).value as Tag).value as CborValue[];
    expect(decodeCbor(inner[0] as Uint8Array)).toEqual(new Map<CborValue, CborValue>([[1, -8], [4, utf8('as-1')]]));
    expect((inner[1] as Map<unknown, unknown>).size).toBe(0);
  });

  it('are deterministic for EdDSA, so the token hash is stable', () => {
    expect(createCwt(claims, as.priv, { provider: portableProvider })).toEqual(createCwt(claims, as.priv, { provider: nativeProvider }));
  });

  for (const [maker, checker] of [[portableProvider, nativeProvider], [nativeProvider, portableProvider]] as const) {
    it(`made by ${maker.name} verify through ${checker.name} with the claims and cnf intact`, () => {
      const out = verifyCwt(createCwt(claims, as.priv, { provider: maker }), as.pub, { ...opts, provider: checker });
      expect(out.claims).toEqual(claims);
      expect(out.cnf).toEqual(claims.cnf);
    });
  }

  it('with an ES256 service key', () => {
    const es = signingKey('P-256', 'as-es');
    expect(verifyCwt(createCwt(claims, es.priv), es.pub, opts).header.alg.name).toBe('ES256');
  });

  it('keep unknown claims, by integer or text label', () => {
    const other = new Map<CborValue, CborValue>([[500, 'x'], ['custom', [1, 2]]]);
    expect(verifyCwt(createCwt({ ...claims, other }, as.priv), as.pub, opts).claims.other).toEqual(other);
  });

  describe('claim checks', () => {
    const token = createCwt(claims, as.priv);
    it('expired (past exp + leeway), but accepted within the leeway', () => {
      expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, clock: () => NOW + 3600 + 60 }))).toBe('ERR_CWT_EXPIRED');
      expect(verifyCwt(token, as.pub, { ...opts, clock: () => NOW + 3600 + 59 }).claims.sub).toBe('ekg-abc');
      expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, leeway: 0, clock: () => NOW + 3600 }))).toBe('ERR_CWT_EXPIRED');
    });
    it('not yet valid (nbf)', () => {
      const t = createCwt({ ...claims, nbf: NOW + 600 }, as.priv);
      expect(errorCode(() => verifyCwt(t, as.pub, opts))).toBe('ERR_CWT_NOT_YET_VALID');
    });
    it('wrong audience, audience lists, and no audience option at all', () => {
      expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, audience: 'tube-999' }))).toBe('ERR_CWT_WRONG_AUDIENCE');
      const multi = createCwt({ ...claims, aud: ['tube-1', 'tube-123'] }, as.priv);
      expect(verifyCwt(multi, as.pub, opts).claims.aud).toEqual(['tube-1', 'tube-123']);
      expect(errorCode(() => verifyCwt(token, as.pub, { clock }))).toBe('ERR_CWT_WRONG_AUDIENCE');
    });
    it('wrong issuer', () => {
      expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, issuer: 'https://evil.example' }))).toBe('ERR_CWT_WRONG_ISSUER');
    });
    it('no cnf: not a PoP token, unless allowed by name', () => {
      const { cnf: _cnf, ...bearer } = claims;
      const t = createCwt(bearer, as.priv);
      expect(errorCode(() => verifyCwt(t, as.pub, opts))).toBe('ERR_CWT_CLAIM_MISSING');
      expect(verifyCwt(t, as.pub, { ...opts, allowNoCnf: true }).cnf).toBeUndefined();
    });
    it('no expiry at all', () => {
      const { exp: _exp, ...forever } = claims;
      expect(errorCode(() => verifyCwt(createCwt(forever, as.priv), as.pub, opts))).toBe('ERR_CWT_CLAIM_MISSING');
    });
    it('exi without cti (RFC 9200 §5.10.3)', () => {
      const { exp: _e, cti: _c, ...rest } = claims;
      expect(errorCode(() => verifyCwt(createCwt({ ...rest, exi: 600 }, as.priv), as.pub, opts))).toBe('ERR_CWT_CLAIM_MISSING');
      const ok = verifyCwt(createCwt({ ...rest, exi: 600, cti: utf8('tube-123\u00001') }, as.priv), as.pub, opts);
      expect(ok.claims.exi).toBe(600);
    });
    it('claims of the wrong type', () => {
      for (const [label, value] of [[1, 5], [3, 7], [4, 'soon'], [7, 'text'], [8, utf8('x')], [40, -1]] as [number, CborValue][]) {
        expect(() => claimsFromMap(new Map<CborValue, CborValue>([[label, value]]))).toThrow(expect.objectContaining({ code: 'ERR_CWT_CLAIM_INVALID' }));
      }
    });
  });

  describe('structure', () => {
    it('a token for another key (stolen structure, wrong trust anchor) is refused', () => {
      const forged = createCwt(claims, signingKey('Ed25519', 'as-1').priv);
      expect(errorCode(() => verifyCwt(forged, as.pub, opts))).toBe('ERR_COSE_BAD_SIGNATURE');
    });
    it('an oversized token is refused unread', () => {
      const big = createCwt({ ...claims, other: new Map([[999, new Uint8Array(5000)]]) }, as.priv);
      expect(errorCode(() => verifyCwt(big, as.pub, opts))).toBe('ERR_CBOR_TOO_LARGE');
    });
    it('a COSE_Encrypt0 without decryption keys, and one nested in another, are refused', () => {
      const rsKey = secretKey(16, 'rs');
      const sealed = createCwt(claims, as.priv, { encryptTo: rsKey });
      expect(errorCode(() => verifyCwt(sealed, as.pub, opts))).toBe('ERR_COSE_NO_KEY');
      const double = createEncrypt0(sealed, rsKey);
      expect(errorCode(() => verifyCwt(double, as.pub, { ...opts, decryptionKeys: rsKey }))).toBe('ERR_CWT_NESTING');
    });
  });

  describe('sign-then-encrypt (RFC 8392 A.6)', () => {
    for (const [maker, checker] of [[portableProvider, nativeProvider], [nativeProvider, portableProvider]] as const) {
      it(`sealed by ${maker.name} with AES-CCM-16-64-128, opened by ${checker.name}`, () => {
        const rsKey = secretKey(16, 'tube-123-key');
        const token = createCwt(claims, as.priv, { encryptTo: rsKey, provider: maker });
        const out = verifyCwt(token, as.pub, { ...opts, decryptionKeys: rsKey, provider: checker });
        expect(out.protection).toEqual({ type: 'Sign1', encrypted: true });
        expect(out.claims.sub).toBe('ekg-abc');
        expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, decryptionKeys: secretKey(16, 'tube-123-key') }))).toBe('ERR_COSE_DECRYPT_FAILED');
      });
    }
  });

  describe('MAC-protected tokens under a key shared with the audience', () => {
    it('verify with the shared key and refuse a signature key', () => {
      const shared = secretKey(32, 'tube-123-mac');
      const token = createCwt({ ...claims, cnf: { kid: utf8('pop-1') } }, shared);
      const out = verifyCwt(token, shared, opts);
      expect(out.protection.type).toBe('Mac0');
      expect(out.header.alg.id).toBe(ALG.HMAC_256_64);
      expect(errorCode(() => verifyCwt(token, as.pub, opts))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
    });
  });
});

describe('cnf forms (RFC 8747)', () => {
  const as = signingKey();
  const base: CwtClaims = { aud: 'tube-123', exp: NOW + 60 };

  it('COSE_Key(1): must be public', () => {
    const client = signingKey('P-256');
    expect(verifyCwt(createCwt({ ...base, cnf: { coseKey: client.pub } }, as.priv), as.pub, { audience: 'tube-123', clock }).cnf).toEqual({ coseKey: client.pub });
    expect(() => createCwt({ ...base, cnf: { coseKey: client.priv } }, as.priv)).toThrow(expect.objectContaining({ code: 'ERR_CWT_CLAIM_INVALID' }));
  });

  it('Encrypted_COSE_Key(2): sealed for the audience, opened only with its key', () => {
    const audienceKey = secretKey(16, 'tube-123');
    const pop = secretKey(32, 'pop');
    const token = createCwt({ ...base, cnf: sealCoseKey(pop, audienceKey) }, as.priv);
    const { cnf } = verifyCwt(token, as.pub, { audience: 'tube-123', clock });
    expect(cnf && 'encryptedCoseKey' in cnf).toBe(true);
    expect(openEncryptedCoseKey(cnf as { encryptedCoseKey: CborValue }, audienceKey)).toEqual(pop);
    expect(errorCode(() => openEncryptedCoseKey(cnf as { encryptedCoseKey: CborValue }, secretKey(16, 'tube-123')))).toBe('ERR_COSE_DECRYPT_FAILED');
  });

  it('kid(3)', () => {
    const token = createCwt({ ...base, cnf: { kid: utf8('k1') } }, as.priv);
    expect(verifyCwt(token, as.pub, { audience: 'tube-123', clock }).cnf).toEqual({ kid: utf8('k1') });
  });

  it('refuses a symmetric key in the clear and malformed confirmations', () => {
    expect(() => createCwt({ ...base, cnf: { coseKey: secretKey() } }, as.priv)).toThrow(expect.objectContaining({ code: 'ERR_CWT_CLAIM_INVALID' }));
    for (const cnf of [new Map(), new Map([[1, 'x']]), new Map([[3, new Uint8Array(0)]]), new Map<CborValue, CborValue>([[1, 1], [3, utf8('k')]]), new Map([[9, 1]])]) {
      expect(() => claimsFromMap(new Map<CborValue, CborValue>([[8, cnf]]))).toThrow(expect.objectContaining({ code: 'ERR_CWT_CLAIM_INVALID' }));
    }
  });
});
