/**
 * Scopes: what a token lets its holder do. Three forms arrive in the scope claim (9):
 * - AIF-REST (RFC 9237 §3): `[[path, methods], ...]`, methods a bit set (GET 1 ... iPATCH 64, and
 *   the same methods shifted by 32 for resources created dynamically under the path);
 * - AIF-MQTT (RFC 9431 §3): `[[topic_filter, ["pub", "sub"]], ...]`;
 * - text (RFC 6749 §3.3): space-separated scope tokens, for clients that speak OAuth.
 * Parsing is strict (one shape per form, bounded sizes, typed errors); matching fails closed.
 */
import { ScopeError, ERR } from './errors.js';
import { asSafeInteger, type CborValue } from './cbor-value.js';
import { filtersCover, isValidTopicFilter, isValidTopicName, topicMatches } from './mqtt-topic.js';

/** A token for one device lists a handful of resources; 64 entries is ample and bounds the work per request. */
export const MAX_SCOPE_ENTRIES = 64;
/** Resource paths on constrained devices are short; 255 characters keeps a scope inside one token budget. */
export const MAX_AIF_PATH_LENGTH = 255;
/**
 * Topic filters in a token: MQTT allows 65535 bytes (§1.5.3), but a token of a few hundred bytes
 * cannot usefully carry more than this, and the cover check's cost grows with the level count.
 */
export const MAX_AIF_TOPIC_FILTER_LENGTH = 1024;
/** Text scope claim: a long OAuth scope string is a few hundred characters. */
export const MAX_TEXT_SCOPE_LENGTH = 4096;

export type RestMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'FETCH' | 'PATCH' | 'iPATCH';
export type MqttAction = 'pub' | 'sub';

/** RFC 9237 §3: bit 2^(X-1) for the CoAP/HTTP method with method number X. */
export const REST_METHOD_BITS: Readonly<Record<RestMethod, number>> = Object.freeze({
  GET: 1,
  POST: 2,
  PUT: 4,
  DELETE: 8,
  FETCH: 16,
  PATCH: 32,
  iPATCH: 64,
});
const METHODS = Object.keys(REST_METHOD_BITS) as RestMethod[];
/** RFC 9237 §3: the dynamic-resource variant of a method is its bit shifted left by 32. */
const DYNAMIC_SHIFT = 2 ** 32;
const STATIC_MASK = 127;
const MAX_METHOD_SET = STATIC_MASK * DYNAMIC_SHIFT + STATIC_MASK;

export interface AifRestEntry {
  /** The URI local part (path, optionally query), starting with "/". */
  path: string;
  /** Methods allowed on `path` itself, in bit order. */
  methods: RestMethod[];
  /** Methods allowed on resources created dynamically at `path` (RFC 9237 §3, bits 2^32 up). */
  dynamic: RestMethod[];
}

export interface AifMqttEntry {
  filter: string;
  actions: MqttAction[];
}

export type Scope =
  | { kind: 'aif-rest'; entries: AifRestEntry[] }
  | { kind: 'aif-mqtt'; entries: AifMqttEntry[] }
  | { kind: 'text'; tokens: string[] };

export type ScopeKind = Scope['kind'];

export type ScopeRequest =
  /** `dynamic`: the request targets a resource created dynamically under `resource` (RFC 9237 §3). */
  | { method: RestMethod; resource: string; dynamic?: boolean }
  /** For 'pub', `topic` is a topic name; for 'sub', a topic filter. */
  | { action: MqttAction; topic: string }
  | { token: string };

function bad(message: string): ScopeError {
  return new ScopeError(ERR.SCOPE_INVALID, `scope(9): ${message}`);
}

/* ------------------------------------------------------------------ method sets */

function methodsFromBits(bits: number): RestMethod[] {
  return METHODS.filter((m) => (bits & REST_METHOD_BITS[m]) !== 0);
}

function bitsFromMethods(methods: readonly RestMethod[], what: string): number {
  let bits = 0;
  for (const m of methods) {
    const bit = Object.hasOwn(REST_METHOD_BITS, m) ? REST_METHOD_BITS[m] : undefined;
    if (bit === undefined) throw bad(`${what}: unknown method ${JSON.stringify(String(m)).slice(0, 20)}`);
    if (bits & bit) throw bad(`${what}: method ${m} listed twice`);
    bits |= bit;
  }
  return bits;
}

/** The REST-method-set integer of an entry (RFC 9237 §3). */
export function restMethodSet(entry: Pick<AifRestEntry, 'methods' | 'dynamic'>): number {
  return bitsFromMethods(entry.methods, 'methods') + bitsFromMethods(entry.dynamic, 'dynamic') * DYNAMIC_SHIFT;
}

