/** RFC 7517 JWK Set view of the service's public signing keys, for JOSE-speaking tools (RFC 8414 jwks_uri). */
import { coseKeyToJwk, publicCoseKey, toBase64Url, type CoseKey, type Jwk } from '../cose/index.js';

export function coseKeysToJwks(keys: CoseKey[]): { keys: Jwk[] } {
  return {
    keys: keys.map((k) => {
      // publicCoseKey: a JWKS is public; never let a private member through, whatever the caller passed.
      const jwk = coseKeyToJwk(publicCoseKey(k));
      // Our kids are random bytes: publish them always as base64url (RFC 7517 §4.5 leaves the form
      // to us), not as UTF-8 text when the bytes happen to be printable, so that a tool can map a
      // JWK kid back to the COSE kid without guessing.
      if (k.kid && k.kid.length > 0) jwk.kid = toBase64Url(k.kid);
      jwk.use = 'sig';
      return jwk;
    }),
  };
}
