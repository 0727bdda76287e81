import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoder, Encoder, Tag as PeerTag } from 'cbor-x';
import { CborError, concatBytes, decodeCbor, encodeCbor, encodeCborArrayOf, fromHex, Tag, toHex, type CborValue } from '../cose/index.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CborError);
    return (e as CborError).code;
  }
  throw new Error('expected a CborError');
};

describe('deterministic encoding (RFC 8949 §4.2.1)', () => {
  // RFC 8949 Appendix A integers, which must come out in their shortest form.
  const integers: [number | bigint, string][] = [
    [0, '00'],
    [23, '17'],
    [24, '1818'],
    [100, '1864'],
    [1000, '1903e8'],
    [1000000, '1a000f4240'],
    [1000000000000, '1b000000e8d4a51000'],
    [18446744073709551615n, '1bffffffffffffffff'],
    [-1, '20'],
    [-1000, '3903e7'],
    [-4294967296, '3affffffff'],
    [-4294967297, '3b0000000100000000'],
  ];
  for (const [value, hex] of integers) {
    it(`encodes ${value} as ${hex}`, () => expect(toHex(encodeCbor(value))).toBe(hex));
  }

  it('sorts map keys by their encoded bytes, whatever the insertion order', () => {
    const m = new Map<CborValue, CborValue>([
      ['b', 1],
      [-1, 2],
      [10, 3],
      [1, 4],
      [100, 5],
    ]);
    // 0x01 < 0x0a < 0x18 0x64 < 0x20 < 0x61 0x62
    expect(toHex(encodeCbor(m))).toBe('a5' + '0104' + '0a03' + '186405' + '2002' + '616201');
  });

  it('reproduces the RFC 8392 A.1 claims set byte for byte', () => {
    const claims = new Map<CborValue, CborValue>([
      [1, 'coap://as.example.com'],
      [2, 'erikw'],
      [3, 'coap://light.example.com'],
      [4, 1444064944],
      [5, 1443944944],
      [6, 1443944944],
      [7, fromHex('0b71')],
    ]);
    expect(toHex(encodeCbor(claims))).toBe(
      'a70175636f61703a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0051a5610d9f0061a5610d9f007420b71',
    );
  });

  it('writes byte strings untagged and tags as given', () => {
    expect(toHex(encodeCbor(new Tag([fromHex('a10126')], 18)))).toBe('d2814' + '3a10126');
  });

  it('refuses floats, plain objects and integers beyond 64 bits', () => {
    expect(code(() => encodeCbor(1.5))).toBe('ERR_CBOR_UNSUPPORTED_VALUE');
    expect(code(() => encodeCbor(NaN))).toBe('ERR_CBOR_UNSUPPORTED_VALUE');
    expect(code(() => encodeCbor({ a: 1 } as unknown as CborValue))).toBe('ERR_CBOR_UNSUPPORTED_VALUE');
    expect(code(() => encodeCbor(1n << 64n))).toBe('ERR_CBOR_UNSUPPORTED_VALUE');
  });

  it('returns a fresh array each time (cbor-x pools its output)', () => {
    const a = encodeCbor('first');
    encodeCbor('second, which would overwrite a shared pool');
    expect(toHex(a)).toBe(toHex(encodeCbor('first')));
    // Its own buffer: exactly as long as the encoding, so nothing of a kept work buffer comes along.
    expect(a.byteLength).toBe(a.buffer.byteLength);
  });

  it('keeps its work buffers coherent: a map whose forEach encodes again, a refusal midway, a value larger than the kept buffers', () => {
    // The writer keeps two buffers between calls (cose/cbor-encode.ts); a call made from inside
    // another (a Map subclass's forEach) must not write into the outer call's.
    class Reentrant extends Map<CborValue, CborValue> {
      override forEach(f: (v: CborValue, k: CborValue, m: Map<CborValue, CborValue>) => void): void {
        inner = encodeCbor(new Map<CborValue, CborValue>([['inner', fromHex('0102')], [1, [2, 3]]]));
        super.forEach(f);
      }
    }
    let inner: Uint8Array = new Uint8Array();
    // Nested, so that the outer call has encoded a key (3) before the inner call runs.
    const nested = new Reentrant([[2, 'b'], [1, new Map<CborValue, CborValue>([['z', 1], ['a', 2]])]]);
    const outer = new Map<CborValue, CborValue>([[3, nested], [0, 'a']]);
    expect(toHex(encodeCbor(outer))).toBe('a2006161' + '03a201a2616102617a0102' + '6162');
    expect(toHex(inner)).toBe('a2018202036569' + '6e6e6572420102');
    // A refusal (two keys that encode the same) leaves nothing behind for the next call.
    expect(code(() => encodeCbor(new Map<CborValue, CborValue>([[1, 'x'], [1n, 'y']])))).toBe('ERR_CBOR_DUPLICATE_KEY');
    expect(toHex(encodeCbor(new Map<CborValue, CborValue>([[1, 'x']])))).toBe('a1016178');
    // Past the kept size (1 KB): a 5,000-byte string in a map with 40 keys, then a small map again.
    const big = new Map<CborValue, CborValue>(Array.from({ length: 40 }, (_, i) => [`key-${i}`, i === 7 ? 'x'.repeat(5000) : i] as [CborValue, CborValue]));
    expect(decodeCbor(encodeCbor(big))).toEqual(big);
    expect(toHex(encodeCbor(new Map<CborValue, CborValue>([[-1, 1], [0, 2]])))).toBe('a200022001');
    // Text that is not ASCII goes through utf8(): a lone surrogate is U+FFFD, as TextEncoder writes it
    // (cbor-x writes the surrogate's own three bytes, which are not UTF-8).
    expect(toHex(encodeCbor('a\ud800'))).toBe(`64${toHex(new TextEncoder().encode('a\ud800'))}`);
    expect(toHex(encodeCbor('a\ud800'))).toBe('6461efbfbd');
    // A map as a map key is encoded into the keys buffer it is read from; 3 KB of it makes that buffer grow.
    const mapKey = new Map<CborValue, CborValue>([['k'.repeat(3000), 1], ['a', 2]]);
    const withMapKey = new Map<CborValue, CborValue>([[mapKey, 'v'], [0, 'w']]);
    expect(toHex(encodeCbor(withMapKey))).toBe(`a2006177${toHex(encodeCbor(mapKey))}6176`);
  });
});

