import { describe, expect, it } from 'vitest';
import {
  aifMqtt,
  aifRest,
  narrowScope,
  parseScope,
  parseRestScope,
  restScopeAllows,
  restMethodSet,
  scopeAllows,
  scopeToCbor,
  textScope,
  MAX_AIF_PATH_LENGTH,
  MAX_AIF_TOPIC_FILTER_LENGTH,
  MAX_SCOPE_ENTRIES,
  MAX_TEXT_SCOPE_LENGTH,
  type Scope,
  encodeCbor,
  decodeCbor,
  fromHex,
  toHex,
  type CborValue,
  ERR,
  ScopeError,
} from '../cose/index.js';

function expectScopeError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScopeError);
    expect((e as ScopeError).code).toBe(ERR.SCOPE_INVALID);
    return;
  }
  expect.unreachable('expected a ScopeError');
}

const roundTrip = (scope: Scope): Scope => parseScope(decodeCbor(encodeCbor(scopeToCbor(scope))));

describe('AIF-REST (RFC 9237 §3)', () => {
  it('reads [[path, methods]] with the method bits GET 1 ... iPATCH 64', () => {
    const scope = parseScope([
      ['/temp', 1],
      ['/config', 1 | 4],
      ['/all', 127],
    ]);
    expect(scope).toEqual({
      kind: 'aif-rest',
      entries: [
        { path: '/temp', methods: ['GET'], dynamic: [] },
        { path: '/config', methods: ['GET', 'PUT'], dynamic: [] },
        { path: '/all', methods: ['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH'], dynamic: [] },
      ],
    });
  });
  it('keeps the dynamic-resource bits 2^32 and up', () => {
    // RFC 9237 §3: POST on /s, then GET and DELETE on what it creates: 2 + (1 + 8) * 2^32.
    const bits = 2 + 9 * 2 ** 32;
    const scope = parseScope([['/s', bits]]);
    expect(scope).toEqual({ kind: 'aif-rest', entries: [{ path: '/s', methods: ['POST'], dynamic: ['GET', 'DELETE'] }] });
    expect(scopeToCbor(scope)).toEqual([['/s', bits]]);
    expect(roundTrip(scope)).toEqual(scope);
    // Integers from 2^32 take the 8-byte head on the wire.
    expect(toHex(encodeCbor(scopeToCbor(scope)))).toBe('8182622f731b0000000900000002');
  });
  it('decodes the wire form a peer would send', () => {
    // [["/temp", 1], ["/cfg", 5]]
    const bytes = fromHex('8282652f74656d700182642f63666705');
    expect(parseScope(decodeCbor(bytes))).toEqual(aifRest([['/temp', ['GET']], ['/cfg', ['GET', 'PUT']]]));
  });
  it('builds from readable names and round-trips through CBOR', () => {
    const scope = aifRest([
      ['/temp', ['GET']],
      ['/config', ['GET', 'PUT'], { dynamic: ['DELETE'] }],
      ['/q?x=1', ['FETCH', 'iPATCH']],
    ]);
    expect(scopeToCbor(scope)).toEqual([
      ['/temp', 1],
      ['/config', 5 + 8 * 2 ** 32],
      ['/q?x=1', 80],
    ]);
    expect(roundTrip(scope)).toEqual(scope);
  });
  it('refuses bad shapes', () => {
    const bad: CborValue[] = [
      [['temp', 1]], // no leading '/'
      [['/temp', 0]], // grants nothing
      [['/temp', 128]], // unknown bit
      [['/temp', 2 ** 39]], // unknown dynamic bit
      [['/temp', -1]],
      [['/temp', '1']],
      [['/temp']],
      [['/temp', 1, 2]],
      [[1, '/temp']],
      [['/te mp', 1]],
      [['/temp#frag', 1]],
      [['/bad%zz', 1]],
      [['/a', 1], ['/a', 2]], // the same path twice
      [['/a', 1], ['b/#', ['sub']]], // mixed forms
      [new Uint8Array([1]), 1],
      [new Map([[1, 2]])],
      new Uint8Array([0x2f]), // byte-string scope: application-specific, not ours
      42,
      null,
      new Map(),
    ];
    for (const v of bad) expectScopeError(() => parseScope(v));
  });
  it('bounds entry count and path length', () => {
    const many = Array.from({ length: MAX_SCOPE_ENTRIES + 1 }, (_, i) => [`/r${i}`, 1] as CborValue);
    expectScopeError(() => parseScope(many));
    expect(parseScope(many.slice(0, MAX_SCOPE_ENTRIES)).kind).toBe('aif-rest');
    expectScopeError(() => parseScope([['/' + 'a'.repeat(MAX_AIF_PATH_LENGTH), 1]]));
    expect(() => parseScope([['/' + 'a'.repeat(MAX_AIF_PATH_LENGTH - 1), 1]])).not.toThrow();
  });
  it('refuses a huge array without walking it', () => {
    const huge = new Array<CborValue>(1_000_000).fill(['/a', 1]);
    const start = performance.now();
    expectScopeError(() => parseScope(huge));
    expect(performance.now() - start).toBeLessThan(100);
  });
  it('refuses unknown method names in builders', () => {
    expectScopeError(() => aifRest([['/a', ['GET', 'TRACE' as 'GET']]]));
    expectScopeError(() => aifRest([['/a', ['GET', 'GET']]]));
    expectScopeError(() => aifRest([['/a', []]]));
    expectScopeError(() => restMethodSet({ methods: ['toString' as 'GET'], dynamic: [] }));
  });
});

