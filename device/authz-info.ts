/**
 * The /authz-info exchange of the ACE-OSCORE profile (RFC 9203 §4.1–4.3), both ends, transport-
 * neutral: a CoAP adapter (device/adapters) or the broker relay hands the payload of a POST to
 * `handleAuthzInfo` and sends back the answer's code, Content-Format and payload.
 *
 *   client → RS  POST /authz-info, application/ace+cbor (19):
 *                {1 access_token, 40 nonce1 (N1), 43 ace_client_recipientid (ID1)}
 *   RS           verifies the token with the acceptance core (device/token-acceptance.ts), which
 *                reads cnf osc(4) (RFC 9203 §3.2.1) from the encrypted token
 *   RS → client  2.01 Created, application/ace+cbor: {42 nonce2 (N2), 44 ace_server_recipientid (ID2)}
 *   both         derive the OSCORE context (cose/ace-oscore-setup.ts, RFC 9203 §4.3)
 *
 * A token posted again with a new N1 makes a new context (§4.1: new nonces, new keys); the same N1
 * again while its context lives is a replay and refused. A plain RFC 9200 §5.10.1 post (a bare
 * token, or the map without N1/ID1) of a non-OSCORE token is answered 2.01 with no payload.
 * Every refusal is a CoAP error code with the AS Request Creation Hints (RFC 9200 §5.3) where a
 * new token can cure it; nothing a client sends can throw past `handleAuthzInfo`.
 */
import {
  CoseError,
  Tag,
  aceOscoreContextInput,
  decodeCbor,
  encodeCbor,
  isMap,
  deviceRefusalWire,
  toHex,
  ACE_OSCORE_NONCE_BYTES,
  MAX_ACE_OSCORE_ID_BYTES,
  MAX_ACE_OSCORE_NONCE_BYTES,
  MIN_ACE_OSCORE_NONCE_BYTES,
  type AceOscoreContextInput,
  type CborMap,
  type CborValue,
  type CryptoProvider,
  type OscoreInputMaterial,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { hintsToMap, type RequestHints } from './request-hints.js';
import type { AcceptedToken } from './token-acceptance.js';
import type { OscoreContextEntry, OscoreContextTable } from './oscore-contexts.js';

/** RFC 9200 §8.16 / RFC 7252 §12.3: application/ace+cbor. */
export const CONTENT_FORMAT_ACE_CBOR = 19;
/** RFC 9200 §8.10 and RFC 9203 §9.2 ("OAuth Parameters CBOR Mappings"). */
export const ACE_OSCORE_PARAM = Object.freeze({
  access_token: 1,
  nonce1: 40,
  nonce2: 42,
  ace_client_recipientid: 43,
  ace_server_recipientid: 44,
} as const);
/** A token (≤ 4 KB, DESIGN.md) plus two short byte strings. */
export const MAX_AUTHZ_INFO_BYTES = 4096 + 128;

/**
 * A CoAP answer. `code` is the registry's form (cose/error-codes.ts): class × 100 + detail, so
 * 201 is 2.01 Created and 401 is 4.01 Unauthorized; `coapCode` is the RFC 7252 §3 byte.
 */
export interface AuthzInfoAnswer {
  code: number;
  coapCode: number;
  contentFormat: number | undefined;
  payload: Uint8Array;
}

export interface AuthzInfoRequest {
  token: Uint8Array;
  nonce1?: Uint8Array;
  clientRecipientId?: Uint8Array;
}

export interface AuthzInfoOptions<C> {
  /** The acceptance core: verifies and stores the token, or throws a DeviceError. */
  accept(token: Uint8Array): AcceptedToken;
  contexts: OscoreContextTable<C>;
  /** RFC 8613 §3.2 derivation (cose/'s deriveOscoreContext bound to the device's provider). */
  derive(input: AceOscoreContextInput): C;
  provider: Pick<CryptoProvider, 'randomBytes'>;
  /** Hints for refusals the token cannot cause (a malformed body), when the device has them. */
  hints?: () => RequestHints;
  /** Told of a context made (never its keys). */
  onContext?: (entry: OscoreContextEntry<C>) => void;
}

const coapByte = (code: number): number => (Math.floor(code / 100) << 5) | code % 100;

function answer(code: number, payload: Uint8Array = new Uint8Array(0), contentFormat?: number): AuthzInfoAnswer {
  return { code, coapCode: coapByte(code), contentFormat, payload };
}

function badRequest(message: string): DeviceError {
  return new DeviceError(DEVICE_ERR.BAD_REQUEST, message);
}

function optionalBytes(m: CborMap, label: number, name: string, min: number, max: number): Uint8Array | undefined {
  const v = m.get(label);
  if (v === undefined) return undefined;
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) throw badRequest(`authz-info: ${name}(${label}) must be a byte string of ${min} to ${max} bytes`);
  return v;
}

