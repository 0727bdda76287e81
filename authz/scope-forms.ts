/**
 * The forms one scope takes inside the service. A scope (cose's `Scope`) is text (RFC 6749 §3.3),
 * AIF-REST (RFC 9237, for devices) or AIF-MQTT (RFC 9431, for brokers). It arrives
 * - in CBOR as the scope claim value itself: a text string or the AIF array (RFC 9200 §5.8.1);
 * - in JSON as a string or the JSON array form of the AIF (`[["/temp", 1]]`);
 * - in form encoding and query strings as text, where text starting with "[" is the JSON array form.
 * It is stored (in records of codes, tokens, refresh tokens and policy) as one string: the text
 * scope, or the JSON text of the AIF array. The two cannot be confused: registration refuses text
 * scope tokens that start with "[" (see registry.ts), so no granted text scope starts with one.
 */
import { parseScope, scopeToCbor, type CborValue, type Scope } from '../cose/index.js';
import { invalidScope } from './errors.js';

/** Marks the JSON text of an AIF array in stored scopes and in form-encoded requests. */
const AIF_JSON_PREFIX = '[';

function parseOrInvalid(value: CborValue): Scope {
  try {
    return parseScope(value);
  } catch (e) {
    // cose's ScopeError messages name the offending entry, never a secret: safe to pass on.
    throw invalidScope((e as Error).message);
  }
}

/** Is this text (form parameter, query parameter, stored scope) the JSON form of an AIF array? */
export function isAifJsonText(text: string): boolean {
  return text.startsWith(AIF_JSON_PREFIX);
}

/** The array that JSON text stands for (shape checked later, by parseScope). */
export function aifJsonValue(text: string): CborValue {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidScope('a scope starting with "[" must be the JSON array form of an AIF scope');
  }
  if (!Array.isArray(value)) throw invalidScope('a scope starting with "[" must be an array');
  return value as CborValue;
}

function parseJsonAif(text: string): Scope {
  return parseOrInvalid(aifJsonValue(text));
}

/** A scope as a client sent it: CBOR/JSON value, or form/query text (JSON AIF when it starts with "["). */
export function scopeFromRequest(value: CborValue, options: { textMayBeJson: boolean }): Scope {
  if (typeof value === 'string') {
    if (options.textMayBeJson && isAifJsonText(value)) return parseJsonAif(value);
    return parseOrInvalid(value);
  }
  // RFC 9200 §5.8.1 allows a byte string scope with an application-defined meaning; we define none.
  if (!Array.isArray(value)) throw invalidScope('scope must be text or an AIF array');
  return parseOrInvalid(value);
}

/** The stored string of a scope. */
export function scopeToStored(scope: Scope): string {
  const wire = scopeToCbor(scope);
  return typeof wire === 'string' ? wire : JSON.stringify(wire);
}

/** Reads a stored scope back (records are ours, but a damaged row must not become a wider grant). */
export function scopeFromStored(stored: string): Scope {
  return isAifJsonText(stored) ? parseJsonAif(stored) : parseOrInvalid(stored);
}

/** The value for the CWT scope claim (9) and for `scope` in responses: text, or the AIF array. */
export function scopeWireValue(stored: string): CborValue {
  return scopeToCbor(scopeFromStored(stored));
}

/** Canonical stored form of a registered grant entry: an AIF grant's JSON text re-serialised. */
export function canonicalAifGrant(entry: string): { scope: Scope; text: string } {
  const scope = parseJsonAif(entry);
  if (scope.kind === 'text') throw invalidScope('an AIF grant must be an array');
  return { scope, text: scopeToStored(scope) };
}