/* ------------------------------------------------------------------ validation */

// RFC 3986 §3.3/§3.4 characters of a path-absolute with an optional query; no fragment, no spaces.
const URI_LOCAL_PART = /^\/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*$/;
// RFC 3986 §2.1: '%' is always followed by two hex digits.
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

function checkPath(path: unknown, i: number): string {
  if (typeof path !== 'string') throw bad(`entry ${i}: path must be a text string`);
  if (path.length > MAX_AIF_PATH_LENGTH) throw bad(`entry ${i}: path longer than ${MAX_AIF_PATH_LENGTH}`);
  // RFC 9237 §3: the object identifier is the URI local part, which starts with "/".
  if (!URI_LOCAL_PART.test(path) || BAD_PERCENT.test(path)) {
    throw bad(`entry ${i}: path must be a URI local part starting with "/"`);
  }
  return path;
}

function checkFilter(filter: unknown, i: number): string {
  if (typeof filter !== 'string') throw bad(`entry ${i}: topic filter must be a text string`);
  if (filter.length > MAX_AIF_TOPIC_FILTER_LENGTH) {
    throw bad(`entry ${i}: topic filter longer than ${MAX_AIF_TOPIC_FILTER_LENGTH}`);
  }
  if (!isValidTopicFilter(filter)) throw bad(`entry ${i}: not a valid MQTT topic filter`);
  return filter;
}

function checkEntryCount(n: number): void {
  if (n > MAX_SCOPE_ENTRIES) throw bad(`more than ${MAX_SCOPE_ENTRIES} entries`);
}

function checkUnique(keys: string[], what: string): void {
  // One entry per object: two entries for one path (or filter) would make the grant depend on
  // which one a reader looks at; RFC 9237 §2 expects each object once, so we refuse rather than guess.
  if (new Set(keys).size !== keys.length) throw bad(`the same ${what} appears in two entries`);
}

function parseRestEntry(value: CborValue, i: number): AifRestEntry {
  if (!Array.isArray(value) || value.length !== 2) throw bad(`entry ${i}: expected [path, methods]`);
  const path = checkPath(value[0], i);
  const bits = asSafeInteger(value[1]);
  if (bits === undefined || bits < 0) throw bad(`entry ${i}: methods must be an unsigned integer`);
  if (bits > MAX_METHOD_SET) throw bad(`entry ${i}: methods has unknown bits`);
  const low = bits % DYNAMIC_SHIFT;
  const high = Math.floor(bits / DYNAMIC_SHIFT);
  // Strict: a bit we do not know is a permission we cannot enforce; refuse the whole scope.
  if (low > STATIC_MASK || high > STATIC_MASK) throw bad(`entry ${i}: methods has unknown bits`);
  // An entry that grants nothing is a broken issuer, not a harmless no-op.
  if (bits === 0) throw bad(`entry ${i}: methods is empty`);
  return { path, methods: methodsFromBits(low), dynamic: methodsFromBits(high) };
}

function parseMqttEntry(value: CborValue, i: number): AifMqttEntry {
  if (!Array.isArray(value) || value.length !== 2) throw bad(`entry ${i}: expected [topic_filter, permissions]`);
  const filter = checkFilter(value[0], i);
  const perms = value[1];
  // RFC 9431 §3: permissions = [+action], action = "pub" / "sub".
  if (!Array.isArray(perms) || perms.length === 0 || perms.length > 2) {
    throw bad(`entry ${i}: permissions must be ["pub"], ["sub"] or ["pub", "sub"]`);
  }
  const actions: MqttAction[] = [];
  for (const p of perms) {
    if (p !== 'pub' && p !== 'sub') throw bad(`entry ${i}: permission must be "pub" or "sub"`);
    if (actions.includes(p)) throw bad(`entry ${i}: permission ${p} listed twice`);
    actions.push(p);
  }
  return { filter, actions };
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), tokens separated by one space.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

function parseTextScope(text: string): Scope {
  if (text.length > MAX_TEXT_SCOPE_LENGTH) throw bad(`text scope longer than ${MAX_TEXT_SCOPE_LENGTH}`);
  const tokens = text.split(' ');
  if (tokens.length > MAX_SCOPE_ENTRIES) throw bad(`more than ${MAX_SCOPE_ENTRIES} scope tokens`);
  for (const t of tokens) {
    // Empty tokens come from leading, trailing or doubled spaces; the grammar has none.
    if (!SCOPE_TOKEN.test(t)) throw bad('text scope: tokens are printable ASCII (no " or \\) separated by single spaces');
  }
  // Order carries no meaning (RFC 6749 §3.3) and a repeat grants nothing more: keep each once.
  return { kind: 'text', tokens: [...new Set(tokens)] };
}

