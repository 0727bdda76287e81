import { extendedPortableProvider, portableProvider, utf8, type CoseKey, type Curve } from '../../cose/index.js';

/** A fresh signing key pair as a COSE_Key with d, and its public half. */
export function signingKey(crv: Curve = 'Ed25519', kid = 'as-1'): { priv: CoseKey; pub: CoseKey } {
  const pair = extendedPortableProvider.generateKeyPair(crv);
  const kty = crv.startsWith('Ed') ? 'OKP' : 'EC2';
  const pub: CoseKey = { kty, crv, x: pair.x, kid: utf8(kid), ...(pair.y ? { y: pair.y } : {}) };
  return { priv: { ...pub, d: pair.d }, pub };
}

export function secretKey(length = 32, kid = 'shared-1'): CoseKey {
  return { kty: 'Symmetric', k: portableProvider.randomBytes(length), kid: utf8(kid) };
}
