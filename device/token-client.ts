/**
 * The client role (the EKG device of DESIGN.md's disconnected flow): asks the authorization
 * service for a token over an injected transport, in application/ace+cbor with the RFC 9200
 * integer abbreviations (§8.10: grant_type 33, client_id 24, client_secret 25, audience 5,
 * scope 9, req_cnf 4; answers access_token 1, expires_in 2, cnf 8, token_type 34, ace_profile 38,
 * rs_cnf 41; errors error 30, error_description 31).
 */
import {
  aceErrorName,
  cnfFromMap,
  constantTimeEqual,
  utf8,
  CoseError,
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  isMap,
  publicCoseKey,
  type CborMap,
  type CborValue,
  type CoseKey,
  type OscoreInputMaterial,
  CLIENT_ASSERTION_TYPE,
  ACE_GRANT_TYPE,
  ACE_PARAM,
  GRANT_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';

/** RFC 7523's JWT assertion type, for services that take JWTs; keybound's own takes CWTs. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** A token response is a token plus a few numbers and a key. */
const MAX_RESPONSE_BYTES = 8192;

/** Sends an application/ace+cbor body to the token endpoint and returns the answer's body. */
export type TokenTransport = (body: Uint8Array) => Promise<Uint8Array>;

export type ClientAuth =
  | { clientId: string; clientSecret: string }
  /** A signed assertion (RFC 7521/7523) the caller built; sent with its type. */
  | { clientId: string; assertion: Uint8Array | string; assertionType?: string };

export interface TokenRequest {
  grant: 'client_credentials' | 'token_exchange';
  auth: ClientAuth;
  audience: string;
  scope?: CborValue;
  /** The PoP key to bind (its public part is sent as req_cnf COSE_Key). Omit to let the AS choose a symmetric one. */
  popKey?: CoseKey;
  /** token_exchange: the client's own token, exchanged for one for `audience`. */
  subjectToken?: Uint8Array;
  /** RFC 9200 §5.3.1: the device's cnonce to put in the token. */
  cnonce?: Uint8Array;
  /**
   * RFC 9201 §3.1: bind a key the AS already holds for this client, by its kid (sent as req_cnf
   * kid(3) instead of the key). Pass `popKey` too (with that kid) so the answer's cnf resolves to it.
   */
  popKeyId?: Uint8Array;
  /** RFC 9200 §5.8.1: send ace_profile null, asking the AS which profile to use. */
  askProfile?: boolean;
}

/**
 * How the AS names a key in cnf (8) or rs_cnf (41) (RFC 8747 §3, RFC 9201 §3.2/§4): the key itself
 * (COSE_Key 1; in cnf a symmetric key the AS made, RFC 9201 §5), sealed for the RS
 * (Encrypted_COSE_Key 2: opaque to the client), or by key id (kid 3: a key the client already holds).
 */
export type KeyReference = { coseKey: CoseKey } | { encryptedCoseKey: CborValue } | { kid: Uint8Array } | { osc: OscoreInputMaterial };

/** RFC 9200 §5.8.2 / Table 5: a token response, every field typed. */
export interface TokenResponse {
  accessToken: Uint8Array;
  /** token_type (34): RFC 9200 §8.7 integer (PoP 2, Bearer 1), or text where a service sends a name. */
  tokenType: number | string | undefined;
  expiresIn: number | undefined;
  /** refresh_token (37): a byte string in CBOR (RFC 9200 Table 5), kept as the bytes sent. */
  refreshToken: Uint8Array | undefined;
  /**
   * The PoP key: the symmetric key the AS made (cnf COSE_Key), or the client's own key when the
   * cnf names it by kid or the AS sent no cnf (RFC 9201 §5: the one in req_cnf is then bound).
   */
  popKey: CoseKey | undefined;
  /** cnf (8) as sent, in whichever RFC 8747 form. */
  cnf: KeyReference | undefined;
  scope: CborValue | undefined;
  /** ace_profile (38): an IANA ACE Profile integer (RFC 9200 §5.8.4.3). */
  aceProfile: number | undefined;
  /** RFC 9201 §4: the resource server's key, when the AS sent one as a COSE_Key. */
  rsCnf: CoseKey | undefined;
  /** rs_cnf (41) as sent: a COSE_Key, or the kid of an RS key the client already holds. */
  rsCnfRef: KeyReference | undefined;
}

/**
 * An error response of the authorization service (RFC 9200 §5.8.3, RFC 6749 §5.2): `error` is the
 * error name (an integer of RFC 9200 §8.4 is read back to its name), `errorValue` what was on the
 * wire, `description` and `errorUri` for people. `code` stays as_error, the device's one code for
 * "the AS refused"; callers branch on `error`.
 */
export class AuthorizationServiceError extends DeviceError {
  readonly error: string;
  readonly errorValue: number | string;
  readonly description: string | undefined;
  readonly errorUri: string | undefined;

  constructor(error: string, errorValue: number | string, description: string | undefined, errorUri: string | undefined) {
    super(DEVICE_ERR.AS_ERROR, `authorization service refused: ${error.slice(0, 40)}${description !== undefined ? ` (${description.slice(0, 120)})` : ''}`);
    this.name = 'AuthorizationServiceError';
    this.error = error;
    this.errorValue = errorValue;
    this.description = description;
    this.errorUri = errorUri;
  }
}

/** Text a person reads is bounded: a hostile AS cannot make the device hold megabytes of it. */
const MAX_ERROR_TEXT = 512;

export function encodeTokenRequest(req: TokenRequest): Uint8Array {
  const m: CborMap = new Map();
  if (req.grant === 'client_credentials') m.set(ACE_PARAM.grant_type, ACE_GRANT_TYPE.client_credentials);
  else {
    if (!req.subjectToken) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'token exchange needs a subject token');
    m.set(ACE_PARAM.grant_type, GRANT_TOKEN_EXCHANGE);
    m.set('subject_token', req.subjectToken);
    m.set('subject_token_type', TOKEN_TYPE_ACCESS);
  }
  m.set(ACE_PARAM.client_id, req.auth.clientId);
  // RFC 9200 Table 5: client_secret (25) is a byte string; the secret's UTF-8.
  if ('clientSecret' in req.auth) m.set(ACE_PARAM.client_secret, utf8(req.auth.clientSecret));
  else {
    m.set('client_assertion', req.auth.assertion);
    // Default: a COSE-signed CWT assertion (cose createClientAssertion), which keybound's service takes.
    m.set('client_assertion_type', req.auth.assertionType ?? CLIENT_ASSERTION_TYPE);
  }
  m.set(ACE_PARAM.audience, req.audience);
  if (req.scope !== undefined) m.set(ACE_PARAM.scope, req.scope);
  // RFC 9200 §5.8.1 req_cnf: a cnf-shaped map, COSE_Key(1) with the public key only, or kid(3)
  // for a key the AS already holds for this client (RFC 9201 §3.1).
  if (req.popKeyId) m.set(ACE_PARAM.req_cnf, new Map([[3, req.popKeyId]]));
  else if (req.popKey) m.set(ACE_PARAM.req_cnf, new Map([[1, coseKeyToMap(req.popKey.kty === 'Symmetric' ? req.popKey : publicCoseKey(req.popKey))]]));
  if (req.cnonce) m.set(ACE_PARAM.cnonce, req.cnonce);
  // RFC 9200 §5.8.1: null asks the AS which profile to use; it answers ace_profile.
  if (req.askProfile) m.set(ACE_PARAM.ace_profile, null);
  return encodeCbor(m);
}