/**
 * Reads a scope claim value. A text string is a text scope; an array is AIF, REST when the
 * permissions are integers and MQTT when they are arrays (an empty array is read as `expect`, or
 * AIF-REST, and grants nothing either way). `expect` refuses any other form.
 */
export function parseScope(value: CborValue, options: { expect?: ScopeKind } = {}): Scope {
  const scope = parseAnyScope(value, options.expect);
  if (options.expect && scope.kind !== options.expect) throw bad(`expected a ${options.expect} scope, got ${scope.kind}`);
  return scope;
}

/**
 * parseScope(value, { expect: 'aif-rest' }) for a device: the same rules and refusals, without
 * the MQTT topic code, so a device bundle does not carry what it never reads.
 */
export function parseRestScope(value: CborValue): Scope & { kind: 'aif-rest' } {
  // A text scope is refused whatever its tokens (the same code parseScope gives either way), so
  // it is not read first: a device bundle then carries no text scope parser.
  if (typeof value === 'string') throw bad('expected a aif-rest scope, got text');
  if (!Array.isArray(value)) throw bad('expected a text string or an AIF array');
  checkEntryCount(value.length);
  const first = value[0];
  if (Array.isArray(first) && first.length === 2 && Array.isArray(first[1])) throw bad('expected a aif-rest scope, got aif-mqtt');
  const entries = value.map((e, i) => parseRestEntry(e, i));
  checkUnique(entries.map((e) => e.path), 'path');
  return { kind: 'aif-rest', entries };
}

/** scopeAllows for a REST request alone (RFC 9237), likewise without the MQTT code. */
export function restScopeAllows(scope: Scope, request: { method: RestMethod; resource: string; dynamic?: boolean }): boolean {
  if (scope.kind !== 'aif-rest' || typeof request.resource !== 'string') return false;
  if (!Object.hasOwn(REST_METHOD_BITS, request.method)) return false;
  return scope.entries.some((e) => e.path === request.resource && (request.dynamic ? e.dynamic : e.methods).includes(request.method));
}

function parseAnyScope(value: CborValue, expect: ScopeKind | undefined): Scope {
  if (typeof value === 'string') return parseTextScope(value);
  if (!Array.isArray(value)) {
    // RFC 9200 §5.8.1 also allows a byte string scope, with a meaning private to the application.
    throw bad('expected a text string or an AIF array');
  }
  checkEntryCount(value.length);
  if (value.length === 0) {
    return expect === 'aif-mqtt' ? { kind: 'aif-mqtt', entries: [] } : { kind: 'aif-rest', entries: [] };
  }
  const first = value[0];
  const isMqtt = Array.isArray(first) && first.length === 2 && Array.isArray(first[1]);
  if (isMqtt) {
    const entries = value.map((e, i) => parseMqttEntry(e, i));
    checkUnique(entries.map((e) => e.filter), 'topic filter');
    return { kind: 'aif-mqtt', entries };
  }
  const entries = value.map((e, i) => parseRestEntry(e, i));
  checkUnique(entries.map((e) => e.path), 'path');
  return { kind: 'aif-rest', entries };
}

/** The scope claim value to put in a token (validated on the way out, too). */
export function scopeToCbor(scope: Scope): CborValue {
  switch (scope.kind) {
    case 'text': {
      const text = scope.tokens.join(' ');
      parseTextScope(text);
      return text;
    }
    case 'aif-rest': {
      checkEntryCount(scope.entries.length);
      const out: CborValue[] = scope.entries.map((e, i) => {
        const bits = restMethodSet(e);
        if (bits === 0) throw bad(`entry ${i}: methods is empty`);
        return [checkPath(e.path, i), bits];
      });
      checkUnique(scope.entries.map((e) => e.path), 'path');
      return out;
    }
    case 'aif-mqtt': {
      checkEntryCount(scope.entries.length);
      const out: CborValue[] = scope.entries.map((e, i) => {
        const entry: CborValue = [checkFilter(e.filter, i), [...e.actions]];
        parseMqttEntry(entry, i);
        return entry;
      });
      checkUnique(scope.entries.map((e) => e.filter), 'topic filter');
      return out;
    }
    default:
      throw bad('unknown scope kind');
  }
}

