/**
 * OSCORE refusals (RFC 8613 §7.4, §8.2, §8.4) and the promises of the state seam (§B.1.1): each
 * hostile message is refused with the code and answer the RFC prescribes, nothing it sends moves
 * the replay window, and neither a restart nor a second response ever reuses a nonce.
 */
import { describe, expect, it } from 'vitest';
import {
  COAP_OPTION,
  CoapFormatError,
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCoapMessage,
  encodeOscoreOption,
  fromHex,
  memoryOscoreStorage,
  OSCORE_ERR,
  OSCORE_MAX_SEQUENCE,
  OscoreError,
  oscoreAad,
  oscoreNonce,
  oscoreRefusal,
  oscoreStorageName,
  OscoreState,
  portableProvider,
  protectRequest,
  protectResponse,
  readOscoreOption,
  toHex,
  unprotectRequest,
  unprotectResponse,
  utf8,
  type CoapMessage,
  type OscoreContext,
  type OscoreStateStorage,
} from '../cose/index.js';

const provider = portableProvider;
const SECRET = fromHex('0102030405060708090a0b0c0d0e0f10');
const SALT = fromHex('9e7ca92223786340');
const clientCtx = deriveOscoreContext({ masterSecret: SECRET, masterSalt: SALT, senderId: utf8('client'), recipientId: utf8('server') }, provider);
const serverCtx = deriveOscoreContext({ masterSecret: SECRET, masterSalt: SALT, senderId: utf8('server'), recipientId: utf8('client') }, provider);
const fresh = (ctx: OscoreContext, storage: OscoreStateStorage = memoryOscoreStorage()) => OscoreState.open(ctx, storage);

const GET: CoapMessage = {
  type: 0,
  code: 1,
  messageId: 7,
  token: fromHex('a1a2'),
  options: [
    { number: COAP_OPTION.URI_HOST, value: utf8('device') },
    { number: COAP_OPTION.URI_PATH, value: utf8('result') },
  ],
  payload: new Uint8Array(0),
};

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof OscoreError || e instanceof CoapFormatError) return e.code;
    throw e;
  }
  throw new Error('expected a refusal');
}

function withOption(m: CoapMessage, value: Uint8Array): CoapMessage {
  return { ...m, options: [...m.options.filter((o) => o.number !== COAP_OPTION.OSCORE), { number: COAP_OPTION.OSCORE, value }] };
}

