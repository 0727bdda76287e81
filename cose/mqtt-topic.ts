/**
 * MQTT topic names and topic filters exactly as MQTT 3.1.1 §4.7 defines them (aedes speaks 3.1.1),
 * the match of a filter against a name, and the question the broker asks at SUBSCRIBE: does what a
 * token grants cover every topic the requested filter could ever deliver?
 */
import { ScopeError, ERR } from './errors.js';

/** MQTT 3.1.1 §1.5.3: a UTF-8 string is prefixed by a two-byte length, so at most 65535 bytes. */
export const MAX_TOPIC_UTF8_BYTES = 65_535;

/**
 * A SUBSCRIBE is checked against every granted filter; a pathological scope (many `+` levels
 * against many literal siblings) could make the exact cover check explore many states. Past this
 * many steps we stop and refuse: failing closed beats hanging the broker.
 */
export const MAX_COVER_STEPS = 20_000;

const SINGLE = '+';
const MULTI = '#';

function bad(message: string): ScopeError {
  return new ScopeError(ERR.SCOPE_INVALID, message);
}

/** Length in bytes of the UTF-8 encoding, or -1 if the string holds a lone surrogate (not encodable). */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}

/** The checks §4.7.3 and §1.5.3 put on names and filters alike. Returns the reason, or null. */
function commonProblem(text: unknown, what: string): string | null {
  if (typeof text !== 'string') return `${what}: expected a string`;
  // §4.7.3: "All Topic Names and Topic Filters MUST be at least one character long".
  if (text.length === 0) return `${what}: empty`;
  // §4.7.3 / §1.5.3: must not include U+0000.
  if (text.includes('\u0000')) return `${what}: contains U+0000`;
  const n = utf8Length(text);
  // §1.5.3: well-formed UTF-8 (no surrogate code points), at most 65535 bytes.
  if (n < 0) return `${what}: not well-formed UTF-16/UTF-8 (lone surrogate)`;
  if (n > MAX_TOPIC_UTF8_BYTES) return `${what}: ${n} bytes, more than ${MAX_TOPIC_UTF8_BYTES}`;
  return null;
}

function topicNameProblem(name: unknown): string | null {
  const common = commonProblem(name, 'topic name');
  if (common) return common;
  // §4.7.1.1: wildcards "MUST NOT be used within a Topic Name".
  if ((name as string).includes(SINGLE) || (name as string).includes(MULTI)) return 'topic name: contains a wildcard';
  return null;
}

function topicFilterProblem(filter: unknown): string | null {
  const common = commonProblem(filter, 'topic filter');
  if (common) return common;
  const levels = (filter as string).split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    // §4.7.1.2: '#' "MUST be specified either on its own or following a topic level separator.
    // In either case it MUST be the last character specified in the Topic Filter".
    if (level.includes(MULTI) && (level !== MULTI || i !== levels.length - 1)) {
      return 'topic filter: # must be alone in the last level';
    }
    // §4.7.1.3: '+' "MUST occupy an entire level of the filter".
    if (level.includes(SINGLE) && level !== SINGLE) return 'topic filter: + must occupy a whole level';
  }
  return null;
}

export function isValidTopicName(name: unknown): name is string {
  return topicNameProblem(name) === null;
}

export function isValidTopicFilter(filter: unknown): filter is string {
  return topicFilterProblem(filter) === null;
}

/** Throws ScopeError (ERR_SCOPE_INVALID) unless `name` is a valid MQTT 3.1.1 topic name. */
export function assertTopicName(name: unknown): string {
  const problem = topicNameProblem(name);
  if (problem) throw bad(problem);
  return name as string;
}

/** Throws ScopeError (ERR_SCOPE_INVALID) unless `filter` is a valid MQTT 3.1.1 topic filter. */
export function assertTopicFilter(filter: unknown): string {
  const problem = topicFilterProblem(filter);
  if (problem) throw bad(problem);
  return filter as string;
}

