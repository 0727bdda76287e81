/**
 * Request and response parameters of the token, introspection and revocation endpoints in the
 * three encodings a client may use: application/ace+cbor with the RFC 9200 §8.10 integer
 * abbreviations, application/json, and application/x-www-form-urlencoded (RFC 6749). Decoding
 * is strict: unknown abbreviations, wrong types and repeated parameters are invalid_request.
 *
 * Byte-valued parameters (access_token, cnf, req_cnf, rs_cnf) are raw in CBOR; in JSON and form
 * they travel as base64url of their CBOR encoding (cnf maps as in RFC 8747).
 */
import {
  aceErrorValue,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  toBase64Url,
  utf8,
  isMap,
  type CborMap,
  type CborValue,
  ACE_GRANT_TYPE,
  ACE_PARAM,
  ACE_PARAM_TYPE,
  ACE_TOKEN_TYPE,
  CLAIM,
} from '../cose/index.js';
import { invalidClient, invalidGrant, invalidRequest, unsupportedGrantType } from './errors.js';
import { aifJsonValue, isAifJsonText } from './scope-forms.js';
import { parseStrictJson } from './strict-json.js';

export type Encoding = 'cbor' | 'json' | 'form';
export const CONTENT_TYPE: Record<Encoding, string> = {
  cbor: 'application/ace+cbor',
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
};

/** RFC 9200 §8.10 (and RFC 9201 for ace_profile, cnonce, rs_cnf): the CBOR abbreviations are ACE_PARAM (cose/). */
const NAME_BY_ABBREV = new Map<number, string>(Object.entries(ACE_PARAM).map(([n, a]) => [a, n]));

/** RFC 9200 §5.9.2: introspection responses use the CWT claim labels plus active 10 and the parameter abbreviations. */
export const INTROSPECTION_PARAM: Record<string, number> = {
  ...CLAIM, // ace_profile 38 and exi 40 among them
  active: ACE_PARAM.active,
  client_id: ACE_PARAM.client_id,
  token_type: ACE_PARAM.token_type,
};

/** RFC 9200 §8.11 grant_type values (ACE_GRANT_TYPE), by value; other grants use their text URI. */
const GRANT_BY_VALUE = new Map<number, string>(Object.entries(ACE_GRANT_TYPE).map(([name, v]) => [v, name]));

/** Names whose values are bytes (CBOR byte strings, base64url text elsewhere). */
const BYTE_PARAMS = new Set(['access_token', 'req_cnf', 'cnf', 'rs_cnf', 'token', 'cnonce', 'client_assertion', 'subject_token', 'pop_proof']);

/** A request body is at most this long: ours are under 1 KiB; 16 KiB leaves room and refuses floods. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Requests never nest deeper than req_cnf > COSE_Key or scope > entry > methods. */
const MAX_REQUEST_DEPTH = 6;
const MAX_PARAMS = 32;
const MAX_TEXT_PARAM = 2048;

export type ParamValue = string | number | boolean | Uint8Array | CborValue;
export type Params = Map<string, ParamValue>;

export function encodingOf(contentType: string | undefined): Encoding | undefined {
  const base = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (base === 'application/ace+cbor' || base === 'application/cbor') return 'cbor';
  if (base === 'application/json') return 'json';
  if (base === 'application/x-www-form-urlencoded') return 'form';
  return undefined;
}

function setOnce(out: Params, name: string, value: ParamValue): void {
  if (out.has(name)) throw invalidRequest(`parameter ${name} appears more than once`);
  if (out.size >= MAX_PARAMS) throw invalidRequest('too many parameters');
  if (typeof value === 'string' && value.length > MAX_TEXT_PARAM) throw invalidRequest(`parameter ${name} is too long`);
  out.set(name, value);
}

/** Byte parameters sent as text that stay text: a subject token or a client assertion (read by their own decoders). */
function keepsText(name: string): boolean {
  return name === 'subject_token' || name === 'client_assertion';
}

function textToBytes(name: string, value: string): Uint8Array {
  // The token of /introspect and /revoke may be a JWT access token (RFC 9068) as the client holds
  // it: its ASCII bytes are its identity, as issued (jwt-access-token.ts).
  if (name === 'token' && COMPACT_JWS.test(value)) return new Uint8Array(Buffer.from(value, 'ascii'));
  try {
    return fromBase64Url(value);
  } catch {
    throw invalidRequest(`parameter ${name} must be base64url`);
  }
}

