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
  isMap,
  type CborMap,
  type CborValue,
  ACE_GRANT_TYPE,
  TOKEN_TYPE_POP,
  ACE_PARAM,
  CLAIM,
} from '../cose/index.js';
import { invalidRequest, unsupportedGrantType } from './errors.js';
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

function textToBytes(name: string, value: string): Uint8Array {
  try {
    return fromBase64Url(value);
  } catch {
    throw invalidRequest(`parameter ${name} must be base64url`);
  }
}

export function decodeParams(body: Uint8Array, encoding: Encoding): Params {
  if (body.length > MAX_BODY_BYTES) throw invalidRequest('request body too large');
  const out: Params = new Map();
  if (encoding === 'cbor') {
    let value: CborValue;
    try {
      value = decodeCbor(body, { maxBytes: MAX_BODY_BYTES, maxDepth: MAX_REQUEST_DEPTH });
    } catch (e) {
      throw invalidRequest(`malformed CBOR (${(e as { code?: string }).code ?? 'error'})`);
    }
    if (!isMap(value)) throw invalidRequest('the request must be a CBOR map');
    for (const [k, v] of value) {
      let name: string | undefined;
      if (typeof k === 'number') name = NAME_BY_ABBREV.get(k);
      else if (typeof k === 'string' && !(k in ACE_PARAM)) name = k; // RFC 9200 §5.8.1: parameters without an abbreviation use their name
      if (!name) throw invalidRequest(`unknown parameter ${String(k)}`);
      if (name === 'grant_type' && typeof v === 'number') {
        const g = GRANT_BY_VALUE.get(v);
        if (!g) throw unsupportedGrantType(`grant_type ${v} is not known`);
        setOnce(out, name, g);
        continue;
      }
      if (name === 'req_cnf' || name === 'scope' || name === 'cnf' || name === 'rs_cnf') {
        setOnce(out, name, v);
        continue;
      }
      if (BYTE_PARAMS.has(name)) {
        if (!(v instanceof Uint8Array)) throw invalidRequest(`parameter ${name} must be a byte string`);
      } else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw invalidRequest(`parameter ${name} has the wrong type`);
      }
      setOnce(out, name, v);
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
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalidRequest(`parameter ${name} has the wrong type`);
      setOnce(out, name, typeof v === 'string' && BYTE_PARAMS.has(name) && name !== 'subject_token' && name !== 'client_assertion' ? textToBytes(name, v) : v);
    }
    return out;
  }
  for (const [name, v] of new URLSearchParams(str)) {
    // Form encoding has only text: an AIF scope is the JSON text of its array (starts with "[").
    if (name === 'scope' && isAifJsonText(v)) {
      setOnce(out, name, aifJsonValue(v));
      continue;
    }
    setOnce(out, name, BYTE_PARAMS.has(name) && name !== 'subject_token' && name !== 'client_assertion' ? textToBytes(name, v) : v);
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

export type ResponseValue = string | number | boolean | Uint8Array | CborMap | CborValue;

/** Encodes a response object in the request's encoding (JSON for form requests, RFC 6749 §5.1). */
export function encodeResponse(
  fields: Record<string, ResponseValue | undefined>,
  encoding: Encoding,
  table: Readonly<Record<string, number>> = ACE_PARAM,
): { body: Uint8Array; contentType: string } {
  if (encoding === 'cbor') {
    const m: CborMap = new Map();
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined) as [string, CborValue][];
    for (const [name, v] of entries) {
      const abbrev = table[name];
      // RFC 9200 §8.4: error codes are integers in CBOR where one is registered.
      m.set(abbrev ?? name, name === 'error' && typeof v === 'string' ? aceErrorValue(v) : v);
    }
    return { body: encodeCbor(m), contentType: CONTENT_TYPE.cbor };
  }
  const obj: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (v instanceof Uint8Array) obj[name] = toBase64Url(v);
    // RFC 9200 §8.7: the integer is token_type's CBOR mapping; JSON carries the name ("PoP"), as
    // introspection does, so a JSON client reads one value for one thing.
    else if (name === 'token_type' && typeof v === 'number') obj[name] = v === TOKEN_TYPE_POP ? 'PoP' : v;
    // An AIF scope is written in JSON as its JSON array form, as clients send it.
    else if (name === 'scope' && Array.isArray(v)) obj[name] = v;
    // cnf and rs_cnf are CBOR structures: base64url of their encoding in JSON.
    else if (v instanceof Map || Array.isArray(v)) obj[name] = toBase64Url(encodeCbor(v as CborValue));
    else obj[name] = v;
  }
  return { body: new TextEncoder().encode(JSON.stringify(obj)), contentType: 'application/json' };
}

