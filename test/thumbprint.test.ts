import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  coseKeyThumbprint,
  coseKeyThumbprintInput,
  coseKeyThumbprintUri,
  decodeCoseKey,
  fromHex,
  toBase64Url,
  toHex,
  extendedPortableProvider as portableProvider,
  CoseKeyError,
  ERR,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';

// RFC 9679 §6: the P-256 key, printed with a kid that is its own thumbprint.
const RFC9679_X = '65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d';
const RFC9679_Y = '1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c';
const RFC9679_THUMBPRINT = '496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec';
const RFC9679_INPUT = `a401022001215820${RFC9679_X}225820${RFC9679_Y}`;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('COSE Key Thumbprint: the RFC 9679 §6 example', () => {
  const key: CoseKey = {
    kty: 'EC2',
    crv: 'P-256',
    x: fromHex(RFC9679_X),
    y: fromHex(RFC9679_Y),
    kid: fromHex(RFC9679_THUMBPRINT),
  };
  it('hashes exactly the canonical map the RFC prints', () => {
    expect(toHex(coseKeyThumbprintInput(key))).toBe(RFC9679_INPUT);
  });
  it('gives the published thumbprint', () => {
    expect(toHex(coseKeyThumbprint(key))).toBe(RFC9679_THUMBPRINT);
  });
  it('gives the same from the key as bytes on the wire (kid first, as the RFC lists it)', () => {
    const wire = fromHex(`a50102200121582${'0' + RFC9679_X}225820${RFC9679_Y}025820${RFC9679_THUMBPRINT}`);
    expect(toHex(coseKeyThumbprint(decodeCoseKey(wire)))).toBe(RFC9679_THUMBPRINT);
  });
  it('has the URI form of RFC 9679 §5.6', () => {
    expect(coseKeyThumbprintUri(key)).toBe(`urn:ietf:params:oauth:ckt:sha-256:${toBase64Url(fromHex(RFC9679_THUMBPRINT))}`);
    expect(coseKeyThumbprintUri(key)).toBe('urn:ietf:params:oauth:ckt:sha-256:SWvYr63zB-WwjGSwQhv53AFSijRKQ72oj63RZp2iU-w');
  });
});

describe('COSE Key Thumbprint: only the required parameters count', () => {
  const pair = portableProvider.generateKeyPair('Ed25519');
  const okp: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: pair.x };
  it('OKP: kty, crv, x in deterministic order, cross-checked with node:crypto', () => {
    const input = coseKeyThumbprintInput(okp);
    expect(toHex(input)).toBe(`a301012006215820${toHex(pair.x)}`);
    expect(toHex(coseKeyThumbprint(okp))).toBe(sha256(input));
  });
  it('ignores kid, alg, key_ops and the private part', () => {
    const decorated: CoseKey = { ...okp, d: pair.d, kid: new Uint8Array([1, 2]), alg: -8, keyOps: ['sign', 'verify'] };
    expect(coseKeyThumbprint(decorated)).toEqual(coseKeyThumbprint(okp));
  });
  it('Symmetric: kty and k', () => {
    const k = fromHex('849b5786457c1491be3a76dcea6c4271');
    const key: CoseKey = { kty: 'Symmetric', k, kid: new Uint8Array([9]), alg: 10 };
    expect(toHex(coseKeyThumbprintInput(key))).toBe(`a201042050${toHex(k)}`);
    expect(toHex(coseKeyThumbprint(key))).toBe(sha256(coseKeyThumbprintInput(key)));
    // The AES-128 example of the draft authors' calculator (github.com/kentakayama/cose-key-thumbprint).
    expect(toHex(coseKeyThumbprint(key))).toBe('a2415ba0fc101d948490e9434e19e8b94172f5432b4dc924db6eddcfbc2577ed');
  });
  it('differs for different keys', () => {
    const other = portableProvider.generateKeyPair('Ed25519');
    expect(coseKeyThumbprint({ kty: 'OKP', crv: 'Ed25519', x: other.x })).not.toEqual(coseKeyThumbprint(okp));
    const p = portableProvider.generateKeyPair('P-384');
    const ec: CoseKey = { kty: 'EC2', crv: 'P-384', x: p.x, y: p.y! };
    // The same x with the other y (the negated point): a different key, and on the curve too.
    const prime = 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n;
    const negY = (prime - BigInt(`0x${toHex(p.y!)}`)).toString(16).padStart(96, '0');
    const negated: CoseKey = { kty: 'EC2', crv: 'P-384', x: p.x, y: fromHex(negY) };
    expect(coseKeyThumbprint(ec)).not.toEqual(coseKeyThumbprint(negated));
  });
});

describe('COSE Key Thumbprint: hash and provider', () => {
  const key: CoseKey = { kty: 'EC2', crv: 'P-256', x: fromHex(RFC9679_X), y: fromHex(RFC9679_Y) };
  it('the native provider gives the same bytes as the portable one', () => {
    for (const hash of ['SHA-256', 'SHA-384', 'SHA-512'] as const) {
      expect(coseKeyThumbprint(key, { hash, provider: nativeProvider })).toEqual(coseKeyThumbprint(key, { hash }));
    }
  });
  it('other hashes have their length and URI name', () => {
    const input = coseKeyThumbprintInput(key);
    expect(toHex(coseKeyThumbprint(key, { hash: 'SHA-512' }))).toBe(createHash('sha512').update(input).digest('hex'));
    expect(coseKeyThumbprint(key, { hash: 'SHA-384' })).toHaveLength(48);
    expect(coseKeyThumbprintUri(key, { hash: 'SHA-384' })).toMatch(/^urn:ietf:params:oauth:ckt:sha-384:[A-Za-z0-9_-]{64}$/);
  });
});

describe('COSE Key Thumbprint: invalid keys', () => {
  it('refuses keys that are not valid COSE_Keys', () => {
    const bad: CoseKey[] = [
      { kty: 'EC2', crv: 'P-256', x: fromHex(RFC9679_X) },
      { kty: 'EC2', crv: 'P-256', x: fromHex(RFC9679_X).subarray(1), y: fromHex(RFC9679_Y) },
      { kty: 'OKP', crv: 'P-256', x: new Uint8Array(32) },
      { kty: 'Symmetric', k: new Uint8Array(0) },
      { kty: 'RSA' as 'OKP', crv: 'Ed25519', x: new Uint8Array(32) },
    ];
    for (const key of bad) {
      try {
        coseKeyThumbprint(key);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CoseKeyError);
        expect((e as CoseKeyError).code).toBe(ERR.COSE_KEY_INVALID);
      }
    }
  });
});
