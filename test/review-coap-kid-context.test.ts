/**
 * RFC 8613 §8.2 step 2: a request's context is the one its kid AND kid context name. The kid
 * context is an outer, unprotected field of the OSCORE option: an on-path sender can add or change
 * it, so a kid context that is not the context's ID Context must find no context (4.01), not be
 * ignored, and must spend nothing (the request's Partial IV stays good for the genuine request).
 */
import { describe, expect, it } from 'vitest';
import {
  OSCORE_ERR,
  OscoreError,
  OscoreState,
  deriveOscoreContext,
  fromHex,
  memoryOscoreStorage,
  protectRequest,
  readOscoreOption,
  unprotectRequest,
  type CoapMessage,
  type OscoreContext,
  type OscoreContextInput,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';

const MS = fromHex('0102030405060708090a0b0c0d0e0f10');
const base = (idContext?: Uint8Array): Omit<OscoreContextInput, 'senderId' | 'recipientId'> => ({ masterSecret: MS, ...(idContext ? { idContext } : {}) });
const end = (ctx: OscoreContext) => ({ ctx, state: OscoreState.open(ctx, memoryOscoreStorage()) });
const pair = (idContext?: Uint8Array) => ({
  client: end(deriveOscoreContext({ ...base(idContext), senderId: fromHex('01'), recipientId: fromHex('02') }, nativeProvider)),
  server: end(deriveOscoreContext({ ...base(idContext), senderId: fromHex('02'), recipientId: fromHex('01') }, nativeProvider)),
});
type End = ReturnType<typeof end>;
const protect = (c: End, kidContext = false) => protectRequest(c.ctx, c.state, GET, nativeProvider, { sendKidContext: kidContext }).message;
const unprotect = (s: End, m: CoapMessage) => unprotectRequest(s.ctx, s.state, m, nativeProvider);
const GET: CoapMessage = { code: 1, options: [{ number: 11, value: Uint8Array.of(0x72) }], payload: new Uint8Array(0) };

/** The request with its OSCORE option's kid context set to `kidContext` (or dropped: undefined). */
function withKidContext(m: CoapMessage, kidContext: Uint8Array | undefined): CoapMessage {
  const o = readOscoreOption(m)!;
  const flags = o.partialIv!.length | 0x08 | (kidContext ? 0x10 : 0);
  const value = Uint8Array.of(flags, ...o.partialIv!, ...(kidContext ? [kidContext.length, ...kidContext] : []), ...o.kid!);
  return { ...m, options: m.options.map((x) => (x.number === 9 ? { number: 9, value } : x)) };
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (error instanceof OscoreError) return `${error.code} ${error.coap}`;
    throw error;
  }
  return 'accepted';
}

describe('OSCORE kid context (RFC 8613 §8.2 step 2)', () => {
  it('a context without an ID Context refuses a request that carries a kid context, then takes the genuine one', () => {
    const { client, server } = pair();
    const message = protect(client);
    expect(refusal(() => unprotect(server, withKidContext(message, fromHex('eeee'))))).toBe(`${OSCORE_ERR.UNKNOWN_CONTEXT} 129`); // 4.01
    expect(refusal(() => unprotect(server, message))).toBe('accepted');
  });

  it('a context with an ID Context takes its own kid context (or none), refuses another', () => {
    const { client, server } = pair(fromHex('37cbf3210017a2d3'));
    const message = protect(client, true);
    expect(readOscoreOption(message)!.kidContext).toEqual(fromHex('37cbf3210017a2d3'));
    expect(refusal(() => unprotect(server, withKidContext(message, fromHex('37cbf3210017a2d4'))))).toBe(`${OSCORE_ERR.UNKNOWN_CONTEXT} 129`);
    expect(refusal(() => unprotect(server, withKidContext(message, undefined)))).toBe('accepted');
    expect(refusal(() => unprotect(server, protect(client, true)))).toBe('accepted');
  });
});