/**
 * Does `filter` match the topic name `topic`? Both are validated first; an invalid one never
 * matches (false, not an exception: the caller is deciding whether to allow something).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (!isValidTopicFilter(filter) || !isValidTopicName(topic)) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  // §4.7.2: filters starting with a wildcard do not match names starting with '$'.
  if (t[0]!.startsWith('$') && (f[0] === SINGLE || f[0] === MULTI)) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    // §4.7.1.2: '#' matches the parent and any number of child levels ("sport/#" matches "sport").
    if (level === MULTI) return true;
    if (i >= t.length) return false;
    if (level !== SINGLE && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/* ----------------------------------------------------------------------------------------------
 * Filter covers filter. A requested filter R is allowed when every topic name R can match is
 * matched by at least one granted filter (the union, not just one: {"a", "a/+/#"} covers "a/#").
 * We walk R level by level carrying the set of positions reached in each granted filter, as in the
 * subset construction of an automaton. Where R has a wildcard, the level's value is any string; it
 * is enough to try every literal the granted filters expect at that point plus one "other" value
 * equal to none of them, since all "other" values lead to the same positions. A '#' in R loops on
 * itself; a state set seen again on that loop needs no second visit (a shortest counterexample
 * never repeats a state).
 * -------------------------------------------------------------------------------------------- */

/** A level value in the cover walk: a concrete string, or OTHER (a value no granted literal equals). */
const OTHER = null;
type LevelValue = string | typeof OTHER;

/** Every granted filter at position `pos`; ALL means some filter's '#' already accepts everything. */
type Positions = ReadonlyArray<readonly [filter: number, pos: number]> | 'ALL';

interface Walk {
  granted: string[][];
  steps: number;
  memo: Map<string, boolean>;
}

function advance(walk: Walk, positions: Positions, value: LevelValue, level: number): Positions {
  if (positions === 'ALL') return 'ALL';
  // §4.7.2: at the first level, a wildcard does not match a value starting with '$'.
  const dollar = level === 0 && value !== OTHER && value.startsWith('$');
  const next: Array<readonly [number, number]> = [];
  for (const [fi, pos] of positions) {
    const g = walk.granted[fi]!;
    if (pos >= g.length) continue; // the filter is used up: deeper topics do not match it
    const el = g[pos]!;
    if (el === MULTI) {
      if (!dollar) return 'ALL';
    } else if (el === SINGLE) {
      if (!dollar) next.push([fi, pos + 1]);
    } else if (value !== OTHER && el === value) {
      next.push([fi, pos + 1]);
    }
  }
  return next;
}

/** Would a topic ending here be matched? (All levels consumed, or '#' matching the parent level.) */
function acceptsEnd(walk: Walk, positions: Positions): boolean {
  if (positions === 'ALL') return true;
  return positions.some(([fi, pos]) => {
    const g = walk.granted[fi]!;
    return pos === g.length || (pos > 0 && g[pos] === MULTI);
  });
}

/** The level values worth trying where the requested filter has a wildcard. */
function candidates(walk: Walk, positions: Positions, level: number): LevelValue[] {
  if (positions === 'ALL') return [OTHER];
  const values = new Set<string>();
  for (const [fi, pos] of positions) {
    const el = walk.granted[fi]![pos];
    if (el === undefined || el === SINGLE || el === MULTI) continue;
    // §4.7.2: a requested wildcard at the first level never yields a '$' topic, so skip those.
    if (level === 0 && el.startsWith('$')) continue;
    values.add(el);
  }
  return [...values, OTHER];
}

/**
 * Where the topic stands: no level yet, exactly one empty level (the topic "" so far), or more.
 * A topic cannot end at the first two (§4.7.3: a topic name is at least one character), so no
 * granted filter has to match there; and only the first has the '$' rule.
 */
type Prefix = 'none' | 'empty' | 'some';

function nextPrefix(prefix: Prefix, value: LevelValue): Prefix {
  return prefix === 'none' && value === '' ? 'empty' : 'some';
}