describe('OSCORE refusals', () => {
  it('a round trip works, and the refusal answers are the RFC 8613 §8.2 ones', () => {
    const client = fresh(clientCtx);
    const server = fresh(serverCtx);
    const { message, binding } = protectRequest(clientCtx, client, GET, provider);
    // Uri-Host stays outside (Class U), Uri-Path is encrypted (Class E).
    expect(message.options.map((o) => o.number)).toEqual([COAP_OPTION.URI_HOST, COAP_OPTION.OSCORE]);
    expect(message.code).toBe(2);
    const got = unprotectRequest(serverCtx, server, decodeCoapMessage(encodeCoapMessage(message)), provider);
    expect(toHex(encodeCoapMessage(got.message))).toBe(toHex(encodeCoapMessage(GET)));
    const res = protectResponse(serverCtx, server, { code: 69, options: [], payload: utf8('42') }, got.binding, provider);
    expect(Buffer.from(unprotectResponse(clientCtx, client, res, binding, provider).payload).toString()).toBe('42');
    const answers = Object.values(OSCORE_ERR).map((c) => {
      const r = oscoreRefusal(new OscoreError(c, 'x'));
      return [c, r?.code, r && Buffer.from(r.payload).toString()];
    });
    expect(answers).toContainEqual([OSCORE_ERR.REPLAY, 129, 'Replay detected']);
    expect(answers).toContainEqual([OSCORE_ERR.DECRYPT_FAILED, 128, 'Decryption failed']);
    expect(answers).toContainEqual([OSCORE_ERR.UNKNOWN_CONTEXT, 129, 'Security context not found']);
    expect(answers).toContainEqual([OSCORE_ERR.BAD_OPTION, 130, '']);
    expect(answers).toContainEqual([OSCORE_ERR.STORAGE, undefined, undefined]);
  });

  it('tampered ciphertext, Partial IV or code is 4.00 Decryption failed, and does not move the window', () => {
    const server = fresh(serverCtx);
    const { message } = protectRequest(clientCtx, fresh(clientCtx), GET, provider);
    for (let i = 0; i < message.payload.length; i++) {
      const payload = message.payload.slice();
      payload[i]! ^= 0x01;
      expect(codeOf(() => unprotectRequest(serverCtx, server, { ...message, payload }, provider))).toBe(OSCORE_ERR.DECRYPT_FAILED);
    }
    // A different Partial IV (a fresh number, so not the replay check) changes nonce and AAD.
    expect(codeOf(() => unprotectRequest(serverCtx, server, withOption(message, encodeOscoreOption({ partialIv: fromHex('05'), kid: utf8('client') })), provider))).toBe(
      OSCORE_ERR.DECRYPT_FAILED,
    );
    expect(codeOf(() => unprotectRequest(serverCtx, server, { ...message, payload: message.payload.subarray(0, 8) }, provider))).toBe(OSCORE_ERR.DECRYPT_FAILED);
    // None of that was accepted: the genuine request still is.
    expect(unprotectRequest(serverCtx, server, message, provider).sequenceNumber).toBe(0);
  });

  it('a wrong kid or kid context is 4.01 Security context not found; a wrong key is 4.00', () => {
    const { message } = protectRequest(clientCtx, fresh(clientCtx), GET, provider);
    expect(codeOf(() => unprotectRequest(serverCtx, fresh(serverCtx), withOption(message, encodeOscoreOption({ partialIv: fromHex('00'), kid: utf8('other') })), provider))).toBe(
      OSCORE_ERR.UNKNOWN_CONTEXT,
    );
    const withCtx = withOption(message, encodeOscoreOption({ partialIv: fromHex('00'), kid: utf8('client'), kidContext: fromHex('01') }));
    expect(codeOf(() => unprotectRequest(serverCtx, fresh(serverCtx), withCtx, provider))).toBe(OSCORE_ERR.UNKNOWN_CONTEXT);
    const wrong = deriveOscoreContext({ masterSecret: new Uint8Array(16).fill(9), masterSalt: SALT, senderId: utf8('server'), recipientId: utf8('client') }, provider);
    expect(codeOf(() => unprotectRequest(wrong, fresh(wrong), message, provider))).toBe(OSCORE_ERR.DECRYPT_FAILED);
  });

  it('a replayed Partial IV, or one below the window, is 4.01 Replay detected', () => {
    const client = fresh(clientCtx);
    const server = fresh(serverCtx);
    const first = protectRequest(clientCtx, client, GET, provider).message;
    unprotectRequest(serverCtx, server, first, provider);
    expect(codeOf(() => unprotectRequest(serverCtx, server, first, provider))).toBe(OSCORE_ERR.REPLAY);
    // Out of order inside the window is fine; 40 later the first one is below a 32-wide window.
    const later = Array.from({ length: 40 }, () => protectRequest(clientCtx, client, GET, provider).message);
    unprotectRequest(serverCtx, server, later[39]!, provider);
    unprotectRequest(serverCtx, server, later[20]!, provider);
    expect(codeOf(() => unprotectRequest(serverCtx, server, later[20]!, provider))).toBe(OSCORE_ERR.REPLAY);
    expect(codeOf(() => unprotectRequest(serverCtx, server, later[2]!, provider))).toBe(OSCORE_ERR.REPLAY);
  });

  it('malformed, oversized or repeated OSCORE options are 4.02 Bad Option', () => {
    const { message } = protectRequest(clientCtx, fresh(clientCtx), GET, provider);
    const server = fresh(serverCtx);
    for (const hex of [
      '00', // all flags zero must be the empty option
      '0e', // n = 6 is reserved
      '29aa', // a reserved flag bit
      '8900', // the extension bit we do not speak
      '020005', // Partial IV with a leading zero
      '0500', // Partial IV runs past the end
      '1900', // h without the kid context length... and the kid context runs past the end
      '19000a01', // kid context of 10 bytes, 1 present
      '0100ff', // bytes after the Partial IV without k
      '01', // n = 1 and nothing follows
      '0100', // no kid in a request
      '08636c69656e74', // no Partial IV in a request
      '', // neither
      '0900' + '61'.repeat(300), // oversized
    ]) {
      expect(codeOf(() => unprotectRequest(serverCtx, server, withOption(message, fromHex(hex)), provider)), hex).toBe(OSCORE_ERR.BAD_OPTION);
    }
    const twice = { ...message, options: [...message.options, message.options.find((o) => o.number === COAP_OPTION.OSCORE)!] };
    expect(codeOf(() => unprotectRequest(serverCtx, server, twice, provider))).toBe(OSCORE_ERR.BAD_OPTION);
    expect(codeOf(() => unprotectRequest(serverCtx, server, GET, provider))).toBe(OSCORE_ERR.BAD_OPTION);
    expect(readOscoreOption(GET)).toBeUndefined();
  });

  it('a plaintext that is not Code ‖ options ‖ payload, though it verifies, is refused (4.00)', () => {
    const piv = fromHex('07');
    const sealed = provider.aeadEncrypt(clientCtx.aead, clientCtx.senderKey, oscoreNonce(clientCtx, clientCtx.senderId, piv), oscoreAad(clientCtx, clientCtx.senderId, piv), fromHex('01ff'));
    const forged = { code: 2, options: [{ number: COAP_OPTION.OSCORE, value: encodeOscoreOption({ partialIv: piv, kid: clientCtx.senderId }) }], payload: sealed };
    const server = fresh(serverCtx);
    expect(codeOf(() => unprotectRequest(serverCtx, server, forged, provider))).toBe(OSCORE_ERR.BAD_PLAINTEXT);
  });

  it('a response is bound to its request: one for another request does not verify', () => {
    const client = fresh(clientCtx);
    const server = fresh(serverCtx);
    const a = protectRequest(clientCtx, client, GET, provider);
    const b = protectRequest(clientCtx, client, GET, provider);
    const bAtServer = unprotectRequest(serverCtx, server, b.message, provider);
    const resB = protectResponse(serverCtx, server, { code: 69, options: [], payload: utf8('for b') }, bAtServer.binding, provider);
    expect(codeOf(() => unprotectResponse(clientCtx, client, resB, a.binding, provider))).toBe(OSCORE_ERR.DECRYPT_FAILED);
    expect(Buffer.from(unprotectResponse(clientCtx, client, resB, b.binding, provider).payload).toString()).toBe('for b');
  });

  it("a second response to one request carries the server's own Partial IV, never the request's nonce again", () => {
    const server = fresh(serverCtx);
    const client = fresh(clientCtx);
    const req = protectRequest(clientCtx, client, GET, provider);
    const { binding } = unprotectRequest(serverCtx, server, req.message, provider);
    const r1 = protectResponse(serverCtx, server, { code: 69, options: [], payload: utf8('one') }, binding, provider);
    const r2 = protectResponse(serverCtx, server, { code: 69, options: [], payload: utf8('two') }, binding, provider);
    expect(readOscoreOption(r1)).toEqual({});
    expect(readOscoreOption(r2)?.partialIv).toEqual(fromHex('00'));
    expect(Buffer.from(unprotectResponse(clientCtx, client, r2, req.binding, provider).payload).toString()).toBe('two');
    // A response with its own Partial IV passes the client's replay window (RFC 8613 §7.4.1): once.
    expect(codeOf(() => unprotectResponse(clientCtx, client, r2, req.binding, provider))).toBe(OSCORE_ERR.REPLAY);
  });
});