/** RFC 7515 §7.1 compact serialisation: three base64url segments (a JWT access token, RFC 9068). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const TEXT_DECODER = new TextDecoder('utf-8', { fatal: true });

/** RFC 9200 §5.8.1: in a request ace_profile is null, nothing else. */
function profileRequest(v: unknown): null {
  if (v !== null) throw invalidRequest('ace_profile(38) in a request must be null (RFC 9200 §5.8.1)');
  return null;
}

/**
 * client_secret (25), code (29) and refresh_token (37) are byte strings in CBOR (RFC 9200 Table 5)
 * and text in JSON and form: the bytes are the UTF-8 of the text, so a value keeps one meaning in
 * every encoding. Bytes that are no UTF-8 cannot be a secret, code or refresh token of ours.
 */
function bytesAsText(name: string, v: Uint8Array): string {
  try {
    return TEXT_DECODER.decode(v);
  } catch {
    if (name === 'client_secret') throw invalidClient();
    throw invalidGrant(`${name} is not one this service issued`);
  }
}

const TEXT_AS_BYTES = new Set(['client_secret', 'code', 'refresh_token']);

/** An abbreviated parameter's value, checked against its Table 5 type (ACE_PARAM_TYPE). */
function abbreviatedValue(name: string, label: number, v: CborValue): ParamValue {
  // RFC 9200 Table 6 gives token_type_hint as text, and its own Figure 9 sends the §8.7 integer
  // (2 / PoP /): both are read; the hint only speeds up a look-up here, it decides nothing.
  if (name === 'token_type_hint') {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isSafeInteger(v))) throw invalidRequest(`token_type_hint(${label}) must be text or an integer (RFC 9200 Table 6, Figure 9)`);
    return v;
  }
  const type = ACE_PARAM_TYPE[name as keyof typeof ACE_PARAM];
  const wrong = (what: string) => invalidRequest(`${name}(${label}) must be ${what} (RFC 9200 Table 5)`);
  switch (type) {
    case 'bstr':
      if (!(v instanceof Uint8Array)) throw wrong('a byte string');
      return TEXT_AS_BYTES.has(name) ? bytesAsText(name, v) : v;
    case 'tstr':
      if (typeof v !== 'string') throw wrong('a text string');
      return v;
    case 'map':
      if (!isMap(v)) throw wrong('a map');
      return v;
    case 'scope':
      if (typeof v !== 'string' && !(v instanceof Uint8Array) && !Array.isArray(v)) throw wrong('a text string, a byte string or an AIF array');
      return v;
    case 'profile':
      return profileRequest(v);
    case 'bool':
      if (typeof v !== 'boolean') throw wrong('true or false');
      return v;
    case 'uint':
      if (name === 'grant_type') return grantOf(v);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw wrong('an unsigned integer');
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw wrong('an integer');
      return v;
    default:
      throw invalidRequest(`unknown parameter ${label}`);
  }
}

/**
 * grant_type (33): the RFC 9200 §8.11 integer for the grants that have one; the grants without
 * (token exchange, device code) by their URI. A registered grant spelled as text is refused: a
 * conformant client never sends it, and two spellings of one grant are two code paths to audit.
 */
function grantOf(v: CborValue): string {
  if (typeof v === 'number') {
    const g = GRANT_BY_VALUE.get(v);
    if (!g) throw unsupportedGrantType(`grant_type ${v} is not known`);
    return g;
  }
  if (typeof v !== 'string') throw invalidRequest('grant_type(33) must be an unsigned integer, or the URI of a grant without one (RFC 9200 §8.11)');
  if (v in ACE_GRANT_TYPE) throw invalidRequest(`grant_type ${v} is the integer ${ACE_GRANT_TYPE[v as keyof typeof ACE_GRANT_TYPE]} in CBOR (RFC 9200 §8.11)`);
  return v;
}

/** A parameter without an abbreviation (subject_token, client_assertion ...), by name. */
function namedValue(name: string, v: CborValue): ParamValue {
  if (BYTE_PARAMS.has(name)) {
    if (!(v instanceof Uint8Array)) throw invalidRequest(`parameter ${name} must be a byte string`);
  } else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw invalidRequest(`parameter ${name} has the wrong type`);
  }
  return v;
}

