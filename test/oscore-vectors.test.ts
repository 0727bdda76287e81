/**
 * RFC 8613 Appendix C byte for byte, read from the RFC text itself (test/vectors/oscore):
 * C.1–C.3 context derivation (HKDF info, keys, Common IV, nonces) for both ends.
 */
import { describe, expect, it } from 'vitest';
import { deriveOscoreContext, oscoreHkdfInfo, oscoreNonce, portableProvider, toHex, type OscoreContextInput } from '../cose/index.js';
import { appendixSection, vector } from './support/oscore-vectors.js';

const provider = portableProvider;
const hex = (b: Uint8Array) => toHex(b);

function inputOf(section: Map<string, Uint8Array>): OscoreContextInput {
  return {
    masterSecret: vector(section, 'Master Secret'),
    masterSalt: section.get('Master Salt'),
    idContext: section.get('ID Context'),
    senderId: vector(section, 'Sender ID'),
    recipientId: vector(section, 'Recipient ID'),
  };
}

describe('RFC 8613 C.1–C.3: security context derivation', () => {
  for (const id of ['C.1.1', 'C.1.2', 'C.2.1', 'C.2.2', 'C.3.1', 'C.3.2']) {
    it(`${id}: HKDF info, Sender/Recipient Key, Common IV and nonces`, () => {
      const s = appendixSection(id);
      const input = inputOf(s);
      const ctx = deriveOscoreContext(input, provider);
      expect(hex(oscoreHkdfInfo(input.senderId, input.idContext, 10, 'Key', 16))).toBe(hex(vector(s, 'info (for Sender Key)')));
      expect(hex(oscoreHkdfInfo(input.recipientId, input.idContext, 10, 'Key', 16))).toBe(hex(vector(s, 'info (for Recipient Key)')));
      expect(hex(oscoreHkdfInfo(new Uint8Array(0), input.idContext, 10, 'IV', 13))).toBe(hex(vector(s, 'info (for Common IV)')));
      expect(hex(ctx.senderKey)).toBe(hex(vector(s, 'Sender Key')));
      expect(hex(ctx.recipientKey)).toBe(hex(vector(s, 'Recipient Key')));
      expect(hex(ctx.commonIv)).toBe(hex(vector(s, 'Common IV')));
      const zero = new Uint8Array([0]);
      expect(hex(oscoreNonce(ctx, ctx.senderId, zero))).toBe(hex(vector(s, 'sender nonce')));
      expect(hex(oscoreNonce(ctx, ctx.recipientId, zero))).toBe(hex(vector(s, 'recipient nonce')));
    });
  }
});