/** Strict: the ace+cbor map of §4.1 (or a bare CWT, RFC 9200 §5.10.1), nothing else, bounded. */
export function decodeAuthzInfoPayload(payload: Uint8Array): AuthzInfoRequest {
  if (!(payload instanceof Uint8Array) || payload.length === 0) throw badRequest('authz-info: empty payload');
  if (payload.length > MAX_AUTHZ_INFO_BYTES) throw badRequest(`authz-info: payload over ${MAX_AUTHZ_INFO_BYTES} bytes`);
  let v: CborValue;
  try {
    v = decodeCbor(payload, { maxBytes: MAX_AUTHZ_INFO_BYTES, maxDepth: 8 });
  } catch (cause) {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, `authz-info: not CBOR (${cause instanceof CoseError ? cause.code : 'error'})`);
  }
  if (v instanceof Tag || Array.isArray(v)) return { token: payload };
  if (!isMap(v)) throw badRequest('authz-info: expected the ace+cbor map of RFC 9203 §4.1 or a bare token');
  const known = new Set<CborValue>([ACE_OSCORE_PARAM.access_token, ACE_OSCORE_PARAM.nonce1, ACE_OSCORE_PARAM.ace_client_recipientid]);
  for (const k of v.keys()) if (!known.has(k)) throw badRequest(`authz-info: parameter ${String(k).slice(0, 16)} is not one of access_token(1), nonce1(40), ace_client_recipientid(43)`);
  const token = v.get(ACE_OSCORE_PARAM.access_token);
  if (!(token instanceof Uint8Array)) throw badRequest('authz-info: access_token(1) must be a byte string');
  const req: AuthzInfoRequest = { token };
  const nonce1 = optionalBytes(v, ACE_OSCORE_PARAM.nonce1, 'nonce1', MIN_ACE_OSCORE_NONCE_BYTES, MAX_ACE_OSCORE_NONCE_BYTES);
  const id1 = optionalBytes(v, ACE_OSCORE_PARAM.ace_client_recipientid, 'ace_client_recipientid', 0, MAX_ACE_OSCORE_ID_BYTES);
  if (nonce1) req.nonce1 = nonce1;
  if (id1) req.clientRecipientId = id1;
  return req;
}

/**
 * The material a context derives from: the token's cnf osc(4), or a symmetric PoP key the service
 * sealed for the device (RFC 8747 §3.3), which RFC 9203 §3.2 makes the Master Secret ("The PoP
 * key included in the response from the AS MUST be used as a Master Secret in OSCORE"), its kid
 * the material's id, with the RFC 8613 defaults for the rest. An asymmetric PoP key has none.
 */
export function oscoreMaterialOf(entry: Pick<AcceptedToken, 'osc' | 'popKey'>): OscoreInputMaterial | undefined {
  if (entry.osc) return entry.osc;
  const key = entry.popKey;
  if (key.kty !== 'Symmetric' || !key.k || key.k.length < 16) return undefined;
  return { id: key.kid ?? new Uint8Array(0), ms: key.k };
}