describe('an array of items encoded already (encodeCborArrayOf, the device token store)', () => {
  it('is the encoding of the array itself, for every head length (0, 23, 24, 255, 256, 65536 items)', () => {
    for (const n of [0, 23, 24, 255, 256, 65536]) {
      const items: CborValue[] = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? [i, new Uint8Array([i & 0xff])] : i % 3 === 1 ? `t${i}` : -i));
      const out = encodeCborArrayOf(items.map(encodeCbor));
      expect(toHex(out)).toBe(toHex(encodeCbor(items)));
      expect(decodeCbor(out, { maxBytes: out.length })).toEqual(items);
    }
  });
});

describe('strict decoding', () => {
  it('decodes maps as Map with integer keys and byte strings as plain Uint8Array', () => {
    const v = decodeCbor(fromHex('a201420102206178')) as Map<CborValue, CborValue>;
    expect(v).toBeInstanceOf(Map);
    const bytes = v.get(1) as Uint8Array;
    expect(bytes.constructor).toBe(Uint8Array);
    expect([...bytes]).toEqual([1, 2]);
    expect(v.get(-1)).toBe('x');
  });

  it('shares nothing with the input', () => {
    const input = fromHex('4401020304');
    const out = decodeCbor(input) as Uint8Array;
    input[1] = 0xff;
    expect([...out]).toEqual([1, 2, 3, 4]);
  });

  it('gives each byte string a buffer of its own, holding nothing else of the input (a Buffer from the shared pool included)', () => {
    const map = encodeCbor(new Map<CborValue, CborValue>([[1, new Uint8Array(100).fill(1)], [2, new Uint8Array(3).fill(2)], [3, [new Uint8Array(0)]]]));
    for (const input of [map, Buffer.from(map)]) {
      const out = decodeCbor(input) as Map<CborValue, CborValue>;
      for (const b of [out.get(1), out.get(2), (out.get(3) as CborValue[])[0]] as Uint8Array[]) {
        expect(b.constructor).toBe(Uint8Array);
        expect(b.byteOffset).toBe(0);
        expect(b.buffer.byteLength).toBe(b.length);
      }
      expect([...(out.get(2) as Uint8Array)]).toEqual([2, 2, 2]);
    }
  });

  const refusals: [string, string, string][] = [
    ['trailing bytes', '0000', 'ERR_CBOR_TRAILING_BYTES'],
    ['an empty input', '', 'ERR_CBOR_TRUNCATED'],
    ['a truncated byte string', '4401', 'ERR_CBOR_TRUNCATED'],
    ['a truncated head', '19', 'ERR_CBOR_TRUNCATED'],
    ['duplicate map keys', 'a201010102', 'ERR_CBOR_DUPLICATE_KEY'],
    ['duplicate text keys', 'a2616101616102', 'ERR_CBOR_DUPLICATE_KEY'],
    // {1: -7, 1.0: -8}: cbor-x would merge the two into Map{1 => -8} (alg ES256 to others, EdDSA to us).
    ['a half-float key beside its integer twin', 'a20126f93c0027', 'ERR_CBOR_UNSUPPORTED_VALUE'],
    ['a single-precision float key', 'a1fa3f80000001', 'ERR_CBOR_UNSUPPORTED_VALUE'],
    ['a double-precision float key', 'a1fb3ff000000000000001', 'ERR_CBOR_UNSUPPORTED_VALUE'],
    ['an indefinite-length array', '9f01ff', 'ERR_CBOR_INDEFINITE_LENGTH'],
    ['an indefinite-length byte string', '5f4101ff', 'ERR_CBOR_INDEFINITE_LENGTH'],
    ['an indefinite-length map', 'bf0101ff', 'ERR_CBOR_INDEFINITE_LENGTH'],
    ['a non-minimal integer', '1817', 'ERR_CBOR_NON_MINIMAL'],
    ['a non-minimal length', '580101', 'ERR_CBOR_NON_MINIMAL'],
    ['a reserved additional information value', '1c', 'ERR_CBOR_MALFORMED'],
    ['invalid UTF-8 in text', '62c328', 'ERR_CBOR_BAD_UTF8'],
    ['a tag outside the allow-list (27: object construction)', 'd81b8100', 'ERR_CBOR_TAG_NOT_ALLOWED'],
    ['a shared-reference tag (28)', 'd81c00', 'ERR_CBOR_TAG_NOT_ALLOWED'],
    ['an unassigned simple value', 'e0', 'ERR_CBOR_UNSUPPORTED_VALUE'],
    ['a two-byte simple value below 32', 'f810', 'ERR_CBOR_MALFORMED'],
  ];
  for (const [what, hex, expected] of refusals) {
    it(`refuses ${what} with ${expected}`, () => expect(code(() => decodeCbor(fromHex(hex)))).toBe(expected));
  }

  it('refuses nesting deeper than the limit', () => {
    const deep = new Uint8Array(40).fill(0x81); // [[[[...
    const bytes = new Uint8Array([...deep, 0x00]);
    expect(code(() => decodeCbor(bytes))).toBe('ERR_CBOR_TOO_DEEP');
    expect(decodeCbor(bytes, { maxDepth: 64 })).toBeDefined();
  });

  it('refuses inputs over the size limit before reading them', () => {
    expect(code(() => decodeCbor(new Uint8Array(70 * 1024)))).toBe('ERR_CBOR_TOO_LARGE');
    expect(code(() => decodeCbor(encodeCbor(new Uint8Array(200)), { maxBytes: 100 }))).toBe('ERR_CBOR_TOO_LARGE');
  });

  describe('length bombs fail fast, without allocating', () => {
    const bombs: [string, string][] = [
      ['a byte string declaring 2^64-1 bytes', '5bffffffffffffffff00'],
      ['an array declaring 2^32-1 elements', '9affffffff00'],
      ['a map declaring 2^64-1 pairs', 'bbffffffffffffffff0000'],
      ['a text string declaring 4 GiB', '7affffffff61'],
    ];
    for (const [what, hex] of bombs) {
      it(`${what} returns ERR_CBOR_TRUNCATED in well under 100 ms`, () => {
        const started = performance.now();
        expect(code(() => decodeCbor(fromHex(hex)))).toBe('ERR_CBOR_TRUNCATED');
        expect(performance.now() - started).toBeLessThan(100);
      });
    }
  });
});