/**
 * The endpoint a body is for: at /introspect and /revoke, label 33 is token_type_hint (RFC 9200
 * §5.9.1 Table 6), not grant_type.
 */
export type Endpoint = 'token' | 'introspect';

export function decodeParams(body: Uint8Array, encoding: Encoding, endpoint: Endpoint = 'token'): Params {
  if (body.length > MAX_BODY_BYTES) throw invalidRequest('request body too large');
  const out: Params = new Map();
  if (encoding === 'cbor') {
    let value: CborValue;
    try {
      value = decodeCbor(body, { maxBytes: MAX_BODY_BYTES, maxDepth: MAX_REQUEST_DEPTH });
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'error';
      // cbor-x's module-level encode tags a JS Map (259) and byte arrays (64): say how to send
      // plain CBOR (LIBRARY-NOTES.md; README "First hour").
      const hint = code === 'ERR_CBOR_TAG_NOT_ALLOWED' && /tag (259|64) /.test((e as Error).message)
        ? '; tags 259 and 64 are how cbor-x writes a JS Map and a byte array: encode with new Encoder({ useRecords: false, useTag259ForMaps: false, tagUint8Array: false })'
        : '';
      throw invalidRequest(`malformed CBOR (${code})${hint}`);
    }
    if (!isMap(value)) throw invalidRequest('the request must be a CBOR map');
    for (const [k, v] of value) {
      let name: string | undefined;
      if (typeof k === 'number') name = k === ACE_PARAM.grant_type && endpoint === 'introspect' ? 'token_type_hint' : NAME_BY_ABBREV.get(k);
      else if (typeof k === 'string' && !(k in ACE_PARAM)) name = k; // RFC 9200 §5.8.1: parameters without an abbreviation use their name
      if (!name) throw invalidRequest(`unknown parameter ${String(k).slice(0, 40)}`);
      setOnce(out, name, typeof k === 'number' ? abbreviatedValue(name, k, v) : namedValue(name, v));
    }
    return out;
  }
  const text = new TextDecoder('utf-8', { fatal: true });
  let str: string;
  try {
    str = text.decode(body);
  } catch {
    throw invalidRequest('the body is not UTF-8');
  }
  if (encoding === 'json') {
    // Repeated names are refused, not last-wins (strict-json.ts).
    const obj = parseStrictJson(str);
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw invalidRequest('the request must be a JSON object');
    for (const [name, v] of Object.entries(obj)) {
      // An AIF scope travels in JSON as its JSON array form (scope-forms.ts); policy validates it.
      if (name === 'scope' && Array.isArray(v)) {
        setOnce(out, name, v as CborValue);
        continue;
      }
      // RFC 9200 §5.8.1: ace_profile null asks which profile to use (JSON's null, as CBOR's).
      if (name === 'ace_profile') {
        setOnce(out, name, profileRequest(v));
        continue;
      }
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalidRequest(`parameter ${name} has the wrong type`);
      setOnce(out, name, typeof v === 'string' && BYTE_PARAMS.has(name) && !keepsText(name) ? textToBytes(name, v) : v);
    }
    return out;
  }
  for (const [name, v] of new URLSearchParams(str)) {
    // Form encoding has no null: an empty ace_profile is the question of RFC 9200 §5.8.1.
    if (name === 'ace_profile') {
      setOnce(out, name, profileRequest(v === '' ? null : v));
      continue;
    }
    // Form encoding has only text: an AIF scope is the JSON text of its array (starts with "[").
    if (name === 'scope' && isAifJsonText(v)) {
      setOnce(out, name, aifJsonValue(v));
      continue;
    }
    setOnce(out, name, BYTE_PARAMS.has(name) && !keepsText(name) ? textToBytes(name, v) : v);
  }
  return out;
}

export function textParam(p: Params, name: string): string | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidRequest(`parameter ${name} must be text`);
  return v;
}

export function requireText(p: Params, name: string): string {
  const v = textParam(p, name);
  if (v === undefined || v === '') throw invalidRequest(`parameter ${name} is missing`);
  return v;
}

/** A byte parameter that may also arrive as base64url text (subject_token, client_assertion in form/JSON). */
export function bytesParam(p: Params, name: string): Uint8Array | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return textToBytes(name, v);
  throw invalidRequest(`parameter ${name} must be bytes`);
}

