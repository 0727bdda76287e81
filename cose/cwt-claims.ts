/**
 * CWT claims (RFC 8392 §3, RFC 9200 §5.10, RFC 8747): readable names at the API, integer labels
 * on the wire. Every known claim is type-checked on the way in; unknown claims are kept as they
 * came (RFC 8392 §3: a recipient ignores claims it does not understand).
 */
import { CwtClaimError, ERR } from './errors.js';
import { isMap, type CborMap, type CborValue } from './cbor-value.js';
import { cnfFromMap, cnfToMap, type Confirmation } from './cnf.js';

export const CLAIM = {
  iss: 1,
  sub: 2,
  aud: 3,
  exp: 4,
  nbf: 5,
  iat: 6,
  cti: 7,
  cnf: 8,
  scope: 9,
  ace_profile: 38,
  exi: 40,
} as const;

/**
 * RFC 9200 §5.3.1 (IANA CWT registry): the nonce a resource server handed out, put in the token
 * by the service. Kept among `other` claims: only the verifier that issued it can interpret it.
 */
export const CLAIM_CNONCE = 39;

/**
 * keybound's claim asking for per-message PoP at the broker: a private-use CWT claim label
 * (RFC 8392 §9.1: below -65536), value `true`. The service sets it for clients registered with
 * `--message-pop`; the broker then wants every PUBLISH signed by the cnf key. One home, here,
 * because the service (authz/) and the broker both name it and neither may import the other.
 */
export const CLAIM_MESSAGE_POP = -65601;

export type ClaimName = keyof typeof CLAIM;
const NAME_BY_LABEL = new Map<CborValue, ClaimName>(Object.entries(CLAIM).map(([n, l]) => [l, n as ClaimName]));

export interface CwtClaims {
  iss?: string;
  sub?: string;
  /** RFC 8392 §3.1.3: one audience as text, or several. */
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  cti?: Uint8Array;
  cnf?: Confirmation;
  /** Text, or an AIF array (RFC 9237), or a byte string wrapping one; parse with parseScope. */
  scope?: CborValue;
  ace_profile?: number;
  /** RFC 9200 §5.10.3: seconds of validity from the audience's first receipt (clock-less devices). */
  exi?: number;
  /** Claims keybound does not interpret, by their label, kept as they came. */
  other?: CborMap;
}

/** Label plus name, as errors print it: `exp(4)`. */
export function claimTag(name: ClaimName): string {
  return `${name}(${CLAIM[name]})`;
}

function invalid(name: ClaimName, reason: string): CwtClaimError {
  return new CwtClaimError(ERR.CWT_CLAIM_INVALID, claimTag(name), reason);
}

const MAX_AUDIENCES = 16; // an audience list longer than this is not a token we issue or accept

function numericDate(name: ClaimName, v: CborValue): number {
  // RFC 8392 §2: NumericDate may be an integer or a float; we refuse NaN, infinities and bigints past 2^53.
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(name, 'must be a NumericDate');
  return v;
}

function text(name: ClaimName, v: CborValue): string {
  if (typeof v !== 'string') throw invalid(name, 'must be a text string');
  return v;
}

export function claimsToMap(claims: CwtClaims): CborMap {
  const m: CborMap = new Map();
  if (claims.iss !== undefined) m.set(CLAIM.iss, claims.iss);
  if (claims.sub !== undefined) m.set(CLAIM.sub, claims.sub);
  if (claims.aud !== undefined) m.set(CLAIM.aud, Array.isArray(claims.aud) ? [...claims.aud] : claims.aud);
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const v = claims[name];
    if (v !== undefined) {
      if (!Number.isSafeInteger(v)) throw invalid(name, 'must be an integer number of seconds');
      m.set(CLAIM[name], v);
    }
  }
  if (claims.cti !== undefined) m.set(CLAIM.cti, claims.cti);
  if (claims.cnf !== undefined) m.set(CLAIM.cnf, cnfToMap(claims.cnf));
  if (claims.scope !== undefined) m.set(CLAIM.scope, claims.scope);
  if (claims.ace_profile !== undefined) m.set(CLAIM.ace_profile, claims.ace_profile);
  if (claims.exi !== undefined) {
    if (!Number.isSafeInteger(claims.exi) || claims.exi <= 0) throw invalid('exi', 'must be a positive integer');
    m.set(CLAIM.exi, claims.exi);
  }
  for (const [k, v] of claims.other ?? []) {
    if (NAME_BY_LABEL.has(k)) throw invalid(NAME_BY_LABEL.get(k)!, 'is a known claim: set it by name, not in other');
    m.set(k, v);
  }
  return m;
}

export function claimsFromMap(value: CborValue): CwtClaims {
  if (!isMap(value)) throw new CwtClaimError(ERR.CWT_MALFORMED, 'claims', 'must be a CBOR map');
  const claims: CwtClaims = {};
  for (const [label, v] of value) {
    const name = NAME_BY_LABEL.get(label);
    switch (name) {
      case 'iss':
      case 'sub':
        claims[name] = text(name, v);
        break;
      case 'aud':
        if (Array.isArray(v)) {
          if (v.length === 0 || v.length > MAX_AUDIENCES) throw invalid('aud', `must list 1 to ${MAX_AUDIENCES} audiences`);
          claims.aud = v.map((a) => text('aud', a));
        } else claims.aud = text('aud', v);
        break;
      case 'exp':
      case 'nbf':
      case 'iat':
        claims[name] = numericDate(name, v);
        break;
      case 'cti':
        if (!(v instanceof Uint8Array)) throw invalid('cti', 'must be a byte string');
        claims.cti = v;
        break;
      case 'cnf':
        claims.cnf = cnfFromMap(v);
        break;
      case 'scope':
        if (typeof v !== 'string' && !(v instanceof Uint8Array) && !Array.isArray(v)) {
          throw invalid('scope', 'must be text, an AIF array or a byte string');
        }
        claims.scope = v;
        break;
      case 'ace_profile':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid('ace_profile', 'must be an integer');
        claims.ace_profile = v;
        break;
      case 'exi':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw invalid('exi', 'must be a positive integer');
        claims.exi = v;
        break;
      default:
        (claims.other ??= new Map()).set(label, v);
    }
  }
  return claims;
}
