/**
 * The cti (RFC 8392 §3.1.7) a COSE_Sign1 or COSE_Mac0 CWT carries in its clear payload, read
 * without checking the signature or tag: a service finds its record of a presented token by this
 * cti and the token's hash together (the authz store's getTokenByHash), so a forged token naming
 * another's cti finds nothing. Undefined for an Encrypt0 token (its claims are sealed), a
 * reference token, or anything else. Read from the canonical form (token-hash.ts), so every form
 * a verifier accepts (untagged, unprotected labels added) shows the same cti.
 */
import { decodeCbor } from './cbor-decode.js';
import { isMap, Tag, type CborValue } from './cbor-value.js';
import { CLAIM } from './cwt-claims.js';
import { COSE_TAG, CWT_TAG } from './message.js';
import { canonicalTokenBytes, MAX_CANONICAL_INPUT as MAX_TOKEN_BYTES } from './token-hash.js';

export function readableCti(token: Uint8Array): Uint8Array | undefined {
  return canonicalWithCti(token).cti;
}

/**
 * A presented token's canonical bytes (what tokenHash hashes) and the cti it shows, from one
 * canonicalization: a caller that needs both (authz/token-name.ts) decodes and re-encodes once.
 */
export function canonicalWithCti(token: Uint8Array): { canonical: Uint8Array; cti?: Uint8Array } {
  const canonical = canonicalTokenBytes(token);
  if (token.length > MAX_TOKEN_BYTES) return { canonical };
  const cti = ctiOfCanonical(canonical);
  return cti ? { canonical, cti } : { canonical };
}

function ctiOfCanonical(canonical: Uint8Array): Uint8Array | undefined {
  let value: CborValue;
  try {
    value = decodeCbor(canonical, { maxBytes: MAX_TOKEN_BYTES * 2, maxDepth: 8 });
  } catch {
    return undefined; // not CBOR at all: a reference token
  }
  // The canonical form of a Sign1 or Mac0 is 61(18(...)) or 61(17(...)); anything else kept its bytes.
  const inner = value instanceof Tag && value.tag === CWT_TAG ? value.value : undefined;
  if (!(inner instanceof Tag) || (inner.tag !== COSE_TAG.Sign1 && inner.tag !== COSE_TAG.Mac0) || !Array.isArray(inner.value)) return undefined;
  const payload = (inner.value as CborValue[])[2];
  if (!(payload instanceof Uint8Array)) return undefined;
  let claims: CborValue;
  try {
    claims = decodeCbor(payload, { maxBytes: MAX_TOKEN_BYTES, maxDepth: 8 });
  } catch {
    return undefined;
  }
  const cti = isMap(claims) ? claims.get(CLAIM.cti) : undefined;
  return cti instanceof Uint8Array && cti.length > 0 ? cti : undefined;
}