/** req_cnf / cnf: a CBOR cnf map in CBOR, base64url of one elsewhere. */
export function cnfParam(p: Params, name: string): CborValue | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    try {
      return decodeCbor(textToBytes(name, v), { maxBytes: 1024, maxDepth: 4 });
    } catch {
      throw invalidRequest(`parameter ${name} is not a CBOR cnf`);
    }
  }
  if (v instanceof Uint8Array) {
    try {
      return decodeCbor(v, { maxBytes: 1024, maxDepth: 4 });
    } catch {
      throw invalidRequest(`parameter ${name} is not a CBOR cnf`);
    }
  }
  return v as CborValue;
}

/** scope: text (space-separated), or an AIF array (CBOR array, JSON array, JSON text in form encoding). */
export function scopeParam(p: Params): CborValue | undefined {
  const v = p.get('scope');
  if (v === undefined) return undefined;
  if (typeof v === 'string' || Array.isArray(v) || v instanceof Uint8Array) return v as CborValue;
  throw invalidRequest('parameter scope has the wrong type');
}

/** RFC 9200 §5.8.2: the token type of every token keybound issues, by name (JSON, form answers). */
export const POP_TOKEN_TYPE = 'PoP';

/**
 * A response value in its Table 5 CBOR type (RFC 9200 §5.8.4.3): error codes as their §8.4 integer
 * where one is registered, token_type as its §8.7 integer, and client_secret, code and
 * refresh_token (text everywhere in keybound) as the byte string of their UTF-8.
 */
function cborWireValue(name: string, v: CborValue): CborValue {
  if (name === 'error' && typeof v === 'string') return aceErrorValue(v);
  if (name === 'token_type' && typeof v === 'string') return ACE_TOKEN_TYPE[v] ?? v;
  if (TEXT_AS_BYTES.has(name) && typeof v === 'string') return utf8(v);
  return v;
}

/** A map whose keys (at every depth) are all text: the CBOR form of a JSON object. */
function isTextKeyed(v: unknown): v is CborMap {
  return v instanceof Map && v.size > 0 && [...v].every(([k, x]) => typeof k === 'string' && (!(x instanceof Map) || isTextKeyed(x)));
}

function jsonOfTextKeyed(m: CborMap): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, x] of m) o[k as string] = x instanceof Map ? jsonOfTextKeyed(x) : x instanceof Uint8Array ? toBase64Url(x) : x;
  return o;
}

export type ResponseValue = string | number | boolean | Uint8Array | CborMap | CborValue;

/** Encodes a response object in the request's encoding (JSON for form requests, RFC 6749 §5.1). */
export function encodeResponse(
  fields: Record<string, ResponseValue | undefined>,
  encoding: Encoding,
  table: Readonly<Record<string, number>> = ACE_PARAM,
): { body: Uint8Array | string; contentType: string } {
  if (encoding === 'cbor') {
    const m: CborMap = new Map();
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined) as [string, CborValue][];
    for (const [name, v] of entries) {
      const abbrev = table[name];
      m.set(abbrev ?? name, abbrev === undefined ? v : cborWireValue(name, v));
    }
    return { body: encodeCbor(m), contentType: CONTENT_TYPE.cbor };
  }
  const obj: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (v instanceof Uint8Array) obj[name] = toBase64Url(v);
    // An AIF scope is written in JSON as its JSON array form, as clients send it.
    else if (name === 'scope' && Array.isArray(v)) obj[name] = v;
    // A JOSE confirmation is a JSON object in JSON answers: {"x5t#S256"} (RFC 8705 §3.2), {"jkt"}
    // (RFC 9449 §6.2), {"jwk"} (RFC 7800 §3.2); every key of those maps is text, unlike a COSE_Key's.
    else if (name === 'cnf' && isTextKeyed(v)) obj[name] = jsonOfTextKeyed(v);
    // cnf and rs_cnf are CBOR structures: base64url of their encoding in JSON.
    else if (v instanceof Map || Array.isArray(v)) obj[name] = toBase64Url(encodeCbor(v as CborValue));
    else obj[name] = v;
  }
  // The text itself: node:http sends a string body and its headers in one write, where bytes go
  // as a second buffer of a writev (issue 13's profile).
  return { body: JSON.stringify(obj), contentType: 'application/json' };
}

