/**
 * Finding 13: structures that only look like what they claim. Tag 61 must wrap a COSE tag
 * (RFC 8392 §6), and an Encrypted_COSE_Key cnf must be a COSE_Encrypt0 (RFC 8747 §3.3), or the
 * token is refused with a typed error, under both crypto providers.
 */
import { describe, expect, it } from 'vitest';
import {
  buildSign1,
  cnfFromMap,
  createCwt,
  createMac0,
  decodeCbor,
  encodeCbor,
  portableProvider,
  readCwtUnverified,
  sealCoseKey,
  Tag,
  tokenHash,
  toHex,
  utf8,
  verifyCwt,
  verifyMac0,
  verifySign1,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { errorCode } from './support/error-code.js';
import { secretKey, signingKey } from './support/keys.js';

const NOW = 1_800_000_000;
const AUDIENCE = 'tube-123';
const as = signingKey('Ed25519', 'as-1');
const client = signingKey('Ed25519', 'client');
const opts = { audience: AUDIENCE, clock: () => NOW };

/** A signed token with the COSE_Sign1 array taken out, so that a test can wrap it its own way. */
function sign1Array(): CborValue[] {
  const token = createCwt({ iss: 'https://as.example', aud: AUDIENCE, exp: NOW + 60, cnf: { coseKey: client.pub } }, as.priv);
  return ((decodeCbor(token) as Tag).value as Tag).value as CborValue[];
}

describe('tag 61 wraps a tagged COSE message (RFC 8392 §6)', () => {
  const arr = sign1Array();
  const accepted: Array<[string, CborValue]> = [
    ['61(18([...])), as we emit', new Tag(new Tag(arr, 18), 61)],
    ['18([...]) without the CWT tag', new Tag(arr, 18)],
    ['[...] untagged, as some peers send', arr],
  ];
  const refused: Array<[string, CborValue]> = [
    ['61([...]): 61 around an untagged array', new Tag(arr, 61)],
    ['61(61(18([...])))', new Tag(new Tag(new Tag(arr, 18), 61), 61)],
  ];

  for (const provider of [portableProvider, nativeProvider]) {
    for (const [name, value] of accepted) {
      it(`${name} verifies (${provider.name})`, () => {
        expect(verifyCwt(encodeCbor(value), as.pub, { ...opts, provider }).claims.aud).toBe(AUDIENCE);
      });
    }
    for (const [name, value] of refused) {
      it(`${name} is refused by verifyCwt and verifySign1: ERR_COSE_WRONG_TAG (${provider.name})`, () => {
        const bytes = encodeCbor(value);
        expect(errorCode(() => verifyCwt(bytes, as.pub, { ...opts, provider }))).toBe('ERR_COSE_WRONG_TAG');
        expect(errorCode(() => verifySign1(bytes, as.pub, { provider }))).toBe('ERR_COSE_WRONG_TAG');
      });
    }
  }

  it('61([...]) is refused for Mac0 too, and by readCwtUnverified', () => {
    const key = secretKey(32, 'shared');
    const mac0 = (decodeCbor(createMac0(utf8('x'), key)) as Tag).value as CborValue[];
    expect(errorCode(() => verifyMac0(encodeCbor(new Tag(mac0, 61)), key))).toBe('ERR_COSE_WRONG_TAG');
    expect(errorCode(() => readCwtUnverified(encodeCbor(new Tag(arr, 61))))).toBe('ERR_COSE_WRONG_TAG');
  });

  it('61([...]) is not given the hash of the token it imitates (no verifier accepts it)', () => {
    const real = encodeCbor(new Tag(new Tag(arr, 18), 61));
    expect(toHex(tokenHash(encodeCbor(new Tag(arr, 61))))).not.toBe(toHex(tokenHash(real)));
    expect(toHex(tokenHash(encodeCbor(arr)))).toBe(toHex(tokenHash(real)));
  });
});

describe('an Encrypted_COSE_Key cnf has the shape of a COSE_Encrypt0 (RFC 8747 §3.3, RFC 9052 §5.2)', () => {
  const audienceKey: CoseKey = { ...secretKey(16, 'tube-shared'), alg: 10 };
  const popKey = secretKey(32, 'pop');
  const sealed = (sealCoseKey(popKey, audienceKey) as { encryptedCoseKey: CborValue }).encryptedCoseKey;
  const inner = (sealed as Tag).value as CborValue[];
  const b = new Uint8Array(4);

  const good: Array<[string, CborValue]> = [
    ['16([protected, unprotected, ciphertext]), as sealCoseKey makes it', sealed],
    ['the same array untagged', inner],
  ];
  const bad: Array<[string, CborValue]> = [
    ['an array of 4', [b, new Map(), b, b]],
    ['an array of 2', [b, new Map()]],
    ['an unprotected header that is no map', [b, b, b]],
    ['a protected header that is no byte string', [new Map(), new Map(), b]],
    ['a detached (nil) ciphertext', [b, new Map(), null]],
    ['tag 17 (a COSE_Mac0)', new Tag([b, new Map(), b], 17)],
    ['tag 61 around tag 16', new Tag(sealed, 61)],
    ['a text string', 'sealed'],
    ['a map', new Map([[1, b]])],
    ['an integer', 7],
  ];

  for (const [name, value] of good) {
    it(`${name}: read as Encrypted_COSE_Key(2)`, () => {
      expect(errorCode(() => cnfFromMap(new Map([[2, value]])))).toBe('no error');
    });
  }
  for (const [name, value] of bad) {
    it(`${name}: refused, ERR_CWT_CLAIM_INVALID`, () => {
      expect(errorCode(() => cnfFromMap(new Map([[2, value]])))).toBe('ERR_CWT_CLAIM_INVALID');
      expect(errorCode(() => createCwt({ aud: AUDIENCE, exp: NOW + 60, cnf: { encryptedCoseKey: value } }, as.priv))).toBe('ERR_CWT_CLAIM_INVALID');
    });
  }

  it('a token signed with such a cnf is refused by verifyCwt for its cnf, under both providers', () => {
    // What a careless or compromised issuer signs: the claims written out, as createCwt refuses them.
    const claims = new Map<CborValue, CborValue>([[3, AUDIENCE], [4, NOW + 60], [8, new Map([[2, [b, b, b]]])]]);
    const token = encodeCbor(new Tag(buildSign1(encodeCbor(claims), as.priv), 61));
    for (const provider of [portableProvider, nativeProvider]) {
      expect(errorCode(() => verifyCwt(token, as.pub, { ...opts, provider }))).toBe('ERR_CWT_CLAIM_INVALID');
    }
  });
});
