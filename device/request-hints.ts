/**
 * AS Request Creation Hints (RFC 9200 §5.3): what a resource server tells a client it refused,
 * so the client can ask the right authorization service for the right token. Sent as an
 * application/ace+cbor map with the §5.3 abbreviations.
 */
// RFC 9200 §5.3 / Figure 3 labels (AS 1, kid 2, audience 5, scope 9, cnonce 39): defined in cose/.
import { CREATION_HINT as HINT_LABEL, encodeCbor, type CborMap, type CborValue } from '../cose/index.js';

export interface RequestHints {
  /** Absolute URI of the authorization service (RFC 9200 §5.3 "AS"). */
  as?: string;
  audience?: string;
  /** The scope the refused request needs, as a scope claim value would carry it. */
  scope?: CborValue;
  /** A nonce a clock-less device wants in the next token (RFC 9200 §5.3.1). */
  cnonce?: Uint8Array;
  kid?: Uint8Array;
}

export function hintsToMap(hints: RequestHints): CborMap {
  const m: CborMap = new Map();
  if (hints.as !== undefined) m.set(HINT_LABEL.as, hints.as);
  if (hints.kid !== undefined) m.set(HINT_LABEL.kid, hints.kid);
  if (hints.audience !== undefined) m.set(HINT_LABEL.audience, hints.audience);
  if (hints.scope !== undefined) m.set(HINT_LABEL.scope, hints.scope);
  if (hints.cnonce !== undefined) m.set(HINT_LABEL.cnonce, hints.cnonce);
  return m;
}

/**
 * The hints in a refusal a client received: each label read only with its §5.3 type, anything
 * else ignored (they are advice for the client, never a reason to fail the answer).
 */
export function hintsFromMap(m: CborMap): RequestHints {
  const out: RequestHints = {};
  const as = m.get(HINT_LABEL.as);
  if (typeof as === 'string') out.as = as;
  const kid = m.get(HINT_LABEL.kid);
  if (kid instanceof Uint8Array) out.kid = kid;
  const audience = m.get(HINT_LABEL.audience);
  if (typeof audience === 'string') out.audience = audience;
  const scope = m.get(HINT_LABEL.scope);
  if (scope !== undefined) out.scope = scope;
  const cnonce = m.get(HINT_LABEL.cnonce);
  if (cnonce instanceof Uint8Array) out.cnonce = cnonce;
  return out;
}

export function encodeHints(hints: RequestHints): Uint8Array {
  return encodeCbor(hintsToMap(hints));
}