function key(rIdx: number, prefix: Prefix, positions: Positions): string {
  if (positions === 'ALL') return 'ALL';
  const parts = positions.map(([f, p]) => `${f}.${p}`).sort();
  return `${rIdx}|${prefix}|${parts.join(',')}`;
}

/**
 * Fast, sound shortcut: does granted filter `g`, from position `pos`, alone cover the rest of the
 * request from `rIdx`? (Level by level: '#' covers all that follows, '+' covers '+' or a literal,
 * a literal covers itself.) A false here proves nothing; the full walk decides.
 */
function singleCovers(g: readonly string[], pos: number, req: readonly string[], rIdx: number, level: number): boolean {
  let i = pos;
  let j = rIdx;
  for (; j < req.length; i++, j++, level++) {
    const el = g[i];
    const r = req[j]!;
    if (el === undefined) return false;
    // §4.7.2: a granted wildcard at the first level does not reach a requested '$' literal.
    const dollar = level === 0 && r !== SINGLE && r !== MULTI && r.startsWith('$');
    if (el === MULTI) return !dollar;
    if (r === MULTI) return false;
    if (el === SINGLE) {
      if (dollar) return false;
    } else if (el !== r) return false;
  }
  return i === g.length || g[i] === MULTI;
}

function covers(walk: Walk, req: string[], rIdx: number, level: number, prefix: Prefix, positions: Positions, onLoop: Set<string>): boolean {
  if (positions === 'ALL') return true;
  // Nothing granted can match any more, and the topic is already valid: that topic is uncovered.
  if (positions.length === 0 && prefix === 'some') return false;
  if (++walk.steps > MAX_COVER_STEPS) return false;
  if (positions.some(([fi, pos]) => singleCovers(walk.granted[fi]!, pos, req, rIdx, level))) return true;
  const k = key(rIdx, prefix, positions);
  const known = walk.memo.get(k);
  if (known !== undefined) return known;
  // A topic may end here only if it already is a valid name; then some granted filter must match it.
  const endCovered = prefix !== 'some' || acceptsEnd(walk, positions);
  let result: boolean;
  if (rIdx === req.length) {
    result = endCovered;
  } else {
    const el = req[rIdx]!;
    const step = (v: LevelValue, nextIdx: number): boolean =>
      covers(walk, req, nextIdx, level + 1, nextPrefix(prefix, v), advance(walk, positions, v, level), onLoop);
    if (el === SINGLE) {
      result = candidates(walk, positions, level).every((v) => step(v, rIdx + 1));
    } else if (el === MULTI) {
      if (onLoop.has(k)) return true; // already being explored further up this '#' loop
      // '#' matches the parent level (the topic may end here) and any one more level, after which
      // '#' still stands.
      result = endCovered;
      if (result) {
        onLoop.add(k);
        result = candidates(walk, positions, level).every((v) => step(v, rIdx));
        onLoop.delete(k);
      }
    } else {
      result = step(el, rIdx + 1);
    }
  }
  // Results inside an open '#' loop may rest on the loop assumption; cache only settled ones.
  // (A false is always settled: the assumption only ever answers true.)
  if (onLoop.size === 0 || !result) walk.memo.set(k, result);
  return result;
}

/**
 * True when every topic name that `requested` can match is matched by at least one of `granted`.
 * Invalid filters (requested or granted) cover nothing. Fails closed past MAX_COVER_STEPS.
 */
export function filtersCover(granted: readonly string[], requested: string): boolean {
  if (!isValidTopicFilter(requested)) return false;
  const usable = granted.filter((g) => isValidTopicFilter(g)).map((g) => g.split('/'));
  if (usable.length === 0) return false;
  const walk: Walk = { granted: usable, steps: 0, memo: new Map() };
  const start = usable.map((_, i) => [i, 0] as const);
  return covers(walk, requested.split('/'), 0, 0, 'none', start, new Set());
}

/** True when every topic name `requested` can match is matched by `granted`. */
export function filterCovers(granted: string, requested: string): boolean {
  return filtersCover([granted], requested);
}
