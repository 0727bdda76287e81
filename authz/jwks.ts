/** RFC 7517 JWK Set view of the service's public signing keys, for JOSE-speaking tools (RFC 8414 jwks_uri). */
import { toBase64Url, type CoseKey } from '../cose/index.js';

export function coseKeysToJwks(keys: CoseKey[]): { keys: Record<string, string>[] } {
  return {
    keys: keys.map((k) => {
      const kid = k.kid ? toBase64Url(k.kid) : undefined;
      const base: Record<string, string> =
        k.kty === 'OKP'
          ? { kty: 'OKP', crv: k.crv!, x: toBase64Url(k.x!), alg: 'EdDSA' }
          : { kty: 'EC', crv: k.crv!, x: toBase64Url(k.x!), y: toBase64Url(k.y!), alg: 'ES256' };
      if (kid) base.kid = kid;
      base.use = 'sig';
      return base;
    }),
  };
}
