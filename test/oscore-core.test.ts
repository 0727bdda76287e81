/**
 * The OSCORE core (cose/coap-message.ts, oscore-context.ts, oscore-protect.ts) against RFC 8613
 * Appendix C (../shared/vectors/oscore/rfc8613-appendix-c.txt: C.1, C.2 key derivation, C.4
 * request, C.7 response, byte for byte, through both crypto providers), and under attack: a
 * tampered ciphertext, a replayed Partial IV, a malformed OSCORE option, a restart that must not
 * reuse a sequence number.
 */
import { describe, it, expect } from 'vitest';
import {
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCoapMessage,
  fromHex,
  portableProvider,
  protectRequest,
  protectResponse,
  toHex,
  unprotectRequest,
  unprotectResponse,
  OscoreError,
  CoseError,
  type CryptoProvider,
  type OscoreSequenceStore,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';

const MS = fromHex('0102030405060708090a0b0c0d0e0f10');
const SALT = fromHex('9e7ca92223786340');

for (const [name, provider] of [
  ['portable', portableProvider],
  ['native', nativeProvider],
] as [string, CryptoProvider][]) {
  describe(`RFC 8613 Appendix C (${name} provider)`, () => {
    const client = () => deriveOscoreContext({ masterSecret: MS, masterSalt: SALT, senderId: new Uint8Array(0), recipientId: fromHex('01') }, provider);
    const server = () => deriveOscoreContext({ masterSecret: MS, masterSalt: SALT, senderId: fromHex('01'), recipientId: new Uint8Array(0) }, provider);

    it('C.1: keys and Common IV with a Master Salt', () => {
      const c = client();
      expect(toHex(c.senderKey)).toBe('f0910ed7295e6ad4b54fc793154302ff');
      expect(toHex(c.recipientKey)).toBe('ffb14e093c94c9cac9471648b4f98710');
      expect(toHex(c.commonIv)).toBe('4622d4dd6d944168eefb54987c');
    });

    it('C.2: keys and Common IV without a Master Salt', () => {
      const c = deriveOscoreContext({ masterSecret: MS, senderId: fromHex('00'), recipientId: fromHex('01') }, provider);
      expect(toHex(c.senderKey)).toBe('321b26943253c7ffb6003b0b64d74041');
      expect(toHex(c.recipientKey)).toBe('e57b5635815177cd679ab4bcec9d7dda');
      expect(toHex(c.commonIv)).toBe('be35ae297d2dace910c52e99f9');
    });

    it('C.4 and C.7: the request and its response, byte for byte, and both open', () => {
      const c = client();
      c.senderSequence = 20;
      const request = decodeCoapMessage(fromHex('44015d1f00003974396c6f63616c686f737483747631'));
      const { message, binding } = protectRequest(c, request);
      expect(toHex(encodeCoapMessage(message))).toBe('44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e');
      const s = server();
      const opened = unprotectRequest(s, decodeCoapMessage(encodeCoapMessage(message)));
      expect(toHex(encodeCoapMessage(opened.request))).toBe('44015d1f00003974396c6f63616c686f737483747631');
      const response = decodeCoapMessage(fromHex('64455d1f00003974ff48656c6c6f20576f726c6421'));
      const protectedResponse = protectResponse(s, response, opened.binding);
      expect(toHex(encodeCoapMessage(protectedResponse))).toBe('64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106');
      const inner = unprotectResponse(c, protectedResponse, binding);
      expect(toHex(encodeCoapMessage(inner))).toBe('64455d1f00003974ff48656c6c6f20576f726c6421');
    });
  });
}

describe('OSCORE under attack', () => {
  const pair = () => ({
    c: deriveOscoreContext({ masterSecret: MS, masterSalt: SALT, senderId: fromHex('0a'), recipientId: fromHex('0b') }, portableProvider),
    s: deriveOscoreContext({ masterSecret: MS, masterSalt: SALT, senderId: fromHex('0b'), recipientId: fromHex('0a') }, portableProvider),
  });
  const get = { type: 0 as const, code: 1, messageId: 7, token: fromHex('01'), options: [{ number: 11, value: fromHex('6162') }], payload: new Uint8Array(0) };
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof OscoreError ? `${e.coapCode} ${e.diagnostic}` : (e as CoseError).code;
    }
    return 'accepted';
  };

  it('refuses a tampered ciphertext (4.00 Decryption failed) and leaves the window alone', () => {
    const { c, s } = pair();
    const { message } = protectRequest(c, get);
    const bad = { ...message, payload: message.payload.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(code(() => unprotectRequest(s, bad))).toBe('400 Decryption failed');
    expect(code(() => unprotectRequest(s, message))).toBe('accepted');
  });

  it('refuses a replayed Partial IV (4.01 Replay detected), in and left of the window', () => {
    const { c, s } = pair();
    const first = protectRequest(c, get).message;
    expect(code(() => unprotectRequest(s, first))).toBe('accepted');
    expect(code(() => unprotectRequest(s, first))).toBe('401 Replay detected');
    c.senderSequence = 100;
    expect(code(() => unprotectRequest(s, protectRequest(c, get).message))).toBe('accepted');
    c.senderSequence = 1; // left of the 32-wide window now
    expect(code(() => unprotectRequest(s, protectRequest(c, get).message))).toBe('401 Replay detected');
  });

  it('refuses a malformed OSCORE option (4.02) and a wrong key', () => {
    const { c, s } = pair();
    const { message } = protectRequest(c, get);
    const withOption = (value: Uint8Array) => ({ ...message, options: [{ number: 9, value }] });
    expect(code(() => unprotectRequest(s, withOption(fromHex('e10b'))))).toMatch(/^402/);
    expect(code(() => unprotectRequest(s, withOption(fromHex('07'))))).toMatch(/^402/);
    expect(code(() => unprotectRequest(s, withOption(fromHex('1901'))))).toMatch(/^402/);
    const other = deriveOscoreContext({ masterSecret: fromHex('ff'.repeat(16)), masterSalt: SALT, senderId: fromHex('0b'), recipientId: fromHex('0a') }, portableProvider);
    expect(code(() => unprotectRequest(other, message))).toBe('400 Decryption failed');
  });

  it('never reuses a sequence number after a restart (RFC 8613 §B.1.1)', () => {
    let saved: number | undefined;
    const store: OscoreSequenceStore = { load: () => saved, save: (n) => void (saved = n) };
    const input = { masterSecret: MS, masterSalt: SALT, senderId: fromHex('0a'), recipientId: fromHex('0b') };
    const before = deriveOscoreContext(input, portableProvider, { sequenceStore: store });
    const used = new Set<string>();
    for (let i = 0; i < 5; i++) used.add(toHex(protectRequest(before, get).binding.piv));
    // Power cut: the context is gone, the store kept its reservation.
    const after = deriveOscoreContext(input, portableProvider, { sequenceStore: store });
    const next = toHex(protectRequest(after, get).binding.piv);
    expect(used.has(next)).toBe(false);
    expect(saved).toBeGreaterThan(5);
  });

  it('refuses malformed CoAP messages with a typed error', () => {
    for (const hex of ['40', '4901000000', '40010000ff', '400100001d', '4001000001']) {
      expect(code(() => decodeCoapMessage(fromHex(hex)))).toBe('ERR_COAP_MALFORMED');
    }
  });
});