/* ------------------------------------------------------------------ builders */

/**
 * `aifRest([['/temp', ['GET']], ['/config', ['GET', 'PUT'], { dynamic: ['DELETE'] }]])`.
 * Validates as parseScope does.
 */
export function aifRest(
  entries: ReadonlyArray<readonly [path: string, methods: readonly RestMethod[], extra?: { dynamic?: readonly RestMethod[] }]>,
): Scope & { kind: 'aif-rest' } {
  const wire = entries.map(([path, methods, extra]) =>
    [path, restMethodSet({ methods: [...methods], dynamic: [...(extra?.dynamic ?? [])] })] as CborValue,
  );
  return parseScope(wire, { expect: 'aif-rest' }) as Scope & { kind: 'aif-rest' };
}

/** `aifMqtt([['sensors/+/temp', ['pub', 'sub']], ['alerts/#', ['sub']]])`. Validates as parseScope does. */
export function aifMqtt(
  entries: ReadonlyArray<readonly [filter: string, actions: readonly MqttAction[]]>,
): Scope & { kind: 'aif-mqtt' } {
  const wire = entries.map(([filter, actions]) => [filter, [...actions]] as CborValue);
  return parseScope(wire, { expect: 'aif-mqtt' }) as Scope & { kind: 'aif-mqtt' };
}

/** `textScope('read_result write_config')` or `textScope(['read_result', 'write_config'])`. */
export function textScope(tokens: string | readonly string[]): Scope & { kind: 'text' } {
  return parseTextScope(typeof tokens === 'string' ? tokens : tokens.join(' ')) as Scope & { kind: 'text' };
}

/* ------------------------------------------------------------------ matching */

/**
 * Does `scope` allow `request`? A request of another form than the scope (an MQTT request against
 * a REST scope, say) is refused. REST matches the path exactly, as RFC 9237 §3 defines objects by
 * their URI local part (no prefixes, no normalisation). For MQTT 'pub' the topic name must match a
 * filter granted 'pub'; for 'sub' every topic the requested filter can match must be matched by a
 * filter granted 'sub' (RFC 9431 §3). Text scopes match a token exactly.
 */
export function scopeAllows(scope: Scope, request: ScopeRequest): boolean {
  if ('method' in request) return restScopeAllows(scope, request);
  if ('action' in request) {
    if (scope.kind !== 'aif-mqtt') return false;
    const granted = scope.entries.filter((e) => e.actions.includes(request.action)).map((e) => e.filter);
    if (request.action === 'pub') {
      return isValidTopicName(request.topic) && granted.some((f) => topicMatches(f, request.topic));
    }
    if (request.action === 'sub') return filtersCover(granted, request.topic);
    return false;
  }
  if ('token' in request) {
    return scope.kind === 'text' && scope.tokens.includes(request.token);
  }
  return false;
}

/**
 * The part of `requested` that `granted` allows, for an authorization service that grants less
 * than asked (RFC 6749 §3.3). REST: per path, the methods both allow. MQTT: requested entries whose
 * filter `granted` covers, with the actions it covers. Text: the tokens in both. Null when nothing
 * remains or the forms differ.
 */
export function narrowScope(requested: Scope, granted: Scope): Scope | null {
  if (requested.kind === 'text' && granted.kind === 'text') {
    const tokens = requested.tokens.filter((t) => granted.tokens.includes(t));
    return tokens.length ? { kind: 'text', tokens } : null;
  }
  if (requested.kind === 'aif-rest' && granted.kind === 'aif-rest') {
    const entries: AifRestEntry[] = [];
    for (const r of requested.entries) {
      const g = granted.entries.find((e) => e.path === r.path);
      if (!g) continue;
      const methods = r.methods.filter((m) => g.methods.includes(m));
      const dynamic = r.dynamic.filter((m) => g.dynamic.includes(m));
      if (methods.length || dynamic.length) entries.push({ path: r.path, methods, dynamic });
    }
    return entries.length ? { kind: 'aif-rest', entries } : null;
  }
  if (requested.kind === 'aif-mqtt' && granted.kind === 'aif-mqtt') {
    const entries: AifMqttEntry[] = [];
    for (const r of requested.entries) {
      const actions = r.actions.filter((a) =>
        filtersCover(granted.entries.filter((g) => g.actions.includes(a)).map((g) => g.filter), r.filter),
      );
      if (actions.length) entries.push({ filter: r.filter, actions });
    }
    return entries.length ? { kind: 'aif-mqtt', entries } : null;
  }
  return null;
}
