/**
 * The CoAP codec of the portable core (cose/coap-message.ts, RFC 7252 §3): extended option
 * deltas and lengths at their boundaries, repeated options kept in order, and every message
 * format error refused with a typed code rather than guessed at.
 */
import { describe, expect, it } from 'vitest';
import { COAP_ERR, CoapFormatError, decodeCoapMessage, encodeCoapMessage, fromHex, toHex, utf8, type CoapMessage } from '../cose/index.js';

function refused(bytes: Uint8Array | string, code: string, limits?: { maxBytes: number; maxOptions: number }) {
  const b = typeof bytes === 'string' ? fromHex(bytes) : bytes;
  let error: unknown;
  try {
    decodeCoapMessage(b, limits);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CoapFormatError);
  expect((error as CoapFormatError).code).toBe(code);
}

describe('CoAP message codec (RFC 7252 §3)', () => {
  it('decodes the RFC 8613 C.4 request and encodes it back byte for byte', () => {
    const hex = '44015d1f00003974396c6f63616c686f737483747631';
    const m = decodeCoapMessage(fromHex(hex));
    expect(m).toMatchObject({ type: 0, code: 1, messageId: 0x5d1f });
    expect(toHex(m.token!)).toBe('00003974');
    expect(m.options.map((o) => [o.number, Buffer.from(o.value).toString()])).toEqual([
      [3, 'localhost'],
      [11, 'tv1'],
    ]);
    expect(toHex(encodeCoapMessage(m))).toBe(hex);
  });

  it('round-trips option deltas and lengths across the 13 and 269 boundaries, sorting options stably', () => {
    const value = (n: number) => new Uint8Array(n).fill(0x61);
    const m: CoapMessage = {
      type: 1,
      code: 69,
      messageId: 65535,
      token: fromHex('0102030405060708'),
      options: [
        { number: 2000, value: value(0) },
        { number: 11, value: utf8('b') },
        { number: 11, value: utf8('a') },
        { number: 12, value: value(12) },
        { number: 25, value: value(13) },
        { number: 294, value: value(268) },
        { number: 563, value: value(269) },
        { number: 65535, value: value(1000) },
      ],
      payload: utf8('payload'),
    };
    const back = decodeCoapMessage(encodeCoapMessage(m));
    expect(back.options.map((o) => [o.number, o.value.length])).toEqual([
      [11, 1],
      [11, 1],
      [12, 12],
      [25, 13],
      [294, 268],
      [563, 269],
      [2000, 0],
      [65535, 1000],
    ]);
    expect(Buffer.from(back.options[0]!.value).toString()).toBe('b');
    expect(Buffer.from(back.payload).toString()).toBe('payload');
    expect(back.token).toEqual(m.token);
  });

  it('refuses message format errors with typed codes', () => {
    refused('4401', COAP_ERR.TRUNCATED);
    refused('84010001', COAP_ERR.BAD_VERSION);
    refused('49010001' + '00'.repeat(9), COAP_ERR.BAD_TOKEN); // TKL 9 is reserved
    refused('44010001aabbcc', COAP_ERR.TRUNCATED); // token cut short
    refused('40010001ff', COAP_ERR.EMPTY_PAYLOAD_MARKER);
    refused('40010001b3616263' + 'ff', COAP_ERR.EMPTY_PAYLOAD_MARKER);
    refused('40010001b5616263', COAP_ERR.TRUNCATED); // length 5, 3 bytes left
    refused('40010001d0', COAP_ERR.TRUNCATED); // delta extension missing
    refused('40010001f0', COAP_ERR.BAD_OPTION); // delta nibble 15 without length 15
    refused('400100010f', COAP_ERR.BAD_OPTION); // length nibble 15
    refused('40010001e0ffff', COAP_ERR.BAD_OPTION); // option number 65804
    refused('400000010000', COAP_ERR.BAD_EMPTY_MESSAGE); // 0.00 with bytes after the header
    refused('40010001' + '10'.repeat(65), COAP_ERR.TOO_MANY_OPTIONS);
    refused(new Uint8Array(70_000).fill(0x40), COAP_ERR.TOO_LARGE);
    refused('40010001' + '00', COAP_ERR.TOO_LARGE, { maxBytes: 4, maxOptions: 64 });
  });

  it('refuses to write what it could not read', () => {
    const base: CoapMessage = { code: 1, options: [], payload: new Uint8Array(0) };
    expect(() => encodeCoapMessage({ ...base, token: new Uint8Array(9) })).toThrow(CoapFormatError);
    expect(() => encodeCoapMessage({ ...base, code: 256 })).toThrow(CoapFormatError);
    expect(() => encodeCoapMessage({ ...base, messageId: 70000 })).toThrow(CoapFormatError);
    expect(() => encodeCoapMessage({ ...base, options: [{ number: 65536, value: new Uint8Array(0) }] })).toThrow(CoapFormatError);
    expect(() => encodeCoapMessage({ ...base, code: 0, payload: utf8('x') })).toThrow(CoapFormatError);
  });

  it('never throws anything but CoapFormatError on mutated input', () => {
    const good = fromHex('44015d1f00003974396c6f63616c686f737483747631ff48656c6c6f');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 3000; i++) {
      const b = good.slice(0, 1 + Math.floor(rnd() * good.length));
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        decodeCoapMessage(b);
      } catch (e) {
        expect(e).toBeInstanceOf(CoapFormatError);
      }
    }
  });
});