describe('decoding a Node Buffer', () => {
  it('still shares nothing with the input (Buffer#slice would alias)', () => {
    const input = Buffer.from('4401020304', 'hex');
    const out = decodeCbor(input) as Uint8Array;
    input[1] = 0xff;
    expect([...out]).toEqual([1, 2, 3, 4]);
    expect(out.constructor).toBe(Uint8Array);
  });
});

describe('UTF-8 validation in place (text strings, RFC 8949 §3.1)', () => {
  const reference = new TextDecoder('utf-8', { fatal: true });
  /** The bytes as a CBOR text string (major type 3, lengths under 24 here), decoded through the public surface. */
  const decodesAsText = (bytes: Uint8Array): boolean => {
    try {
      decodeCbor(concatBytes(new Uint8Array([0x60 + bytes.length]), bytes));
      return true;
    } catch (e) {
      expect((e as CborError).code).toBe('ERR_CBOR_BAD_UTF8');
      return false;
    }
  };
  const agreesWithTextDecoder = (bytes: Uint8Array) => {
    let expected = true;
    try {
      reference.decode(bytes);
    } catch {
      expected = false;
    }
    expect(decodesAsText(bytes)).toBe(expected);
  };

  it('agrees with a fatal TextDecoder on the edge cases of RFC 3629', () => {
    for (const hex of ['', '41', 'c2a9', 'c0af', 'c1bf', 'e0a080', 'e09f80', 'eda080', 'ed9fbf', 'f0908080', 'f08f8080', 'f48fbfbf', 'f4908080', 'f5', 'ff', 'c2', 'e282', 'f09f98', 'e282ac41', '80']) {
      agreesWithTextDecoder(fromHex(hex));
    }
  });

  it('agrees with a fatal TextDecoder on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 16 }), agreesWithTextDecoder), { numRuns: 20_000 });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0x80, max: 0xf5 }), { maxLength: 8 }), (a) => agreesWithTextDecoder(Uint8Array.from(a))),
      { numRuns: 20_000 },
    );
  });
});