/** The RS's side of §4.2–4.3 on a decoded request. Throws DeviceError. */
function exchange<C>(opts: AuthzInfoOptions<C>, req: AuthzInfoRequest): AuthzInfoAnswer {
  const entry = opts.accept(req.token);
  const material = oscoreMaterialOf(entry);
  if (!material) {
    // A token bound to a public key: RFC 9200 §5.10.1 (stored; 2.01), proven by PoP proofs, no OSCORE.
    if (req.nonce1 || req.clientRecipientId) throw badRequest('authz-info: nonce1/ace_client_recipientid sent with a token bound to a public key: it has no Master Secret for OSCORE');
    return answer(201);
  }
  // A symmetric-key token posted bare (RFC 9200 §5.10.1) is stored: the client proves it later.
  if (!entry.osc && !req.nonce1 && !req.clientRecipientId) return answer(201);
  // RFC 9203 §4.2: a missing expected parameter (N1 or ID1) is 4.00.
  if (!req.nonce1 || !req.clientRecipientId) throw badRequest('authz-info: a coap_oscore token needs nonce1(40) and ace_client_recipientid(43) (RFC 9203 §4.1)');
  const nonce1Hex = toHex(req.nonce1);
  if (opts.contexts.hasNonce1(entry.hashHex, nonce1Hex)) {
    throw new DeviceError(DEVICE_ERR.REPLAY, 'authz-info: this token was already posted with this nonce1 (RFC 9203 §4.1: N1 must be fresh)');
  }
  const nonce2 = opts.provider.randomBytes(ACE_OSCORE_NONCE_BYTES);
  const id2 = opts.contexts.allocateRecipientId(req.clientRecipientId);
  let input: AceOscoreContextInput;
  let context: C;
  try {
    input = aceOscoreContextInput(material, { nonce1: req.nonce1, nonce2, clientRecipientId: req.clientRecipientId, serverRecipientId: id2 }, 'server');
    context = opts.derive(input);
  } catch (cause) {
    // RFC 9203 §4.2: parameters it cannot use (an unknown algorithm, ID1 out of bounds) are 4.00.
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, `authz-info: no OSCORE context from this material (${cause instanceof Error && 'code' in cause ? String(cause.code) : 'error'})`);
  }
  const installed: OscoreContextEntry<C> = {
    recipientId: id2,
    clientRecipientId: req.clientRecipientId.slice(),
    tokenHash: entry.hash,
    tokenHashHex: entry.hashHex,
    subject: entry.subject,
    nonce1Hex,
    context,
    proven: false,
  };
  opts.contexts.install(installed);
  opts.onContext?.(installed);
  const body = new Map<CborValue, CborValue>([
    [ACE_OSCORE_PARAM.nonce2, nonce2],
    [ACE_OSCORE_PARAM.ace_server_recipientid, id2],
  ]);
  return answer(201, encodeCbor(body), CONTENT_FORMAT_ACE_CBOR);
}

/**
 * POST /authz-info: payload and Content-Format in, the answer out; never throws. A Content-Format
 * other than application/ace+cbor (or none, for a bare token) is 4.15 (RFC 7252 §5.10.3).
 */
export function handleAuthzInfo<C>(opts: AuthzInfoOptions<C>, payload: Uint8Array, contentFormat?: number): AuthzInfoAnswer {
  if (contentFormat !== undefined && contentFormat !== CONTENT_FORMAT_ACE_CBOR && contentFormat !== 61 /* application/cwt */) {
    return answer(415);
  }
  try {
    return exchange(opts, decodeAuthzInfoPayload(payload));
  } catch (error) {
    return refusalAnswer(error, opts.hints);
  }
}

/** A refusal: its registry CoAP code, and the RFC 9200 §5.3 hints as an ace+cbor payload. */
export function refusalAnswer(error: unknown, hints?: () => RequestHints): AuthzInfoAnswer {
  if (!(error instanceof DeviceError)) return answer(500);
  const h = error.hints ?? (error.code === DEVICE_ERR.BAD_REQUEST ? undefined : hints?.());
  return h ? answer(deviceRefusalWire(error.code).coap, encodeCbor(hintsToMap(h)), CONTENT_FORMAT_ACE_CBOR) : answer(deviceRefusalWire(error.code).coap);
}

