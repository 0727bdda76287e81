import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  assertTopicFilter,
  assertTopicName,
  filterCovers,
  filtersCover,
  isValidTopicFilter,
  isValidTopicName,
  topicMatches,
  MAX_TOPIC_UTF8_BYTES,
  ERR,
  ScopeError,
} from '../cose/index.js';

describe('topic names (MQTT 3.1.1 §4.7.3)', () => {
  it('accepts ordinary names, empty levels and a leading $', () => {
    for (const n of ['sport/tennis/player1', '/', '/finance', 'a//b', '$SYS/broker/uptime', 'ünïcødé/温度']) {
      expect(isValidTopicName(n), n).toBe(true);
    }
  });
  it('refuses wildcards, empty names, U+0000, lone surrogates and over-long names', () => {
    for (const n of ['', 'a/+', 'a/#', 'a+b', 'x\u0000y', 'a\ud800', '\udc00b', 'é'.repeat(32768)]) {
      expect(isValidTopicName(n), JSON.stringify(n).slice(0, 30)).toBe(false);
    }
    expect(isValidTopicName(42)).toBe(false);
  });
  it('counts the 65535 limit in UTF-8 bytes, not characters', () => {
    expect(isValidTopicName('a'.repeat(MAX_TOPIC_UTF8_BYTES))).toBe(true);
    expect(isValidTopicName('a'.repeat(MAX_TOPIC_UTF8_BYTES + 1))).toBe(false);
    expect(isValidTopicName('é'.repeat(32767))).toBe(true); // 65534 bytes
    expect(isValidTopicName('😀'.repeat(16384))).toBe(false); // 65536 bytes
  });
  it('throws a typed error from assertTopicName', () => {
    expect(assertTopicName('a/b')).toBe('a/b');
    try {
      assertTopicName('a/#');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ScopeError);
      expect((e as ScopeError).code).toBe(ERR.SCOPE_INVALID);
    }
  });
});

describe('topic filters (MQTT 3.1.1 §4.7.1)', () => {
  it('accepts the spec examples of valid filters', () => {
    for (const f of ['#', 'sport/tennis/#', '+', '+/tennis/#', 'sport/+/player1', '/+', '+/+', 'sport/#', '/#', '$SYS/#']) {
      expect(isValidTopicFilter(f), f).toBe(true);
    }
  });
  it('refuses the spec examples of invalid filters', () => {
    // §4.7.1.2: "sport/tennis#" and "sport/tennis/#/ranking" are not valid; §4.7.1.3: "sport+" is not.
    for (const f of ['sport/tennis#', 'sport/tennis/#/ranking', 'sport+', '#/a', 'a/##', 'a/++', 'a/+b', '', 'a\u0000']) {
      expect(isValidTopicFilter(f), f).toBe(false);
    }
    expect(() => assertTopicFilter('sport+')).toThrow(ScopeError);
  });
});