describe('AIF-REST matching', () => {
  const scope = aifRest([
    ['/temp', ['GET']],
    ['/config', ['GET', 'PUT'], { dynamic: ['DELETE'] }],
  ]);
  it('allows a granted method on the exact path', () => {
    expect(scopeAllows(scope, { method: 'GET', resource: '/temp' })).toBe(true);
    expect(scopeAllows(scope, { method: 'PUT', resource: '/config' })).toBe(true);
  });
  it('refuses other methods, other paths, prefixes and near misses', () => {
    expect(scopeAllows(scope, { method: 'PUT', resource: '/temp' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: '/temp/' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: '/temp/x' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: '/TEMP' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: '/tem' })).toBe(false);
    expect(scopeAllows(scope, { method: 'TRACE' as 'GET', resource: '/temp' })).toBe(false);
    expect(scopeAllows(scope, { method: 'toString' as 'GET', resource: '/temp' })).toBe(false);
  });
  it('keeps static and dynamic permissions apart', () => {
    expect(scopeAllows(scope, { method: 'DELETE', resource: '/config', dynamic: true })).toBe(true);
    expect(scopeAllows(scope, { method: 'DELETE', resource: '/config' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: '/config', dynamic: true })).toBe(false);
  });
  it('refuses requests of another form', () => {
    expect(scopeAllows(scope, { action: 'sub', topic: '/temp' })).toBe(false);
    expect(scopeAllows(scope, { token: '/temp' })).toBe(false);
  });
});