function asError(message: string, cause?: unknown): DeviceError {
  return new DeviceError(DEVICE_ERR.AS_ERROR, message, cause === undefined ? undefined : { cause });
}

/** cnf / rs_cnf in any RFC 8747 form; anything else refuses the response (it names no usable key). */
function keyReference(value: CborValue | undefined, what: string): KeyReference | undefined {
  if (value === undefined) return undefined;
  if (!isMap(value) || value.size !== 1) throw asError(`${what} must be a map with exactly one of COSE_Key(1), Encrypted_COSE_Key(2), kid(3), osc(4)`);
  if (value.has(1)) {
    try {
      // A symmetric COSE_Key is what the AS sends in cnf (RFC 9201 §5), so cnfFromMap's
      // public-key-only rule (for tokens) does not apply here.
      return { coseKey: coseKeyFromMap(value.get(1)!) };
    } catch (cause) {
      throw asError(`${what} COSE_Key(1) is invalid`, cause);
    }
  }
  try {
    const c = cnfFromMap(value);
    if ('coseKey' in c || 'osc' in c) return c;
    return 'kid' in c ? { kid: c.kid } : { encryptedCoseKey: c.encryptedCoseKey };
  } catch (cause) {
    throw asError(`${what} is not an RFC 8747 confirmation`, cause);
  }
}