describe('OSCORE Observe (RFC 8613 §4.1.3.5)', () => {
  it('a registration goes as FETCH with Observe inside and out; a notification as 2.05 with its own Partial IV and an empty inner Observe', () => {
    const client = fresh(clientCtx);
    const server = fresh(serverCtx);
    const observe = { number: COAP_OPTION.OBSERVE, value: new Uint8Array(0) };
    const reg = protectRequest(clientCtx, client, { ...GET, options: [...GET.options, observe] }, provider);
    expect(reg.message.code).toBe(5);
    expect(reg.message.options.map((o) => o.number)).toEqual([COAP_OPTION.URI_HOST, COAP_OPTION.OBSERVE, COAP_OPTION.OSCORE]);
    const atServer = unprotectRequest(serverCtx, server, reg.message, provider);
    expect(atServer.message.options.some((o) => o.number === COAP_OPTION.OBSERVE)).toBe(true);
    const notifications = [7, 8].map((n) =>
      protectResponse(serverCtx, server, { code: 69, options: [{ number: COAP_OPTION.OBSERVE, value: Uint8Array.of(n) }], payload: utf8(`reading ${n}`) }, atServer.binding, provider),
    );
    for (const [i, note] of notifications.entries()) {
      expect(note.code).toBe(69);
      expect(readOscoreOption(note)?.partialIv).toEqual(Uint8Array.of(i));
      const got = unprotectResponse(clientCtx, client, note, reg.binding, provider);
      expect(got.options.find((o) => o.number === COAP_OPTION.OBSERVE)?.value).toEqual(Uint8Array.of(7 + i));
      expect(Buffer.from(got.payload).toString()).toBe(`reading ${7 + i}`);
    }
    // A captured notification delivered again is refused (RFC 8613 §7.4.1).
    expect(codeOf(() => unprotectResponse(clientCtx, client, notifications[0]!, reg.binding, provider))).toBe(OSCORE_ERR.REPLAY);
  });
});

