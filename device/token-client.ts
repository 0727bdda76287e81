/**
 * The client role (the EKG device of DESIGN.md's disconnected flow): asks the authorization
 * service for a token over an injected transport, in application/ace+cbor with the RFC 9200
 * integer abbreviations (§8.10: grant_type 33, client_id 24, client_secret 25, audience 5,
 * scope 9, req_cnf 4; answers access_token 1, expires_in 2, cnf 8, token_type 34, ace_profile 38,
 * rs_cnf 41; errors error 30, error_description 31).
 */
import {
  aceErrorName,
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
}

export interface TokenResponse {
  accessToken: Uint8Array;
  expiresIn: number | undefined;
  /** The PoP key: the one the client sent, or the symmetric key the AS made (cnf COSE_Key). */
  popKey: CoseKey | undefined;
  scope: CborValue | undefined;
  aceProfile: number | undefined;
  /** RFC 9200 §5.8.4.3: the resource server's key, if the AS sent one. */
  rsCnf: CoseKey | undefined;
}

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
  if ('clientSecret' in req.auth) m.set(ACE_PARAM.client_secret, req.auth.clientSecret);
  else {
    m.set('client_assertion', req.auth.assertion);
    // Default: a COSE-signed CWT assertion (cose createClientAssertion), which keybound's service takes.
    m.set('client_assertion_type', req.auth.assertionType ?? CLIENT_ASSERTION_TYPE);
  }
  m.set(ACE_PARAM.audience, req.audience);
  if (req.scope !== undefined) m.set(ACE_PARAM.scope, req.scope);
  // RFC 9200 §5.8.1 req_cnf: a cnf-shaped map, COSE_Key(1) with the public key only.
  if (req.popKey) m.set(ACE_PARAM.req_cnf, new Map([[1, coseKeyToMap(req.popKey.kty === 'Symmetric' ? req.popKey : publicCoseKey(req.popKey))]]));
  if (req.cnonce) m.set(ACE_PARAM.cnonce, req.cnonce);
  return encodeCbor(m);
}

function asError(message: string, cause?: unknown): DeviceError {
  return new DeviceError(DEVICE_ERR.AS_ERROR, message, cause === undefined ? undefined : { cause });
}

function keyFromCnf(value: CborValue | undefined, what: string): CoseKey | undefined {
  if (value === undefined) return undefined;
  if (!isMap(value) || !value.has(1)) throw asError(`${what} must be a cnf map with COSE_Key(1)`);
  try {
    return coseKeyFromMap(value.get(1)!);
  } catch (cause) {
    throw asError(`${what} COSE_Key(1) is invalid`, cause);
  }
}

export function decodeTokenResponse(body: Uint8Array, popKey?: CoseKey): TokenResponse {
  let v: CborValue;
  try {
    v = decodeCbor(body, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: 6 });
  } catch (cause) {
    throw asError(`token response is not valid CBOR (${(cause as CoseError).code})`, cause);
  }
  if (!isMap(v)) throw asError('token response must be a map');
  const error = v.get(ACE_PARAM.error);
  if (error !== undefined) {
    // RFC 9200 §5.8.3: error is an abbreviated integer or text; description is for people.
    const desc = v.get(ACE_PARAM.error_description);
    const name = aceErrorName(error) ?? 'malformed error(30)';
    throw asError(`authorization service refused: ${name.slice(0, 40)}${typeof desc === 'string' ? ` (${desc.slice(0, 120)})` : ''}`);
  }
  const token = v.get(ACE_PARAM.access_token);
  if (!(token instanceof Uint8Array)) throw asError('access_token(1) missing');
  const expiresIn = v.get(ACE_PARAM.expires_in);
  const aceProfile = v.get(ACE_PARAM.ace_profile);
  const issuedKey = keyFromCnf(v.get(ACE_PARAM.cnf), 'cnf(8)');
  return {
    accessToken: token,
    expiresIn: typeof expiresIn === 'number' ? expiresIn : undefined,
    popKey: issuedKey ?? popKey,
    scope: v.get(ACE_PARAM.scope),
    aceProfile: typeof aceProfile === 'number' ? aceProfile : undefined,
    rsCnf: keyFromCnf(v.get(ACE_PARAM.rs_cnf), 'rs_cnf(41)'),
  };
}

/** Asks the AS for a token. The PoP key's private part never leaves the caller. */
export async function requestToken(transport: TokenTransport, req: TokenRequest): Promise<TokenResponse> {
  const body = await transport(encodeTokenRequest(req));
  return decodeTokenResponse(body, req.popKey);
}
