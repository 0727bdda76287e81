/**
 * OSCORE in the portable core (cose/oscore-*.ts, RFC 8613): the context derivation and the
 * protection of a request and of its response reproduce RFC 8613 Appendix C.1, C.4 and C.7 byte
 * for byte (test/vectors/oscore-rfc8613-c.json, copied from ../shared/vectors/oscore/); a replayed
 * or tampered request, an unknown kid and a malformed OSCORE option are refused with the §8.2
 * answers; sequence numbers reserved ahead in storage are never reused after a restart (§B.1.1).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
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
  type OscoreContextStore,
} from '../cose/index.js';

const v = JSON.parse(readFileSync(new URL('./vectors/oscore-rfc8613-c.json', import.meta.url), 'utf8')) as Record<string, string>;
const base = { masterSecret: fromHex(v.masterSecret!), masterSalt: fromHex(v.masterSalt!) };
const memoryStore = (seq?: number): OscoreContextStore & { saved: number[] } => {
  const saved: number[] = [];
  let window: { highest: number; bits: number } | undefined;
  return {
    saved,
    loadSeq: () => (saved.length ? saved.at(-1) : seq),
    saveSeq: (n) => void saved.push(n),
    loadWindow: () => window,
    saveWindow: (w) => void (window = w),
  };
};
const client = (store = memoryStore(20)) => deriveOscoreContext({ ...base, senderId: new Uint8Array(0), recipientId: fromHex('01'), store }, portableProvider);
const server = (store = memoryStore()) => deriveOscoreContext({ ...base, senderId: fromHex('01'), recipientId: new Uint8Array(0), store }, portableProvider);

describe('RFC 8613 Appendix C', () => {
  it('C.1: the client context', () => {
    const c = client();
    expect([toHex(c.senderKey), toHex(c.recipientKey), toHex(c.commonIv)]).toEqual([v.clientSenderKey, v.clientRecipientKey, v.commonIv]);
  });

  it('C.4 and C.7: the protected request and response, byte for byte, and both ends open them', () => {
    const c = client();
    const { message, binding } = protectRequest(c, decodeCoapMessage(fromHex(v.c4Unprotected!)));
    expect(toHex(encodeCoapMessage(message))).toBe(v.c4Protected);
    const s = server();
    const opened = unprotectRequest(s, decodeCoapMessage(fromHex(v.c4Protected!)));
    expect(toHex(encodeCoapMessage(opened.message))).toBe(v.c4Unprotected);
    const answer = protectResponse(s, opened.binding, decodeCoapMessage(fromHex(v.c7Unprotected!)));
    expect(toHex(encodeCoapMessage(answer))).toBe(v.c7Protected);
    expect(toHex(encodeCoapMessage(unprotectResponse(c, binding, answer)))).toBe(v.c7Unprotected);
  });
});

describe('refusals (RFC 8613 §8.2)', () => {
  const request = () => decodeCoapMessage(fromHex(v.c4Protected!));
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(OscoreError);
      return [(e as OscoreError).code, (e as OscoreError).coapCode.toString(16)];
    }
    return ['accepted'];
  };
  it('a replayed request is 4.01 replay; a tampered one 4.00; another kid 4.01; a bad option 4.02', () => {
    const s = server();
    unprotectRequest(s, request());
    expect(refusal(() => unprotectRequest(s, request()))).toEqual(['replay', '81']);
    const tampered = request();
    tampered.payload[0]! ^= 1;
    const fresh = server();
    expect(refusal(() => unprotectRequest(fresh, tampered))).toEqual(['decrypt_failed', '80']);
    expect(fresh.isFresh(20)).toBe(true); // a failed tag does not move the window
    const otherKid = request();
    otherKid.options = otherKid.options.map((o) => (o.number === 9 ? { number: 9, value: fromHex('091442') } : o));
    expect(refusal(() => unprotectRequest(server(), otherKid))).toEqual(['unknown_context', '81']);
    const bad = request();
    bad.options = bad.options.map((o) => (o.number === 9 ? { number: 9, value: fromHex('e914') } : o));
    expect(refusal(() => unprotectRequest(server(), bad))).toEqual(['bad_option', '82']);
  });

  it('the replay window survives a restart through its store; old numbers stay refused, new ones pass', () => {
    const store = memoryStore();
    unprotectRequest(server(store), request());
    expect(refusal(() => unprotectRequest(server(store), request()))).toEqual(['replay', '81']);
  });
});

describe('sequence numbers reserved ahead (RFC 8613 §B.1.1)', () => {
  it('a restarted sender starts past every number it may have used', () => {
    const store = memoryStore(0);
    const first = deriveOscoreContext({ ...base, senderId: fromHex('01'), recipientId: fromHex(''), store, seqReserve: 4 }, portableProvider);
    const used = [first.nextSeq(), first.nextSeq(), first.nextSeq(), first.nextSeq(), first.nextSeq()];
    expect(used).toEqual([0, 1, 2, 3, 4]);
    expect(store.saved).toEqual([4, 8]); // reserved before use
    const again = deriveOscoreContext({ ...base, senderId: fromHex('01'), recipientId: fromHex(''), store, seqReserve: 4 }, portableProvider);
    expect(again.nextSeq()).toBe(8);
  });
});