function errorFrom(v: CborMap): AuthorizationServiceError {
  // RFC 9200 §5.8.3: error is an abbreviated integer or text; description and URI are text.
  const raw = v.get(ACE_PARAM.error);
  const errorValue = typeof raw === 'number' || typeof raw === 'string' ? raw : 'malformed error(30)';
  const name = (aceErrorName(raw) ?? 'malformed error(30)').slice(0, 64);
  const text = (x: CborValue | undefined) => (typeof x === 'string' ? x.slice(0, MAX_ERROR_TEXT) : undefined);
  return new AuthorizationServiceError(name, typeof errorValue === 'string' ? errorValue.slice(0, 64) : errorValue, text(v.get(ACE_PARAM.error_description)), text(v.get(ACE_PARAM.error_uri)));
}

export function decodeTokenResponse(body: Uint8Array, popKey?: CoseKey): TokenResponse {
  let v: CborValue;
  try {
    v = decodeCbor(body, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: 6 });
  } catch (cause) {
    throw asError(`token response is not valid CBOR (${(cause as CoseError).code})`, cause);
  }
  if (!isMap(v)) throw asError('token response must be a map');
  if (v.get(ACE_PARAM.error) !== undefined) throw errorFrom(v);
  const token = v.get(ACE_PARAM.access_token);
  if (!(token instanceof Uint8Array)) throw asError('access_token(1) missing');
  const expiresIn = v.get(ACE_PARAM.expires_in);
  if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isSafeInteger(expiresIn) || expiresIn < 0)) throw asError('expires_in(2) must be an unsigned integer');
  const aceProfile = v.get(ACE_PARAM.ace_profile);
  if (aceProfile !== undefined && (typeof aceProfile !== 'number' || !Number.isSafeInteger(aceProfile))) throw asError('ace_profile(38) must be an integer');
  const tokenType = v.get(ACE_PARAM.token_type);
  if (tokenType !== undefined && typeof tokenType !== 'number' && typeof tokenType !== 'string') throw asError('token_type(34) must be an integer');
  const refresh = v.get(ACE_PARAM.refresh_token);
  if (refresh !== undefined && !(refresh instanceof Uint8Array)) throw asError('refresh_token(37) must be a byte string (RFC 9200 Table 5)');
  const cnf = keyReference(v.get(ACE_PARAM.cnf), 'cnf(8)');
  const rsCnfRef = keyReference(v.get(ACE_PARAM.rs_cnf), 'rs_cnf(41)');
  return {
    accessToken: token,
    tokenType: typeof tokenType === 'string' ? tokenType.slice(0, 64) : tokenType,
    expiresIn,
    refreshToken: refresh,
    popKey: popKeyOf(cnf, popKey),
    cnf,
    scope: v.get(ACE_PARAM.scope),
    aceProfile,
    rsCnf: rsCnfRef && 'coseKey' in rsCnfRef ? rsCnfRef.coseKey : undefined,
    rsCnfRef,
  };
}

/**
 * The key the client proves: the AS's symmetric key (cnf COSE_Key), or the client's own. A cnf
 * by kid must name the client's key (RFC 8747 §3.4): a kid the client does not hold is refused,
 * since the token would be bound to a key it cannot prove.
 */
function popKeyOf(cnf: KeyReference | undefined, own: CoseKey | undefined): CoseKey | undefined {
  if (cnf === undefined) return own;
  if ('coseKey' in cnf) {
    if (cnf.coseKey.kty === 'Symmetric') return cnf.coseKey;
    // A public key echoed back: the client's own (it holds the private part), or none it can prove.
    if (own?.x && cnf.coseKey.x && constantTimeEqual(own.x, cnf.coseKey.x)) return own;
    throw asError('cnf(8) COSE_Key(1) is a public key this client does not hold');
  }
  if ('osc' in cnf) {
    // RFC 9203 §3.2: the Master Secret is the PoP key; the rest of the material (cnf.osc) goes to
    // the OSCORE setup of §4.3 (device/authz-info.ts).
    if (!cnf.osc.ms) throw asError('cnf(8) osc(4) has no ms(2) (RFC 9203 §3.2: the AS MUST send it)');
    return { kty: 'Symmetric', kid: cnf.osc.id, k: cnf.osc.ms };
  }
  if ('kid' in cnf) {
    if (own?.kid && constantTimeEqual(own.kid, cnf.kid)) return own;
    throw asError('cnf(8) kid(3) names a key this client does not hold');
  }
  // Sealed for the RS: the client's own key is the one bound (it cannot open this one).
  return own;
}
/** Asks the AS for a token. The PoP key's private part never leaves the caller. */
export async function requestToken(transport: TokenTransport, req: TokenRequest): Promise<TokenResponse> {
  const body = await transport(encodeTokenRequest(req));
  return decodeTokenResponse(body, req.popKey);
}
