/**
 * COSE_Sign1, COSE_Mac0 and COSE_Encrypt0 made and checked by our own code, through both
 * providers both ways, and every way such a message must be refused.
 */
import { describe, expect, it } from 'vitest';
import {
  ALG,
  createEncrypt0,
  createMac0,
  createSign1,
  decodeCbor,
  decryptEncrypt0,
  encodeCbor,
  portableProvider,
  extendedPortableProvider,
  Tag,
  utf8,
  verifyMac0,
  verifySign1,
  type CborMap,
  type CborValue,
  type CoseKey,
  type CryptoProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { secretKey, signingKey } from './support/keys.js';
import { errorCode } from './support/error-code.js';

const payload = utf8('the EKG reading');
const providers: [CryptoProvider, CryptoProvider][] = [
  [extendedPortableProvider, nativeProvider],
  [nativeProvider, extendedPortableProvider],
];


/** Rebuilds a message array with one element changed, keeping its tag. */
function rewrite(bytes: Uint8Array, change: (arr: CborValue[]) => void): Uint8Array {
  const tag = decodeCbor(bytes) as Tag;
  const arr = [...(tag.value as CborValue[])];
  change(arr);
  return encodeCbor(new Tag(arr, tag.tag));
}

describe('COSE_Sign1 across providers', () => {
  for (const crv of ['Ed25519', 'P-256', 'P-384', 'P-521', 'Ed448'] as const) {
    for (const [maker, checker] of providers) {
      it(`${crv}: made by ${maker.name}, verified by ${checker.name}`, () => {
        const { priv, pub } = signingKey(crv);
        const msg = createSign1(payload, priv, { kid: priv.kid!, provider: maker, externalAad: utf8('aad') });
        const out = verifySign1(msg, pub, { provider: checker, externalAad: utf8('aad') });
        expect(out.payload).toEqual(payload);
        expect(out.headers.kid).toEqual(priv.kid);
      });
    }
  }

  it('the default portable provider carries only Ed25519 and P-256, and says so for other curves', () => {
    const { priv, pub } = signingKey('P-384');
    const msg = createSign1(payload, priv, { provider: nativeProvider });
    expect(errorCode(() => verifySign1(msg, pub, { provider: portableProvider }))).toBe('ERR_COSE_ALG_UNSUPPORTED');
    const p256 = signingKey('P-256');
    expect(verifySign1(createSign1(payload, p256.priv), p256.pub, { provider: portableProvider }).payload).toEqual(payload);
  });

  it('EdDSA signatures are identical from both providers (deterministic, RFC 8032)', () => {
    const { priv } = signingKey('Ed25519');
    expect(createSign1(payload, priv, { provider: portableProvider })).toEqual(createSign1(payload, priv, { provider: nativeProvider }));
  });

  it('accepts untagged and tag-61-wrapped input', () => {
    const { priv, pub } = signingKey();
    const tagged = createSign1(payload, priv);
    const untagged = createSign1(payload, priv, { tagged: false });
    expect(untagged[0]).toBe(0x84);
    expect(verifySign1(untagged, pub).payload).toEqual(payload);
    const cwtWrapped = encodeCbor(new Tag(decodeCbor(tagged), 61));
    expect(verifySign1(cwtWrapped, pub).payload).toEqual(payload);
  });

  it('supports detached payloads', () => {
    const { priv, pub } = signingKey();
    const msg = createSign1(payload, priv, { detached: true });
    expect(errorCode(() => verifySign1(msg, pub))).toBe('ERR_COSE_DETACHED_PAYLOAD');
    expect(verifySign1(msg, pub, { detachedPayload: payload }).payload).toEqual(payload);
  });
});

describe('COSE_Sign1 refusals', () => {
  const { priv, pub } = signingKey();
  const good = createSign1(payload, priv, { kid: priv.kid! });

  it('a tampered payload', () => {
    const bad = rewrite(good, (a) => (a[2] = utf8('the EKG readinG')));
    expect(errorCode(() => verifySign1(bad, pub))).toBe('ERR_COSE_BAD_SIGNATURE');
  });

  it('a different external AAD', () => {
    expect(errorCode(() => verifySign1(good, pub, { externalAad: utf8('other') }))).toBe('ERR_COSE_BAD_SIGNATURE');
  });

  it('a stolen structure checked against the wrong key', () => {
    const thief = signingKey().pub;
    expect(errorCode(() => verifySign1(good, thief))).toBe('ERR_COSE_BAD_SIGNATURE');
  });

  it('a truncated signature', () => {
    const bad = rewrite(good, (a) => (a[3] = (a[3] as Uint8Array).subarray(0, 63)));
    expect(errorCode(() => verifySign1(bad, pub))).toBe('ERR_COSE_BAD_SIGNATURE');
  });

  it('the wrong COSE tag', () => {
    const asMac = encodeCbor(new Tag((decodeCbor(good) as Tag).value, 17));
    expect(errorCode(() => verifySign1(asMac, pub))).toBe('ERR_COSE_WRONG_TAG');
  });

  it('a wrong shape (three elements, or a non-byte-string payload)', () => {
    expect(errorCode(() => verifySign1(rewrite(good, (a) => a.pop()), pub))).toBe('ERR_COSE_MALFORMED');
    expect(errorCode(() => verifySign1(rewrite(good, (a) => (a[2] = 'text')), pub))).toBe('ERR_COSE_MALFORMED');
    expect(errorCode(() => verifySign1(rewrite(good, (a) => (a[1] = [])), pub))).toBe('ERR_COSE_BAD_HEADER');
  });

  it('alg in the unprotected header only (algorithm confusion)', () => {
    const bad = rewrite(good, (a) => {
      a[0] = new Uint8Array(0);
      a[1] = new Map([[1, ALG.EdDSA]]);
    });
    expect(errorCode(() => verifySign1(bad, pub))).toBe('ERR_COSE_ALG_UNPROTECTED');
  });

  it('no alg at all', () => {
    const bad = rewrite(good, (a) => (a[0] = new Uint8Array(0)));
    expect(errorCode(() => verifySign1(bad, pub))).toBe('ERR_COSE_ALG_MISSING');
  });

  it('the same label in both buckets', () => {
    const bad = rewrite(good, (a) => (a[1] = new Map([[4, utf8('other')]])));
    expect(errorCode(() => verifySign1(bad, pub))).toBe('ERR_COSE_DUPLICATE_HEADER');
  });

  it('a crit label it does not understand', () => {
    const msg = createSign1(payload, priv, { protected: new Map<CborValue, CborValue>([[2, [99]], [99, 1]]) });
    expect(errorCode(() => verifySign1(msg, pub))).toBe('ERR_COSE_UNKNOWN_CRIT');
    const understood = createSign1(payload, priv, { protected: new Map<CborValue, CborValue>([[2, [3]], [3, 0]]) });
    expect(verifySign1(understood, pub).payload).toEqual(payload);
  });

  it('an HMAC key where a signature key is expected (algorithm confusion)', () => {
    const hmacKey: CoseKey = { kty: 'Symmetric', k: pub.x! };
    expect(errorCode(() => verifySign1(good, hmacKey))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
    // ...and the mirror attack: a MAC made with the public key bytes as the secret.
    const forged = createMac0(payload, hmacKey, { alg: ALG.HMAC_256_256 });
    expect(errorCode(() => verifyMac0(forged, pub))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });

  it('a key whose own alg differs from the header', () => {
    expect(errorCode(() => verifySign1(good, { ...pub, alg: ALG.ES256 }))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });

  it('an algorithm off the allow-list, before any key is used', () => {
    expect(errorCode(() => verifySign1(good, pub, { algorithms: [ALG.ES256] }))).toBe('ERR_COSE_ALG_NOT_ALLOWED');
  });

  it('a P-256 key for an EdDSA message', () => {
    expect(errorCode(() => verifySign1(good, signingKey('P-256').pub))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });

  it('an unknown kid through a resolver', () => {
    expect(errorCode(() => verifySign1(good, () => undefined))).toBe('ERR_COSE_NO_KEY');
  });

  it('key_ops that do not allow verify', () => {
    expect(errorCode(() => verifySign1(good, { ...pub, keyOps: ['sign'] }))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });
});

describe('COSE_Mac0', () => {
  for (const alg of [ALG.HMAC_256_64, ALG.HMAC_256_256, ALG.HMAC_384_384, ALG.HMAC_512_512]) {
    for (const [maker, checker] of providers) {
      it(`alg ${alg}: made by ${maker.name}, verified by ${checker.name}, byte-identical`, () => {
        const key = secretKey(alg === ALG.HMAC_384_384 ? 48 : alg === ALG.HMAC_512_512 ? 64 : 32);
        const msg = createMac0(payload, key, { alg, provider: maker });
        expect(msg).toEqual(createMac0(payload, key, { alg, provider: checker }));
        expect(verifyMac0(msg, key, { provider: checker }).payload).toEqual(payload);
      });
    }
  }

  it('refuses a flipped tag bit, a wrong key and a short key', () => {
    const key = secretKey();
    const msg = createMac0(payload, key);
    const flipped = rewrite(msg, (a) => {
      const t = new Uint8Array(a[3] as Uint8Array);
      t[0]! ^= 1;
      a[3] = t;
    });
    expect(errorCode(() => verifyMac0(flipped, key))).toBe('ERR_COSE_BAD_MAC');
    expect(errorCode(() => verifyMac0(msg, secretKey()))).toBe('ERR_COSE_BAD_MAC');
    expect(errorCode(() => verifyMac0(msg, secretKey(16)))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });

  it('refuses a signature key for a MAC message', () => {
    const msg = createMac0(payload, secretKey());
    expect(errorCode(() => verifyMac0(msg, signingKey().pub))).toBe('ERR_COSE_ALG_KEY_MISMATCH');
  });
});

describe('COSE_Encrypt0', () => {
  const aeads: [number, number][] = [
    [ALG.AES_CCM_16_64_128, 16],
    [ALG.AES_CCM_16_128_128, 16],
    [ALG.AES_CCM_64_64_256, 32],
    [ALG.A128GCM, 16],
    [ALG.A256GCM, 32],
    [ALG.CHACHA20_POLY1305, 32],
  ];
  for (const [alg, len] of aeads) {
    for (const [maker, checker] of providers) {
      it(`alg ${alg}: sealed by ${maker.name}, opened by ${checker.name}`, () => {
        const key = secretKey(len);
        const msg = createEncrypt0(payload, key, { alg, provider: maker, externalAad: utf8('x') });
        expect(decryptEncrypt0(msg, key, { provider: checker, externalAad: utf8('x') }).plaintext).toEqual(payload);
        expect(errorCode(() => decryptEncrypt0(msg, key, { provider: checker }))).toBe('ERR_COSE_DECRYPT_FAILED');
      });
    }
  }

  it('the lean default provider opens AES-CCM, and refuses AES-GCM and ChaCha20/Poly1305 with a typed error (the extended one has them)', () => {
    for (const [alg, len] of aeads.filter(([a]) => a !== ALG.CHACHA20_POLY1305 && a !== ALG.A128GCM && a !== ALG.A256GCM)) {
      const key = secretKey(len);
      expect(decryptEncrypt0(createEncrypt0(payload, key, { alg, provider: portableProvider }), key, { provider: nativeProvider }).plaintext).toEqual(payload);
    }
    // Not on a device: noble's AES tables would take ~1.3 MB of RAM at import (cose/aes-block.ts).
    for (const [alg, len] of aeads.filter(([a]) => a === ALG.CHACHA20_POLY1305 || a === ALG.A128GCM || a === ALG.A256GCM)) {
      const key = secretKey(len);
      const msg = createEncrypt0(payload, key, { alg, provider: extendedPortableProvider });
      expect(errorCode(() => decryptEncrypt0(msg, key, { provider: portableProvider }))).toBe('ERR_COSE_ALG_UNSUPPORTED');
      expect(errorCode(() => createEncrypt0(payload, key, { alg, provider: portableProvider }))).toBe('ERR_COSE_ALG_UNSUPPORTED');
    }
  });

  it('uses a fresh random IV each time', () => {
    const key = secretKey(16);
    const iv = (m: Uint8Array) => ((decodeCbor(m) as Tag).value as [unknown, CborMap])[1].get(5);
    expect(iv(createEncrypt0(payload, key))).not.toEqual(iv(createEncrypt0(payload, key)));
  });

  it('refuses a tampered ciphertext, a wrong key, and an IV of the wrong length', () => {
    const key = secretKey(16);
    const msg = createEncrypt0(payload, key);
    const tampered = rewrite(msg, (a) => {
      const c = new Uint8Array(a[2] as Uint8Array);
      c[0]! ^= 0x80;
      a[2] = c;
    });
    expect(errorCode(() => decryptEncrypt0(tampered, key))).toBe('ERR_COSE_DECRYPT_FAILED');
    expect(errorCode(() => decryptEncrypt0(msg, secretKey(16)))).toBe('ERR_COSE_DECRYPT_FAILED');
    const shortIv = rewrite(msg, (a) => (a[1] = new Map([[5, new Uint8Array(7)]])));
    expect(errorCode(() => decryptEncrypt0(shortIv, key))).toBe('ERR_COSE_BAD_HEADER');
  });
});