describe('the deterministic writer agrees with cbor-x, byte for byte (cose/cbor-encode.ts)', () => {
  // cbor-x, configured as keybound configured it before writing its own writer: the peer.
  const peer = new Encoder({ useRecords: false, mapsAsObjects: false, useTag259ForMaps: false, tagUint8Array: false, variableMapSize: true } as never);
  const TWO_32 = 2 ** 32;
  // Map-free values (cbor-x does not sort keys) with integers from 2^32 up as bigints (cbor-x would write floats).
  const { item } = fc.letrec<{ item: unknown }>((tie) => ({
    item: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer({ min: -TWO_32, max: TWO_32 - 1 }),
      // -2^64 is left out here: cbor-x writes it as a bignum (tag 3), RFC 8949 §3.1 as major type 1 (below).
      fc.bigInt({ min: -(1n << 64n) + 1n, max: (1n << 64n) - 1n }).filter((b) => b >= BigInt(TWO_32) || b < -BigInt(TWO_32)),
      fc.string({ maxLength: 40 }),
      // Any code point: the writer takes ASCII text straight in and the rest through utf8().
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom(true, false, null, undefined),
      fc.array(tie('item'), { maxLength: 30 }),
      fc.tuple(fc.integer({ min: 0, max: 70000 }), tie('item')).map(([t, v]) => new Tag(v, t)),
    ),
  }));
  /** The same value with cbor-x's own Tag class, which its encoder knows. */
  const forPeer = (v: unknown): unknown => (v instanceof Tag ? new PeerTag(forPeer(v.value), v.tag) : Array.isArray(v) ? v.map(forPeer) : v);
  it('writes -2^64 as major type 1 with argument 2^64-1 (RFC 8949 §3.1), where cbor-x uses a bignum', () => {
    expect(toHex(encodeCbor(-(1n << 64n) as unknown as CborValue))).toBe('3bffffffffffffffff');
    expect(toHex(new Uint8Array(peer.encode(-(1n << 64n))))).toBe('c348ffffffffffffffff');
  });
  it('on random values (integers at every head width, text, bytes, arrays, tags, simple values)', () => {
    fc.assert(
      fc.property(item, (v) => {
        expect(toHex(encodeCbor(v as CborValue))).toBe(toHex(new Uint8Array(peer.encode(forPeer(v)))));
      }),
      { numRuns: 1000 },
    );
  });
  it('maps: keys sorted by their encoded bytes, and decoding gives back the same entries', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.oneof(fc.integer({ min: -1000, max: 100000 }), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 })), fc.integer()), { selector: ([k]) => k, maxLength: 20 }), (entries) => {
        const bytes = encodeCbor(new Map(entries as [CborValue, CborValue][]));
        const back = decodeCbor(bytes) as Map<CborValue, CborValue>;
        expect(new Map(entries)).toEqual(back);
        const keys = [...back.keys()].map((k) => toHex(encodeCbor(k)));
        expect(keys).toEqual([...keys].sort()); // hex strings compare as their bytes do (RFC 8949 §4.2.1)
      }),
      { numRuns: 300 },
    );
  });
});

