/**
 * Asking the authorization service about a reference (opaque) token: RFC 7662 introspection in
 * its CBOR form (RFC 9200 §5.9: application/ace+cbor, token 11 in, active 10 and the CWT claim
 * labels out), authenticated as a registered client with HTTP Basic (RFC 7662 §2.1). The broker
 * talks to the service over HTTPS (HTTP on loopback only, authz-http.ts) like any resource server;
 * it never imports authz/.
 */
import { ACE_PARAM, CLAIM, cnfFromMap, decodeCbor, encodeCbor, isMap, type CborValue, type Confirmation } from '../cose/index.js';
import { authzRequest, checkAuthzUrl, type AuthzConnection } from './authz-http.js';
import { BodyTooLarge, readBoundedBody } from '../device/adapters/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';

/** RFC 9200 §5.9.1/§5.9.2 labels used here: token 11 and active 10, then the CWT claim labels (CLAIM). */
const TOKEN = ACE_PARAM.token;
const ACTIVE = ACE_PARAM.active;
/** An introspection answer is a few hundred bytes; refuse a service that sends megabytes. */
export const MAX_INTROSPECTION_BYTES = 16 * 1024;
/** A service slower than this is treated as down: CONNECT must not hang (CONNACK 5 instead). */
export const INTROSPECTION_TIMEOUT_MS = 5000;

export interface IntrospectionCredentials {
  clientId: string;
  clientSecret: string;
}

export interface IntrospectionResult {
  active: boolean;
  scope?: CborValue;
  exp?: number;
  sub?: string;
  aud?: string | string[];
  cnf?: Confirmation;
}

export type Introspect = (token: Uint8Array) => Promise<IntrospectionResult>;

function failed(message: string, cause?: unknown): BrokerError {
  return new BrokerError(BROKER_ERR.INTROSPECTION_FAILED, `introspection: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * `ca`: PEM CA certificate(s) trusted for the service instead of the system's roots. Throws
 * BrokerError insecure_authz_url at once for a URL in clear off loopback (authz-http.ts).
 */
export function httpIntrospection(authzUrl: string, credentials: IntrospectionCredentials, ca?: string | Uint8Array): Introspect {
  checkAuthzUrl(authzUrl);
  const conn: AuthzConnection = { authzUrl, ...(ca !== undefined ? { ca } : {}) };
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`).toString('base64')}`;
  return async (token) => {
    let res: Response;
    try {
      res = await authzRequest(conn, 'introspect', {
        method: 'POST',
        headers: { 'content-type': 'application/ace+cbor', accept: 'application/ace+cbor', authorization },
        body: encodeCbor(new Map<CborValue, CborValue>([[TOKEN, token]])),
        timeoutMs: INTROSPECTION_TIMEOUT_MS,
      });
    } catch (cause) {
      throw failed('the service did not answer', cause);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw failed(`the service answered HTTP ${res.status}`);
    }
    let body: Uint8Array;
    try {
      body = await readBoundedBody(res, MAX_INTROSPECTION_BYTES);
    } catch (cause) {
      throw failed(cause instanceof BodyTooLarge ? 'answer too large' : 'the answer broke off', cause);
    }
    return parseIntrospection(body);
  };
}

export function parseIntrospection(body: Uint8Array): IntrospectionResult {
  let v: CborValue;
  try {
    v = decodeCbor(body, { maxBytes: MAX_INTROSPECTION_BYTES, maxDepth: 8 });
  } catch (cause) {
    throw failed(`answer is not CBOR (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
  if (!isMap(v) || typeof v.get(ACTIVE) !== 'boolean') throw failed('answer lacks active(10)');
  if (v.get(ACTIVE) !== true) return { active: false };
  const out: IntrospectionResult = { active: true };
  const exp = v.get(CLAIM.exp);
  if (typeof exp === 'number' && Number.isFinite(exp)) out.exp = exp;
  const sub = v.get(CLAIM.sub);
  if (typeof sub === 'string') out.sub = sub;
  const aud = v.get(CLAIM.aud);
  if (typeof aud === 'string' || (Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) out.aud = aud as string | string[];
  if (v.has(CLAIM.scope)) out.scope = v.get(CLAIM.scope)!;
  const cnf = v.get(CLAIM.cnf);
  if (cnf !== undefined) {
    try {
      out.cnf = cnfFromMap(cnf);
    } catch (cause) {
      throw failed('cnf(8) is malformed', cause);
    }
  }
  return out;
}