// ---- the client's side of the same exchange ----

/** RFC 9203 §4.1: the client's POST payload. */
export function encodeAuthzInfoPayload(req: Required<AuthzInfoRequest>): Uint8Array {
  return encodeCbor(
    new Map<CborValue, CborValue>([
      [ACE_OSCORE_PARAM.access_token, req.token],
      [ACE_OSCORE_PARAM.nonce1, req.nonce1],
      [ACE_OSCORE_PARAM.ace_client_recipientid, req.clientRecipientId],
    ]),
  );
}

/** RFC 9203 §4.2: the 2.01 payload, strictly: N2 and ID2, bounded, nothing else. */
export function decodeAuthzInfoAnswer(payload: Uint8Array): { nonce2: Uint8Array; serverRecipientId: Uint8Array } {
  let v: CborValue;
  try {
    v = decodeCbor(payload, { maxBytes: 256, maxDepth: 2 });
  } catch {
    throw badRequest('authz-info answer: not CBOR');
  }
  if (!isMap(v) || v.size !== 2) throw badRequest('authz-info answer: expected {nonce2(42), ace_server_recipientid(44)}');
  const nonce2 = optionalBytes(v, ACE_OSCORE_PARAM.nonce2, 'nonce2', MIN_ACE_OSCORE_NONCE_BYTES, MAX_ACE_OSCORE_NONCE_BYTES);
  const id2 = optionalBytes(v, ACE_OSCORE_PARAM.ace_server_recipientid, 'ace_server_recipientid', 0, MAX_ACE_OSCORE_ID_BYTES);
  if (!nonce2 || !id2) throw badRequest('authz-info answer: nonce2(42) and ace_server_recipientid(44) are both required (RFC 9203 §4.2)');
  return { nonce2, serverRecipientId: id2 };
}

/**
 * The client's §4.3 setup after the 2.01: refuses (RFC 9203 §4.3 "MUST stop the exchange") when
 * ID2 equals ID1 or a parameter is missing; returns the derivation input (Sender ID = ID2).
 */
export function clientContextInput(
  material: OscoreInputMaterial,
  sent: { nonce1: Uint8Array; clientRecipientId: Uint8Array },
  answerPayload: Uint8Array,
): AceOscoreContextInput {
  const { nonce2, serverRecipientId } = decodeAuthzInfoAnswer(answerPayload);
  try {
    return aceOscoreContextInput(material, { nonce1: sent.nonce1, nonce2, clientRecipientId: sent.clientRecipientId, serverRecipientId }, 'client');
  } catch (cause) {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, `authz-info answer: ${(cause as Error).message}`, { cause });
  }
}

/** A client's ID1 when it chooses none: short (RFC 8613 §3.3), random so parallel exchanges differ. */
const CLIENT_RECIPIENT_ID_BYTES = 1;

/**
 * The client's whole exchange (RFC 9203 §4.1, §4.3): a fresh N1 (64 bits, §4.1's recommendation)
 * and ID1, the payload to POST, and `finish` to turn the 2.01 payload into the context input
 * (Sender ID = ID2). N1 is kept only in this closure, as long as the answer is awaited.
 */
export function beginAceOscore(
  token: Uint8Array,
  material: OscoreInputMaterial,
  provider: Pick<CryptoProvider, 'randomBytes'>,
  clientRecipientId: Uint8Array = provider.randomBytes(CLIENT_RECIPIENT_ID_BYTES),
): { payload: Uint8Array; clientRecipientId: Uint8Array; finish(answerPayload: Uint8Array): AceOscoreContextInput } {
  const nonce1 = provider.randomBytes(ACE_OSCORE_NONCE_BYTES);
  return {
    payload: encodeAuthzInfoPayload({ token, nonce1, clientRecipientId }),
    clientRecipientId,
    finish: (answerPayload) => clientContextInput(material, { nonce1, clientRecipientId }, answerPayload),
  };
}