describe('AIF-MQTT (RFC 9431 §3)', () => {
  it('reads [[topic_filter, ["pub", "sub"]]]', () => {
    const scope = parseScope([
      ['sensors/+/temp', ['pub', 'sub']],
      ['alerts/#', ['sub']],
    ]);
    expect(scope).toEqual({
      kind: 'aif-mqtt',
      entries: [
        { filter: 'sensors/+/temp', actions: ['pub', 'sub'] },
        { filter: 'alerts/#', actions: ['sub'] },
      ],
    });
    expect(scope).toEqual(aifMqtt([['sensors/+/temp', ['pub', 'sub']], ['alerts/#', ['sub']]]));
  });
  it('round-trips through CBOR', () => {
    const scope = aifMqtt([['sensors/+/temp', ['pub', 'sub']], ['alerts/#', ['sub']], ['$SYS/broker/#', ['sub']]]);
    expect(roundTrip(scope)).toEqual(scope);
  });
  it('refuses bad shapes', () => {
    const bad: CborValue[] = [
      [['a/b', []]],
      [['a/b', ['read']]],
      [['a/b', ['pub', 'pub']]],
      [['a/b', ['pub', 'sub', 'pub']]],
      [['a/b', 'pub']],
      [['a/b', [1]]],
      [['sport+', ['sub']]],
      [['a/#/b', ['sub']]],
      [['', ['sub']]],
      [['a\u0000b', ['sub']]],
      [[new Uint8Array([0x61]), ['sub']]],
      [['a/b', ['sub']], ['a/b', ['pub']]],
      [['a/b', ['sub']], ['/c', 1]],
    ];
    for (const v of bad) expectScopeError(() => parseScope(v));
  });
  it('bounds the filter length', () => {
    expectScopeError(() => parseScope([['a'.repeat(MAX_AIF_TOPIC_FILTER_LENGTH + 1), ['sub']]]));
  });
  it('reads an empty AIF array as the expected kind, granting nothing', () => {
    expect(parseScope([], { expect: 'aif-mqtt' })).toEqual({ kind: 'aif-mqtt', entries: [] });
    expect(parseScope([])).toEqual({ kind: 'aif-rest', entries: [] });
    expect(scopeAllows(parseScope([], { expect: 'aif-mqtt' }), { action: 'sub', topic: '#' })).toBe(false);
  });
  it('enforces `expect`', () => {
    expectScopeError(() => parseScope([['/a', 1]], { expect: 'aif-mqtt' }));
    expectScopeError(() => parseScope('read', { expect: 'aif-rest' }));
  });
});

describe('AIF-MQTT matching', () => {
  const scope = aifMqtt([
    ['sensors/+/temp', ['pub', 'sub']],
    ['alerts/#', ['sub']],
    ['cmd/dev1', ['pub']],
  ]);
  it('pub: the topic name must match a filter granted pub', () => {
    expect(scopeAllows(scope, { action: 'pub', topic: 'sensors/kitchen/temp' })).toBe(true);
    expect(scopeAllows(scope, { action: 'pub', topic: 'cmd/dev1' })).toBe(true);
    expect(scopeAllows(scope, { action: 'pub', topic: 'alerts/fire' })).toBe(false); // sub only
    expect(scopeAllows(scope, { action: 'pub', topic: 'sensors/kitchen/humidity' })).toBe(false);
    expect(scopeAllows(scope, { action: 'pub', topic: 'sensors/+/temp' })).toBe(false); // a filter is no topic name
  });
  it('sub: every topic the requested filter can match must be granted sub', () => {
    expect(scopeAllows(scope, { action: 'sub', topic: 'alerts/#' })).toBe(true);
    expect(scopeAllows(scope, { action: 'sub', topic: 'alerts/fire/+' })).toBe(true);
    expect(scopeAllows(scope, { action: 'sub', topic: 'sensors/+/temp' })).toBe(true);
    expect(scopeAllows(scope, { action: 'sub', topic: 'sensors/hall/temp' })).toBe(true);
    expect(scopeAllows(scope, { action: 'sub', topic: 'sensors/#' })).toBe(false);
    expect(scopeAllows(scope, { action: 'sub', topic: '#' })).toBe(false);
    expect(scopeAllows(scope, { action: 'sub', topic: 'cmd/dev1' })).toBe(false); // pub only
    expect(scopeAllows(scope, { action: 'sub', topic: 'alerts/#/x' })).toBe(false); // malformed
  });
  it('refuses requests of another form', () => {
    expect(scopeAllows(scope, { method: 'GET', resource: '/alerts' })).toBe(false);
    expect(scopeAllows(scope, { token: 'alerts/#' })).toBe(false);
    expect(scopeAllows(scope, { action: 'publish' as 'pub', topic: 'cmd/dev1' })).toBe(false);
  });
});

