/**
 * AS Request Creation Hints (RFC 9200 §5.3): what a resource server tells a client it refused,
 * so the client can ask the right authorization service for the right token. Sent as an
 * application/ace+cbor map with the §5.3 abbreviations.
 */
// RFC 9200 §5.3 / Figure 3 labels (AS 1, kid 2, audience 5, scope 9, cnonce 39): defined in cose/.
import { CREATION_HINT as HINT_LABEL, decodeCbor, encodeCbor, isMap, type CborMap, type CborValue } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';

/** A refusal with hints is a few hundred bytes; a hint map nests scope > entry > methods at most. */
const MAX_HINTS_BYTES = 2048;
const MAX_HINTS_DEPTH = 5;
/** keybound's device refusal envelope (device-messages.ts): code 1, payload 2, error 3, hints 4. */
const ENVELOPE_CODE = 1;
const ENVELOPE_HINTS = 4;

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

/**
 * The hints in a refusal body, in either form a client meets: a bare RFC 9200 §5.3 AS Request
 * Creation Hints map (Figure 3/4: `{1: "coaps://as...", 5: audience, 9: scope, 39: cnonce}`, what
 * a conformant RS sends as its 4.01 payload), or keybound's device envelope with the hints at 4.
 * The two are told apart by label 1: an integer response code in the envelope, the AS URI (text)
 * in bare hints. Undefined when the body carries no hints.
 */
export function readCreationHints(body: Uint8Array): RequestHints | undefined {
  let v: CborValue;
  try {
    v = decodeCbor(body, { maxBytes: MAX_HINTS_BYTES, maxDepth: MAX_HINTS_DEPTH });
  } catch (cause) {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'creation hints: not valid CBOR', { cause });
  }
  if (!isMap(v)) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'creation hints: expected a map (RFC 9200 §5.3)');
  if (typeof v.get(ENVELOPE_CODE) === 'number') {
    const inner = v.get(ENVELOPE_HINTS);
    return isMap(inner) ? hintsFromMap(inner) : undefined;
  }
  const hints = hintsFromMap(v);
  return Object.keys(hints).length > 0 ? hints : undefined;
}
