/**
 * A token request as `keybound token` sends it, in either of the service's encodings:
 * application/ace+cbor with the RFC 9200 §8.10 abbreviations, or application/json (byte values as
 * base64url, req_cnf as base64url of its CBOR cnf map, as the service reads them). The client
 * authenticates with HTTP Basic (RFC 6749 §2.3.1: id and secret form-encoded first), so the
 * secret is in no body and in no log of one.
 */
import {
  ACE_GRANT_TYPE,
  ACE_PARAM,
  GRANT_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS,
  aceErrorName,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  isMap,
  publicCoseKey,
  toBase64Url,
  type CborMap,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { decodeTokenResponse } from '../device/index.js';

export type TokenEncoding = 'cbor' | 'json';
export type TokenGrant = 'client_credentials' | 'token-exchange';

export interface CliTokenRequest {
  grant: TokenGrant;
  audience: string;
  /** Text scope, or an AIF scope given as its JSON text ("[[...]]"). */
  scope?: string;
  /** The client's key, sent as req_cnf; without it the service makes the PoP key (RFC 9200 §5.8.1). */
  popKey?: CoseKey;
  /** token-exchange: the token to exchange. */
  subjectToken?: Uint8Array;
}

export interface CliTokenAnswer {
  accessToken: Uint8Array;
  expiresIn?: number;
  scope?: CborValue;
  /** CBOR answers: the key the service made, when the client sent none ('osc': an OSCORE Master Secret, RFC 9203 §3.2). */
  serviceKey?: 'osc' | 'symmetric';
}

export class TokenRequestError extends Error {
  constructor(
    message: string,
    /** The service's OAuth error name (invalid_client, invalid_scope, ...), or `bad_answer`. */
    readonly code: string,
  ) {
    super(message);
  }
}

export const CONTENT_TYPE: Record<TokenEncoding, string> = { cbor: 'application/ace+cbor', json: 'application/json' };

function scopeValue(scope: string): CborValue {
  // An AIF scope travels as its array (RFC 9237), not as JSON text.
  return scope.trimStart().startsWith('[') ? (JSON.parse(scope) as CborValue) : scope;
}

/** RFC 9200 §5.8.1 req_cnf: a cnf map holding COSE_Key(1), the public key only. */
function reqCnf(key: CoseKey): CborMap {
  return new Map([[1, coseKeyToMap(key.kty === 'Symmetric' ? key : publicCoseKey(key))]]);
}

export function encodeCliTokenRequest(req: CliTokenRequest, encoding: TokenEncoding): Uint8Array {
  if (req.grant === 'token-exchange' && !req.subjectToken) throw new TokenRequestError('token-exchange needs --subject-token', 'usage');
  if (encoding === 'cbor') {
    const m: CborMap = new Map();
    m.set(ACE_PARAM.grant_type, req.grant === 'client_credentials' ? ACE_GRANT_TYPE.client_credentials : GRANT_TOKEN_EXCHANGE);
    m.set(ACE_PARAM.audience, req.audience);
    if (req.scope !== undefined) m.set(ACE_PARAM.scope, scopeValue(req.scope));
    if (req.popKey) m.set(ACE_PARAM.req_cnf, reqCnf(req.popKey));
    if (req.subjectToken) {
      m.set('subject_token', req.subjectToken);
      m.set('subject_token_type', TOKEN_TYPE_ACCESS);
    }
    return encodeCbor(m);
  }
  const o: Record<string, unknown> = {
    grant_type: req.grant === 'client_credentials' ? 'client_credentials' : GRANT_TOKEN_EXCHANGE,
    audience: req.audience,
    ...(req.popKey ? { req_cnf: toBase64Url(encodeCbor(reqCnf(req.popKey))) } : {}),
  };
  if (req.scope !== undefined) o.scope = scopeValue(req.scope);
  if (req.subjectToken) {
    o.subject_token = toBase64Url(req.subjectToken);
    o.subject_token_type = TOKEN_TYPE_ACCESS;
  }
  return new TextEncoder().encode(JSON.stringify(o));
}

/** RFC 6749 §2.3.1: Basic of the form-encoded id and secret. */
export function basicAuthorization(clientId: string, secret: string): string {
  const form = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${form(clientId)}:${form(secret)}`).toString('base64')}`;
}

function bad(message: string): TokenRequestError {
  return new TokenRequestError(message, 'bad_answer');
}

/** The service's answer, in the content type it came in; an error answer becomes a TokenRequestError with the service's error name. */
export function decodeCliTokenAnswer(body: Uint8Array, contentType: string, status: number, popKey: CoseKey | undefined): CliTokenAnswer {
  if (contentType.includes('cbor')) {
    let v: CborValue;
    try {
      v = decodeCbor(body, { maxBytes: body.length, maxDepth: 6 });
    } catch {
      throw bad(`the service answered ${status} with CBOR that does not decode`);
    }
    if (isMap(v) && v.has(ACE_PARAM.error)) {
      const name = aceErrorName(v.get(ACE_PARAM.error)!) ?? 'error';
      const desc = v.get(ACE_PARAM.error_description);
      throw new TokenRequestError(`the service refused (${status}): ${name}${typeof desc === 'string' ? `: ${desc.slice(0, 160)}` : ''}`, name);
    }
    // With our key passed in, an answer binding a key we do not hold is refused (device/token-client.ts).
    const r = decodeTokenResponse(body, popKey);
    // Without a key of ours, the token is only worth keeping if the answer gives us the one it is bound to.
    const serviceKey = r.cnf && 'osc' in r.cnf ? 'osc' : r.popKey?.kty === 'Symmetric' ? 'symmetric' : undefined;
    if (!popKey && !serviceKey) throw bad('the service made no PoP key for this client: its answer binds the token to no key the client holds');
    return {
      accessToken: r.accessToken,
      ...(r.expiresIn !== undefined ? { expiresIn: r.expiresIn } : {}),
      ...(r.scope !== undefined ? { scope: r.scope } : {}),
      ...(!popKey && serviceKey ? { serviceKey } : {}),
    };
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as Record<string, unknown>;
  } catch {
    throw bad(`the service answered ${status} with a body that is neither CBOR nor JSON`);
  }
  if (typeof o !== 'object' || o === null) throw bad('the answer is not a JSON object');
  if (typeof o.error === 'string') {
    throw new TokenRequestError(`the service refused (${status}): ${o.error.slice(0, 40)}${typeof o.error_description === 'string' ? `: ${o.error_description.slice(0, 160)}` : ''}`, o.error.slice(0, 40));
  }
  if (typeof o.access_token !== 'string') throw bad('the answer has no access_token');
  let accessToken: Uint8Array;
  try {
    accessToken = fromBase64Url(o.access_token);
  } catch {
    throw bad('access_token is not base64url');
  }
  return { accessToken, ...(typeof o.expires_in === 'number' ? { expiresIn: o.expires_in } : {}), ...(o.scope !== undefined ? { scope: o.scope as CborValue } : {}) };
}