describe('text scope (RFC 6749 §3.3)', () => {
  it('reads space-separated tokens and matches one exactly', () => {
    const scope = parseScope('read_result write_config');
    expect(scope).toEqual({ kind: 'text', tokens: ['read_result', 'write_config'] });
    expect(scopeAllows(scope, { token: 'read_result' })).toBe(true);
    expect(scopeAllows(scope, { token: 'read' })).toBe(false);
    expect(scopeAllows(scope, { token: 'read_result write_config' })).toBe(false);
    expect(scopeAllows(scope, { method: 'GET', resource: 'read_result' })).toBe(false);
  });
  it('round-trips and keeps each token once', () => {
    expect(roundTrip(textScope('a b'))).toEqual(textScope(['a', 'b']));
    expect(parseScope('a b a')).toEqual({ kind: 'text', tokens: ['a', 'b'] });
  });
  it('refuses empty tokens, other separators and characters outside the grammar', () => {
    for (const s of ['', ' a', 'a ', 'a  b', 'a\tb', 'a"b', 'a\\b', 'é', 'a\nb']) expectScopeError(() => parseScope(s));
  });
  it('bounds its length and token count', () => {
    expectScopeError(() => parseScope('a'.repeat(MAX_TEXT_SCOPE_LENGTH + 1)));
    expectScopeError(() => parseScope(Array.from({ length: MAX_SCOPE_ENTRIES + 1 }, (_, i) => `t${i}`).join(' ')));
  });
});

describe('narrowScope', () => {
  it('keeps what both allow, per form', () => {
    expect(narrowScope(textScope('a b c'), textScope('b c d'))).toEqual(textScope('b c'));
    expect(
      narrowScope(aifRest([['/a', ['GET', 'PUT']], ['/b', ['GET']]]), aifRest([['/a', ['GET']], ['/c', ['GET']]])),
    ).toEqual(aifRest([['/a', ['GET']]]));
    expect(
      narrowScope(
        aifMqtt([['sensors/kitchen/temp', ['pub', 'sub']], ['alerts/#', ['sub']]]),
        aifMqtt([['sensors/+/temp', ['sub']]]),
      ),
    ).toEqual(aifMqtt([['sensors/kitchen/temp', ['sub']]]));
  });
  it('gives null when nothing remains or the forms differ', () => {
    expect(narrowScope(textScope('a'), textScope('b'))).toBeNull();
    expect(narrowScope(textScope('a'), aifRest([['/a', ['GET']]]))).toBeNull();
    expect(narrowScope(aifMqtt([['#', ['sub']]]), aifMqtt([['a/#', ['sub']]]))).toBeNull();
  });
});

describe('parseRestScope and restScopeAllows: the device-sized REST path agrees with parseScope and scopeAllows', () => {
  const inputs: unknown[] = [
    [['/temp', 1]],
    [['/temp', 1], ['/a', 5]],
    [],
    'read write',
    'read  write', // not even a well-formed text scope: refused with the same code
    [['sensors/#', ['pub']]],
    [['/temp', 0]],
    [['/temp', 1], ['/temp', 2]],
    [['/temp', 'x']],
    [['/temp', 1 << 30]],
    [['temp', 1]],
    42,
    new Uint8Array([1]),
  ];
  const outcome = (f: () => unknown) => {
    try {
      return { ok: f() };
    } catch (e) {
      return { code: (e as { code?: string }).code };
    }
  };
  for (const v of inputs) {
    it(`${JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? 'bytes' : x))}`, () => {
      expect(outcome(() => parseRestScope(v as never))).toEqual(outcome(() => parseScope(v as never, { expect: 'aif-rest' })));
    });
  }
  it('allows exactly what scopeAllows allows for REST requests', () => {
    const scope = parseRestScope([['/temp', 1 | 4], ['/a', 2]]);
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'BOGUS'] as const) {
      for (const resource of ['/temp', '/a', '/b']) {
        const req = { method: method as never, resource };
        expect(restScopeAllows(scope, req), `${method} ${resource}`).toBe(scopeAllows(scope, req));
      }
    }
    expect(restScopeAllows(parseScope([['x/#', ['pub']]]), { method: 'GET', resource: 'x/#' })).toBe(false);
  });
});
