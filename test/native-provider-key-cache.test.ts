/**
 * The native provider keeps imported public keys by their bytes (issue 13: a client's key comes
 * from the store as a new object on every assertion). Attack: a key that passes once must not
 * vouch for another key, and a small-order key must be refused on every object that carries it.
 */
import { describe, expect, it } from 'vitest';
import { nativeProvider } from '../cose/adapters/index.js';
import { utf8, type CoseKey } from '../cose/index.js';

const message = utf8('Sig_structure stand-in');
const copy = (k: CoseKey): CoseKey => ({ ...k, x: k.x && new Uint8Array(k.x), ...(k.y ? { y: new Uint8Array(k.y) } : {}) });

describe('native provider: public keys kept by their bytes', () => {
  it('a fresh object with the same bytes verifies; another key does not', () => {
    for (const crv of ['Ed25519', 'P-256'] as const) {
      const pair = nativeProvider.generateKeyPair(crv);
      const pub: CoseKey = crv === 'Ed25519' ? { kty: 'OKP', crv, x: pair.x } : { kty: 'EC2', crv, x: pair.x, y: pair.y! };
      const signature = nativeProvider.sign({ ...pub, d: pair.d }, 'SHA-256', message);
      for (let i = 0; i < 3; i++) expect(nativeProvider.verify(copy(pub), 'SHA-256', message, signature)).toBe(true);
      const other = nativeProvider.generateKeyPair(crv);
      const otherPub: CoseKey = crv === 'Ed25519' ? { kty: 'OKP', crv, x: other.x } : { kty: 'EC2', crv, x: other.x, y: other.y! };
      expect(nativeProvider.verify(otherPub, 'SHA-256', message, signature)).toBe(false);
      expect(nativeProvider.verify(copy(pub), 'SHA-256', utf8('another message'), signature)).toBe(false);
    }
  });

  it('a small-order Ed25519 key is refused on every object, before and after a good key was kept', () => {
    // The identity point (0, 1): y = 1, little-endian.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const signature = new Uint8Array(64);
    signature[0] = 1; // R = identity, S = 0: valid for the identity key under a cofactorless check
    for (let i = 0; i < 3; i++) expect(nativeProvider.verify({ kty: 'OKP', crv: 'Ed25519', x: new Uint8Array(identity) }, 'SHA-256', message, signature)).toBe(false);
  });
});
