/**
 * OSCORE (RFC 8613) cost, both ends in one process: request/response round trips per second
 * (client protect → server unprotect → server protect → client unprotect, with the CoAP encoding
 * of both messages) against the raw AES-CCM seal + open of the same plaintexts with the same
 * keys, nonces and AAD (the four AEAD operations a round trip cannot avoid); and the bytes OSCORE
 * adds to a request and a response against RFC 8613's minimum for the options used, computed from
 * the RFC's rules (§6.1 option, §5.3 plaintext, AEAD tag) rather than from our encoder.
 */
import {
  COAP_OPTION,
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCoapMessage,
  fromHex,
  memoryOscoreStorage,
  oscoreAad,
  oscoreNonce,
  OscoreState,
  portableProvider,
  protectRequest,
  protectResponse,
  unprotectRequest,
  unprotectResponse,
  utf8,
  type CoapMessage,
  type CryptoProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { recordFigure } from './figures.js';
import { compare, median, opsPerSecond, ROUNDS } from './interleaved.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);

/** A device-like exchange: GET coap://device/result → 2.05 with a small CBOR-sized reading. */
const REQUEST: CoapMessage = {
  type: 0,
  code: 1,
  messageId: 1,
  token: fromHex('a1b2c3d4'),
  options: [
    { number: COAP_OPTION.URI_HOST, value: utf8('device') },
    { number: COAP_OPTION.URI_PATH, value: utf8('result') },
  ],
  payload: new Uint8Array(0),
};
const RESPONSE: CoapMessage = { code: 69, options: [{ number: COAP_OPTION.CONTENT_FORMAT, value: Uint8Array.of(60) }], payload: utf8('{"hr":72,"spo2":98}') };

/** Minimal big-endian length of a sequence number (RFC 8613 §6.1: 0 is one byte). */
function pivLength(seq: number): number {
  let n = 1;
  while (seq >= 256 ** n) n++;
  return n;
}

/**
 * RFC 8613's minimum added bytes: the OSCORE option (one header byte while its delta and length
 * stay under 13, then its value: flag byte, Partial IV and kid in a request; empty in a first
 * response), the inner code byte (§5.3), one payload marker (the outer one if the message had no
 * payload, else the inner one), and the AEAD tag.
 */
function rfcMinimum(optionValue: number, tag: number): number {
  return 1 + (optionValue >= 13 ? 1 : 0) + optionValue + 1 + 1 + tag;
}

/**
 * Our own cost per round trip, crypto excluded: the same calls with an AEAD that only appends a
 * zero tag. Steadier on a shared machine than a ratio, and it says what the ratio can be.
 */
const instant: CryptoProvider = {
  ...portableProvider,
  name: 'instant',
  aeadEncrypt: (aead, _k, _n, _a, p) => {
    const out = new Uint8Array(p.length + aead.tagLength);
    out.set(p);
    return out;
  },
  aeadDecrypt: (aead, _k, _n, _a, sealed) => sealed.slice(0, sealed.length - aead.tagLength),
};

export async function benchOscore(): Promise<void> {
  const input = { masterSecret: fromHex('0102030405060708090a0b0c0d0e0f10'), masterSalt: fromHex('9e7ca92223786340') };
  let overheadUs = 0;
  for (const provider of [instant, portableProvider, nativeProvider] as CryptoProvider[]) {
    const client = deriveOscoreContext({ ...input, senderId: utf8('c'), recipientId: utf8('s') }, provider);
    const server = deriveOscoreContext({ ...input, senderId: utf8('s'), recipientId: utf8('c') }, provider);
    const cs = OscoreState.open(client, memoryOscoreStorage(), { reserve: 1024 });
    const ss = OscoreState.open(server, memoryOscoreStorage(), { reserve: 1024 });
    let last: { req: number; res: number } = { req: 0, res: 0 };
    const roundTrip = () => {
      const p = protectRequest(client, cs, REQUEST, provider);
      const wireReq = encodeCoapMessage(p.message);
      const atServer = unprotectRequest(server, ss, decodeCoapMessage(wireReq), provider);
      const wireRes = encodeCoapMessage(protectResponse(server, ss, { ...RESPONSE, type: 2, messageId: 1, token: REQUEST.token! }, atServer.binding, provider));
      unprotectResponse(client, cs, decodeCoapMessage(wireRes), p.binding, provider);
      last = { req: wireReq.length, res: wireRes.length };
    };
    // The raw baseline: the same plaintexts, keys, nonces and AAD, sealed and opened directly.
    const piv = Uint8Array.of(1, 0);
    const nonce = oscoreNonce(client, client.senderId, piv);
    const aad = oscoreAad(client, client.senderId, piv);
    const reqPlain = Uint8Array.from([1, 0xb6, ...utf8('result')]);
    const resPlain = Uint8Array.from([69, 0xc1, 60, 0xff, ...RESPONSE.payload]);
    const raw = () => {
      const a = provider.aeadEncrypt(client.aead, client.senderKey, nonce, aad, reqPlain);
      if (!provider.aeadDecrypt(server.aead, server.recipientKey, nonce, aad, a)) throw new Error('bench: raw open failed');
      const b = provider.aeadEncrypt(server.aead, server.senderKey, nonce, aad, resPlain);
      if (!provider.aeadDecrypt(client.aead, client.recipientKey, nonce, aad, b)) throw new Error('bench: raw open failed');
    };
    if (provider === instant) {
      opsPerSecond(roundTrip, 300);
      overheadUs = 1e6 / median([0, 1, 2].map(() => opsPerSecond(roundTrip, 500)));
      console.log(`Our overhead per round trip, AEAD excluded (codec, AAD, nonces, state): ${overheadUs.toFixed(1)} µs`);
      recordFigure({ name: 'oscore.overhead_us_per_round_trip', value: overheadUs, unit: 'µs' });
      continue;
    }
    const r = compare(roundTrip, raw);
    console.log(`\nRound trips, ${provider.name} provider (both ends in process, AES-CCM-16-64-128):`);
    console.log(`  raw AES-CCM seal+open ×2  ${fmt(r.b)} /s`);
    console.log(`  OSCORE request+response   ${fmt(r.a)} /s   ratio ${r.ratio.toFixed(3)}x raw (median of ${ROUNDS} interleaved rounds)`);
    const rawUs = 1e6 / r.b;
    console.log(`  from the overhead: ${rawUs.toFixed(0)} µs raw → expected ratio ${(rawUs / (rawUs + overheadUs)).toFixed(3)}x`);
    recordFigure({ name: `oscore.round_trips_per_s.${provider.name}`, value: r.a, unit: 'round trips/s', baseline: r.b, ratio: r.ratio });

    if (provider === portableProvider) {
      const reqPlainLen = encodeCoapMessage(REQUEST).length;
      const resPlainLen = encodeCoapMessage({ ...RESPONSE, type: 2, messageId: 1, token: REQUEST.token! }).length;
      const seq = cs.senderSequenceNumber - 1;
      const reqAdded = last.req - reqPlainLen;
      const resAdded = last.res - resPlainLen;
      const reqMin = rfcMinimum(1 + pivLength(seq) + client.senderId.length, client.aead.tagLength);
      const resMin = rfcMinimum(0, client.aead.tagLength);
      console.log(`\nBytes OSCORE adds (kid 1 byte, Partial IV ${pivLength(seq)} bytes, 8-byte tag):`);
      console.log(`  request   ${reqPlainLen} → ${last.req} bytes: +${reqAdded} (RFC 8613 minimum +${reqMin})`);
      console.log(`  response  ${resPlainLen} → ${last.res} bytes: +${resAdded} (RFC 8613 minimum +${resMin})`);
      for (const [name, value, min] of [
        ['request', reqAdded, reqMin],
        ['response', resAdded, resMin],
      ] as const) {
        recordFigure({ name: `oscore.bytes_added.${name}`, value, unit: 'bytes', baseline: min, ratio: value / min, goal: '= RFC 8613 minimum', met: value === min });
      }
    }
  }
}