describe('OSCORE sequence numbers and replay window across restarts (RFC 8613 §B.1.1)', () => {
  it('a restart never reuses a Partial IV: it resumes at the reserved limit', () => {
    const storage = memoryOscoreStorage();
    const before = fresh(clientCtx, storage);
    const sent = [0, 1, 2].map(() => readOscoreOption(protectRequest(clientCtx, before, GET, provider).message)!.partialIv!);
    expect(storage.saved?.senderSequenceLimit).toBe(64);
    // "Reboot": a new state from the same storage.
    const after = fresh(clientCtx, storage);
    const next = readOscoreOption(protectRequest(clientCtx, after, GET, provider).message)!.partialIv!;
    expect(sent.map(toHex)).not.toContain(toHex(next));
    expect(toHex(next)).toBe('40'); // 64: the unused rest of the block is skipped
    expect(storage.saved?.senderSequenceLimit).toBe(128);
  });

  it('nothing is sent when the reservation cannot be saved, and exhaustion is refused', () => {
    let fail = false;
    const inner = memoryOscoreStorage();
    const flaky: OscoreStateStorage = { load: () => inner.load(), save: (s) => (fail ? (() => { throw new Error('flash full'); })() : inner.save(s)) };
    const state = OscoreState.open(clientCtx, flaky, { reserve: 2 });
    protectRequest(clientCtx, state, GET, provider);
    protectRequest(clientCtx, state, GET, provider);
    fail = true;
    expect(codeOf(() => protectRequest(clientCtx, state, GET, provider))).toBe(OSCORE_ERR.STORAGE);
    fail = false;
    // A message that cannot be protected spends no sequence number.
    const next = state.senderSequenceNumber;
    expect(codeOf(() => protectRequest(clientCtx, state, { ...GET, code: 256 }, provider))).toBe(OSCORE_ERR.BAD_MESSAGE);
    expect(codeOf(() => protectRequest(clientCtx, state, { ...GET, options: [{ number: 70000, value: new Uint8Array(0) }] }, provider))).toBe(OSCORE_ERR.BAD_MESSAGE);
    expect(state.senderSequenceNumber).toBe(next);
    const last = fresh(clientCtx, memoryOscoreStorage({ senderSequenceLimit: OSCORE_MAX_SEQUENCE, replayHighest: -1, replayBitmap: '0' }));
    expect(toHex(readOscoreOption(protectRequest(clientCtx, last, GET, provider).message)!.partialIv!)).toBe('ffffffffff');
    expect(codeOf(() => protectRequest(clientCtx, last, GET, provider))).toBe(OSCORE_ERR.SEQUENCE_EXHAUSTED);
  });

  it('the replay window survives a restart, and an unsaved acceptance is no acceptance', () => {
    const storage = memoryOscoreStorage();
    const client = fresh(clientCtx);
    const m0 = protectRequest(clientCtx, client, GET, provider).message;
    const m1 = protectRequest(clientCtx, client, GET, provider).message;
    unprotectRequest(serverCtx, fresh(serverCtx, storage), m0, provider);
    const restarted = fresh(serverCtx, storage);
    expect(codeOf(() => unprotectRequest(serverCtx, restarted, m0, provider))).toBe(OSCORE_ERR.REPLAY);
    expect(unprotectRequest(serverCtx, restarted, m1, provider).sequenceNumber).toBe(1);
    const broken: OscoreStateStorage = { load: () => undefined, save: () => { throw new Error('read-only'); } };
    expect(codeOf(() => unprotectRequest(serverCtx, OscoreState.open(serverCtx, broken), m0, provider))).toBe(OSCORE_ERR.STORAGE);
    expect(codeOf(() => OscoreState.open(serverCtx, memoryOscoreStorage({ senderSequenceLimit: -5, replayHighest: -1, replayBitmap: '0' })))).toBe(OSCORE_ERR.STORAGE);
  });

  it('a context re-derived with a new salt gets its own storage slot (its window starts empty)', () => {
    const again = deriveOscoreContext({ masterSecret: SECRET, masterSalt: SALT, senderId: utf8('client'), recipientId: utf8('server') }, provider);
    const resalted = deriveOscoreContext({ masterSecret: SECRET, masterSalt: fromHex('00'), senderId: utf8('client'), recipientId: utf8('server') }, provider);
    expect(oscoreStorageName(again, provider)).toBe(oscoreStorageName(clientCtx, provider));
    expect(oscoreStorageName(resalted, provider)).not.toBe(oscoreStorageName(clientCtx, provider));
    expect(oscoreStorageName(serverCtx, provider)).not.toBe(oscoreStorageName(clientCtx, provider));
    expect(oscoreStorageName(clientCtx, provider)).toMatch(/^oscore-[0-9a-f]{32}$/);
  });

  it('context input that cannot be safe is refused', () => {
    const base = { masterSecret: SECRET, senderId: utf8('a'), recipientId: utf8('b') };
    expect(codeOf(() => deriveOscoreContext({ ...base, senderId: new Uint8Array(8) }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => deriveOscoreContext({ ...base, recipientId: utf8('a') }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => deriveOscoreContext({ ...base, aeadAlg: -7 }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => deriveOscoreContext({ ...base, hkdfAlg: 5 }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => deriveOscoreContext({ ...base, masterSecret: new Uint8Array(0) }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => deriveOscoreContext({ ...base, replayWindow: 8 }, provider))).toBe(OSCORE_ERR.BAD_CONTEXT);
    expect(codeOf(() => protectRequest(clientCtx, fresh(clientCtx), { ...GET, options: [{ number: COAP_OPTION.PROXY_URI, value: utf8('coap://x/') }] }, provider))).toBe(
      OSCORE_ERR.BAD_MESSAGE,
    );
  });

  it('mutated protected requests are refused with typed errors only, and never accepted', () => {
    // Without Uri-Host: Class U options travel unprotected by design (RFC 8613 §4.1.3), so only the header is left to the transport.
    const plainGet = { ...GET, options: GET.options.filter((o) => o.number !== COAP_OPTION.URI_HOST) };
    const good = encodeCoapMessage(protectRequest(clientCtx, fresh(clientCtx), plainGet, provider).message);
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 1500; i++) {
      const b = good.slice();
      const at = Math.floor(rnd() * b.length);
      b[at]! ^= 1 + Math.floor(rnd() * 255);
      // Bytes of the header (type, Message ID, token) are not protected: RFC 8613 §4.2 leaves them to the transport.
      if (at < 6) continue;
      try {
        unprotectRequest(serverCtx, fresh(serverCtx), decodeCoapMessage(b), provider);
        throw new Error(`accepted a mutation at ${at}`);
      } catch (e) {
        if (!(e instanceof OscoreError || e instanceof CoapFormatError)) throw e;
      }
    }
  });
});
