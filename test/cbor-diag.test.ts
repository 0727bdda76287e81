import { describe, expect, it } from 'vitest';
import { createCwt, decodeCbor, encodeCbor, fromHex, utf8, CborError, cborDiag, MAX_DIAG_DEPTH, Tag, type CborValue } from '../cose/index.js';

describe('cborDiag: scalars (RFC 8949 §8)', () => {
  it('writes integers, bigints, simple values', () => {
    expect(cborDiag(0)).toBe('0');
    expect(cborDiag(-8)).toBe('-8');
    expect(cborDiag(18446744073709551615n)).toBe('18446744073709551615');
    expect(cborDiag(true)).toBe('true');
    expect(cborDiag(false)).toBe('false');
    expect(cborDiag(null)).toBe('null');
    expect(cborDiag(undefined)).toBe('undefined');
  });
  it('writes floats with a decimal point or exponent, never as integers', () => {
    expect(cborDiag(1.5)).toBe('1.5');
    expect(cborDiag(-0)).toBe('-0.0');
    expect(cborDiag(1e300)).toBe('1.0e+300');
    expect(cborDiag(NaN)).toBe('NaN');
    expect(cborDiag(-Infinity)).toBe('-Infinity');
  });
  it('writes a float decoded from the wire (f97e00 is NaN, fb3ff8... is 1.5)', () => {
    expect(cborDiag(decodeCbor(fromHex('fb3ff8000000000000')))).toBe('1.5');
  });
  it('escapes text as JSON does', () => {
    expect(cborDiag('a"b\\\n\u0001é')).toBe('"a\\"b\\\\\\n\\u0001é"');
  });
  it("writes byte strings as h'..'", () => {
    expect(cborDiag(new Uint8Array([0, 0xab]))).toBe("h'00ab'");
    expect(cborDiag(new Uint8Array(0))).toBe("h''");
  });
});

describe('cborDiag: containers and tags', () => {
  it('writes maps with their keys, arrays and tags', () => {
    const v: CborValue = new Tag([new Map<CborValue, CborValue>([[1, -8], [-2, 'x']]), [], new Map()], 18);
    expect(cborDiag(v)).toBe('18([{1: -8, -2: "x"}, [], {}])');
  });
  it('breaks wide containers over indented lines only when asked', () => {
    const wide = [utf8('x'.repeat(40)), utf8('y'.repeat(40))];
    expect(cborDiag(wide)).not.toContain('\n');
    const lines = cborDiag(wide, { indent: 2 }).split('\n');
    expect(lines[0]).toBe('[');
    expect(lines[1]).toMatch(/^  h'78/);
    expect(lines.at(-1)).toBe(']');
  });
  it('refuses values that are not CBOR, and nesting beyond the limit, with a typed error', () => {
    expect(() => cborDiag({ a: 1 } as unknown as CborValue)).toThrow(CborError);
    let deep: CborValue = 0;
    for (let i = 0; i <= MAX_DIAG_DEPTH + 1; i++) deep = [deep];
    expect(() => cborDiag(deep)).toThrowError(expect.objectContaining({ code: 'ERR_CBOR_TOO_DEEP' }));
  });
  it('renders a deep structure in linear time when indenting', () => {
    let deep: CborValue = utf8('z'.repeat(80));
    for (let i = 0; i < 40; i++) deep = [deep, i];
    const start = performance.now();
    cborDiag(deep, { indent: 2, expandEmbedded: true });
    expect(performance.now() - start).toBeLessThan(500);
  });
});

describe('cborDiag: embedded CBOR (RFC 8610 App. G)', () => {
  const key = { kty: 'OKP' as const, crv: 'Ed25519' as const, kid: utf8('as-1'), d: new Uint8Array(32).fill(1), x: fromHex('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c') };
  const token = createCwt({ iss: 'https://as.example', exp: 100 }, key);
  it('expands the protected header and the payload as << >>', () => {
    const text = cborDiag(decodeCbor(token), { expandEmbedded: true });
    expect(text).toMatch(/^61\(18\(\[<<\{1: -8, 4: h'61732d31'\}>>, \{\}, <<\{1: "https:\/\/as.example", 4: 100\}>>, h'[0-9a-f]{128}'\]\)\)$/);
  });
  it('leaves them as bytes when not asked', () => {
    expect(cborDiag(decodeCbor(token))).toContain("h'a20127044461732d31'");
  });
  it('does not expand byte strings that hold only a scalar or are not strict CBOR', () => {
    expect(cborDiag(encodeCbor([new Uint8Array([0x18, 0x2a])]), { expandEmbedded: true })).toBe("<<[h'182a']>>"); // the array expands; the scalar inside it does not
    expect(cborDiag([new Uint8Array([0x18, 0x2a])], { expandEmbedded: true })).toBe("[h'182a']");
    expect(cborDiag([new Uint8Array([0x81, 0x18, 0x01])], { expandEmbedded: true })).toBe("[h'811801']"); // non-minimal
    expect(cborDiag([new Uint8Array([0x81, 0x01, 0x02])], { expandEmbedded: true })).toBe("[h'810102']"); // trailing byte
  });
});