describe('topicMatches (MQTT 3.1.1 §4.7.1, §4.7.2)', () => {
  it('# matches the parent level and every level below', () => {
    expect(topicMatches('sport/tennis/player1/#', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('sport/tennis/player1/#', 'sport/tennis/player1/ranking')).toBe(true);
    expect(topicMatches('sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon')).toBe(true);
    expect(topicMatches('sport/#', 'sport')).toBe(true);
    expect(topicMatches('#', 'anything/at/all')).toBe(true);
    expect(topicMatches('sport/tennis/player1/#', 'sport/tennis/player2')).toBe(false);
  });
  it('+ matches exactly one level, including an empty one', () => {
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player2')).toBe(true);
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player1/ranking')).toBe(false);
    expect(topicMatches('sport/+', 'sport')).toBe(false);
    expect(topicMatches('sport/+', 'sport/')).toBe(true);
    expect(topicMatches('+/+', '/finance')).toBe(true);
    expect(topicMatches('/+', '/finance')).toBe(true);
    expect(topicMatches('+', '/finance')).toBe(false);
  });
  it('literal levels match exactly (case-sensitive)', () => {
    expect(topicMatches('a/b', 'a/b')).toBe(true);
    expect(topicMatches('a/b', 'A/b')).toBe(false);
    expect(topicMatches('a/b', 'a/b/')).toBe(false);
  });
  it('filters starting with a wildcard do not match $ topics', () => {
    expect(topicMatches('#', '$SYS/monitor/Clients')).toBe(false);
    expect(topicMatches('+/monitor/Clients', '$SYS/monitor/Clients')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/monitor/Clients')).toBe(true);
    expect(topicMatches('$SYS/monitor/+', '$SYS/monitor/Clients')).toBe(true);
    // Only the first level is special.
    expect(topicMatches('a/+', 'a/$b')).toBe(true);
  });
  it('invalid filters or names never match', () => {
    expect(topicMatches('sport+', 'sport+')).toBe(false);
    expect(topicMatches('#', 'a/+')).toBe(false);
    expect(topicMatches('', '')).toBe(false);
  });
});

describe('filterCovers: a granted filter covers a requested filter', () => {
  it('covers identical, narrower and literal filters', () => {
    expect(filterCovers('sensors/+/temp', 'sensors/+/temp')).toBe(true);
    expect(filterCovers('sensors/+/temp', 'sensors/kitchen/temp')).toBe(true);
    expect(filterCovers('alerts/#', 'alerts/fire/#')).toBe(true);
    expect(filterCovers('alerts/#', 'alerts/+')).toBe(true);
    expect(filterCovers('alerts/#', 'alerts')).toBe(true);
    expect(filterCovers('alerts/#', 'alerts/#')).toBe(true);
    expect(filterCovers('#', '+/+/#')).toBe(true);
    expect(filterCovers('+/#', '#')).toBe(true);
  });
  it('does not cover broader filters', () => {
    expect(filterCovers('sensors/kitchen/temp', 'sensors/+/temp')).toBe(false);
    expect(filterCovers('sensors/+/temp', 'sensors/#')).toBe(false);
    expect(filterCovers('alerts/+', 'alerts/#')).toBe(false); // alerts/#  matches "alerts" and "alerts/a/b"
    expect(filterCovers('alerts/+/#', 'alerts/#')).toBe(false); // ... "alerts" itself is not covered
    expect(filterCovers('a/b', 'a/b/#')).toBe(false);
    expect(filterCovers('a/+', '+/+')).toBe(false);
  });
  it('keeps the $ rule: # does not cover $SYS/#, but $SYS/# does', () => {
    expect(filterCovers('#', '$SYS/#')).toBe(false);
    expect(filterCovers('+/x', '$SYS/x')).toBe(false);
    expect(filterCovers('$SYS/#', '$SYS/broker/+')).toBe(true);
    // A requested filter starting with a wildcard never yields $ topics, so none need covering.
    expect(filterCovers('#', '+/x')).toBe(true);
  });
  it('takes the union of granted filters', () => {
    expect(filtersCover(['a', 'a/+/#'], 'a/#')).toBe(true);
    expect(filtersCover(['a/+/#'], 'a/#')).toBe(false);
    expect(filtersCover(['a/x', 'a/+/y'], 'a/+')).toBe(false);
    expect(filtersCover(['+', '+/#'], '#')).toBe(true);
    expect(filtersCover(['a/b', 'a/c'], 'a/+')).toBe(false);
  });
  it('does not ask anything to cover the empty topic, which cannot exist (§4.7.3)', () => {
    // "/#" matches "/", "/x", ... and would match "" as its parent level, but "" is no topic name.
    expect(filtersCover(['/+/#'], '/#')).toBe(true);
    expect(filtersCover(['/+'], '/#')).toBe(false); // "/a/b" is not covered
  });
  it('refuses invalid requested or granted filters', () => {
    expect(filterCovers('#', 'a/#/b')).toBe(false);
    expect(filterCovers('a#', 'a')).toBe(false);
    expect(filtersCover([], 'a')).toBe(false);
  });
  it('ends quickly on a large scope of wildcards against a wide request (bounded work)', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const granted: string[] = [];
    for (let i = 0; i < 64; i++) {
      const levels: string[] = [];
      for (let j = 0; j < 10; j++) levels.push(rnd() < 0.6 ? '+' : String(Math.floor(rnd() * 8)));
      if (rnd() < 0.5) levels.push('#');
      // Keep one literal level in each, so that none covers the wide request on its own.
      if (!levels.some((l) => l !== '+' && l !== '#')) levels[0] = '0';
      granted.push(levels.join('/'));
    }
    const start = performance.now();
    expect(filtersCover(granted, '+/+/+/+/+/+/+/+/+/+/#')).toBe(false);
    expect(filtersCover([...granted, '+/+/+/+/+/+/+/+/+/+/#'], '+/+/+/+/+/+/+/+/+/+/#')).toBe(true);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe('filtersCover agrees with enumeration of topics', () => {
  // Levels drawn from a small alphabet; 'z' never appears in a filter, so it stands for "any other".
  const LEVELS = ['a', 'b', '', '$s'];
  const TOPIC_LEVELS = [...LEVELS, 'z'];
  const topics: string[] = [];
  const grow = (prefix: string[], depth: number): void => {
    if (prefix.length > 0) topics.push(prefix.join('/'));
    if (depth === 0) return;
    for (const l of TOPIC_LEVELS) grow([...prefix, l], depth - 1);
  };
  grow([], 5);
  const level = fc.constantFrom(...LEVELS, '+');
  const filter = fc
    .tuple(fc.array(level, { minLength: 0, maxLength: 3 }), fc.boolean())
    .filter(([ls, hash]) => ls.length > 0 || hash)
    .map(([ls, hash]) => [...ls, ...(hash ? ['#'] : [])].join('/'))
    .filter((f) => f !== ''); // an empty filter is invalid (§4.7.3)

  it('for random granted sets and requests (topics up to 5 levels)', () => {
    fc.assert(
      fc.property(fc.array(filter, { minLength: 1, maxLength: 3 }), filter, (granted, requested) => {
        const oracle = topics.every((t) => !topicMatches(requested, t) || granted.some((g) => topicMatches(g, t)));
        expect(filtersCover(granted, requested)).toBe(oracle);
      }),
      { numRuns: 1000 },
    );
  });
});
