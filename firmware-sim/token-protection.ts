/**
 * Which protection a token actually carries, read from its bytes: the report labels energy and
 * bytes by what the device verified, not by what the plan asked for (a service that signs with
 * one algorithm serves an ES256 plan with EdDSA). Reads the COSE structure's protected `alg`
 * only (RFC 9052 §3.1); it verifies nothing, the device does that.
 */
import { ALG, Tag, decodeCbor, isMap, type CborMap } from '../cose/index.js';
import type { TokenProtection } from './fleet-issuer.js';

/** A token the simulator handles is at most a few hundred bytes; this bounds the decode. */
const MAX_TOKEN_BYTES = 4096;
/** CWT tag 61 around COSE tag 18/17: two levels of tags, then the COSE array. */
const MAX_DEPTH = 8;
const COSE_SIGN1 = 18;
const COSE_MAC0 = 17;

export function tokenProtection(token: Uint8Array): TokenProtection | undefined {
  let v;
  try {
    v = decodeCbor(token, { maxBytes: MAX_TOKEN_BYTES, maxDepth: MAX_DEPTH });
  } catch {
    return undefined;
  }
  let coseTag: number | undefined;
  while (v instanceof Tag) {
    if (v.tag === COSE_SIGN1 || v.tag === COSE_MAC0) coseTag = v.tag;
    v = v.value;
  }
  if (!Array.isArray(v) || !(v[0] instanceof Uint8Array) || v[0].length === 0) return undefined;
  let headers;
  try {
    headers = decodeCbor(v[0], { maxBytes: MAX_TOKEN_BYTES, maxDepth: 2 });
  } catch {
    return undefined;
  }
  if (!isMap(headers)) return undefined;
  const alg = (headers as CborMap).get(1);
  if (alg === ALG.EdDSA) return 'sign1';
  if (alg === ALG.ES256) return 'sign1-es256';
  if (coseTag === COSE_MAC0 || alg === ALG.HMAC_256_64 || alg === ALG.HMAC_256_256) return 'mac0';
  return undefined;
}
