/**
 * How big the same token would be as a JWT (RFC 7519 compact JWS): header and claims as base64url
 * JSON, the signature or MAC as base64url. For the "bytes on air, CWT vs JWT" chart. A JWS has no
 * truncated HMAC, so a Mac0 (HMAC 256/64) token compares with HS256's 32-byte tag; a sealed PoP
 * key is carried as RFC 7800 `jwe` text of the same ciphertext (a lower bound for real JWE).
 */
import { Tag, cnfToMap, cwtClaimsToJwt, decodeCbor, encodeCbor, readCwtUnverified, toBase64Url, utf8, type CwtClaims } from '../cose/index.js';

const b64len = (bytes: number): number => Math.ceil((bytes * 4) / 3);

export function jwtEquivalentBytes(token: Uint8Array): number {
  const { claims, type } = readCwtUnverified(token);
  let v = decodeCbor(token);
  while (v instanceof Tag) v = v.value as typeof v;
  const parts = v as unknown[];
  const prot = decodeCbor(parts[0] as Uint8Array) as Map<number, unknown>;
  const kid = prot.get(4);
  const alg = prot.get(1);
  const header = JSON.stringify({ alg: type === 'Mac0' ? 'HS256' : alg === -7 ? 'ES256' : 'EdDSA', ...(kid instanceof Uint8Array ? { kid: toBase64Url(kid) } : {}) });
  const sigBytes = type === 'Mac0' ? 32 : (parts[3] as Uint8Array).length;
  let payload: string;
  try {
    payload = JSON.stringify(cwtClaimsToJwt(claims));
  } catch {
    const { cnf, ...rest } = claims as CwtClaims;
    const base = cwtClaimsToJwt(rest as CwtClaims) as Record<string, unknown>;
    payload = JSON.stringify({ ...base, cnf: { jwe: toBase64Url(encodeCbor(cnfToMap(cnf!))) } });
  }
  return b64len(utf8(header).length) + 1 + b64len(utf8(payload).length) + 1 + b64len(sigBytes);
}