describe('the reader agrees with cbor-x on everything the strict walk lets through (cose/cbor-decode.ts)', () => {
  const peer = new Decoder({ useRecords: false, mapsAsObjects: false } as never);
  /** cbor-x hands out Buffers; compare contents. */
  const plain = (v: unknown): unknown =>
    v instanceof Uint8Array ? [...v] : Array.isArray(v) ? v.map(plain) : v instanceof Map ? new Map([...v].map(([k, x]) => [plain(k), plain(x)])) : v instanceof Tag || v instanceof PeerTag ? { tag: v.tag, value: plain(v.value) } : v;
  const { item } = fc.letrec<{ item: unknown }>((tie) => ({
    item: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer({ min: -(2 ** 32), max: 2 ** 32 - 1 }),
      fc.bigInt({ min: -(1n << 64n), max: (1n << 64n) - 1n }),
      fc.string({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 100 }),
      fc.constantFrom(true, false, null, undefined),
      fc.array(tie('item'), { maxLength: 10 }),
      fc.uniqueArray(fc.tuple(fc.oneof(fc.integer({ min: -50, max: 5000 }), fc.string({ maxLength: 5 })), tie('item')), { selector: ([k]) => k, maxLength: 8 }).map((e) => new Map(e)),
      fc.tuple(fc.constantFrom(16, 17, 18, 32, 61, 96), tie('item')).map(([t, v]) => new Tag(v, t)),
    ),
  }));
  it('on random items (every integer width, bigints, text, bytes, maps, tags, simple values)', () => {
    fc.assert(
      fc.property(item, (v) => {
        const bytes = encodeCbor(v as CborValue);
        expect(plain(decodeCbor(bytes))).toEqual(plain(peer.decode(bytes)));
      }),
      { numRuns: 1000 },
    );
  });
  it('on floats of every width and on bignum tags', () => {
    for (const hex of ['f93c00', 'f97bff', 'f9c400', 'f90001', 'f97c00', 'fa47c35000', 'fb3ff199999999999a', 'fbc010666666666666', 'c249010000000000000000', 'c349010000000000000000']) {
      expect(decodeCbor(fromHex(hex)), hex).toEqual(peer.decode(fromHex(hex)));
    }
    expect(Number.isNaN(decodeCbor(fromHex('f97e00')))).toBe(true);
    expect(code(() => decodeCbor(fromHex('c201')))).toBe('ERR_CBOR_MALFORMED'); // a bignum tag over an integer
  });
});
