/**
 * OSCORE (RFC 8613, cose/oscore-protect.ts) in process: request/response round trips per second
 * (client protects, device opens, device protects its answer, client opens) against raw AES-CCM
 * seal + open of the same plaintexts under the same keys (the AEAD alone, no CoAP or CBOR work),
 * and the bytes OSCORE adds per message against RFC 8613's minimum for the options used.
 */
import {
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCoapMessage,
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

const ROUND_MS = 1000;

function opsPerSecond(fn: () => void, ms: number): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 8; i++) fn();
    n += 8;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (n * 1000) / elapsed;
}

function pair(provider: CryptoProvider) {
  const ms = new Uint8Array(32).fill(7);
  const salt = new Uint8Array(24).fill(3);
  return {
    client: deriveOscoreContext({ masterSecret: ms, masterSalt: salt, senderId: Uint8Array.of(0x1a, 0x2b), recipientId: Uint8Array.of(0x01) }, provider),
    device: deriveOscoreContext({ masterSecret: ms, masterSalt: salt, senderId: Uint8Array.of(0x01), recipientId: Uint8Array.of(0x1a, 0x2b) }, provider),
  };
}

export async function benchOscore(): Promise<void> {
  const request: CoapMessage = { type: 0, code: 1, messageId: 1, token: Uint8Array.of(1, 2), options: [{ number: 11, value: utf8('result') }], payload: new Uint8Array(0) };
  const response: CoapMessage = { type: 2, code: 0x45, messageId: 1, token: Uint8Array.of(1, 2), options: [], payload: utf8('36.6') };
  for (const [name, provider] of [
    ['portable', portableProvider],
    ['native', nativeProvider],
  ] as [string, CryptoProvider][]) {
    const { client, device } = pair(provider);
    const roundTrip = () => {
      const { message, binding } = protectRequest(client, request);
      const opened = unprotectRequest(device, decodeCoapMessage(encodeCoapMessage(message)));
      const answer = protectResponse(device, response, opened.binding);
      unprotectResponse(client, decodeCoapMessage(encodeCoapMessage(answer)), binding);
    };
    // The AEAD alone on the same plaintexts (code + options + payload, RFC 8613 §5.3), 13-byte nonce, 8-byte tag.
    const aead = client.aead;
    const reqPlain = Uint8Array.of(1, 0xb6, ...utf8('result'));
    const resPlain = Uint8Array.of(0x45, 0xff, ...utf8('36.6'));
    const nonce = new Uint8Array(13);
    const aad = new Uint8Array(20);
    const raw = () => {
      provider.aeadDecrypt(aead, device.recipientKey, nonce, aad, provider.aeadEncrypt(aead, client.senderKey, nonce, aad, reqPlain));
      provider.aeadDecrypt(aead, client.recipientKey, nonce, aad, provider.aeadEncrypt(aead, device.senderKey, nonce, aad, resPlain));
    };
    opsPerSecond(roundTrip, 200);
    opsPerSecond(raw, 200);
    const rt = opsPerSecond(roundTrip, ROUND_MS);
    const base = opsPerSecond(raw, ROUND_MS);
    recordFigure({ name: `oscore.round_trips_per_s.${name}`, value: rt, unit: 'round trips/s', baseline: base, ratio: rt / base });
    console.log(`OSCORE round trips (${name} provider): ${rt.toFixed(0)}/s; raw AES-CCM seal+open of the same bytes: ${base.toFixed(0)}/s (ratio ${(rt / base).toFixed(2)})`);
  }
  // Bytes added: the protected message minus the unprotected one. RFC 8613's minimum for these
  // messages: the OSCORE option (§6.1: 1 option header byte + flags + 1-byte Partial IV + kid in a
  // request; an empty option, its header byte alone, in a response), the inner code byte (§5.3:
  // the plaintext starts with the original code, the outer one is POST or 2.04), the 8-byte tag
  // of AES-CCM-16-64-128, and the payload markers the ciphertext needs (outer for a GET that had
  // no payload; inner where the response has one).
  const { client, device } = pair(portableProvider);
  client.senderSequence = 5;
  const plainReq = encodeCoapMessage(request).length;
  const { message, binding } = protectRequest(client, request);
  const protectedReq = encodeCoapMessage(message).length;
  const opened = unprotectRequest(device, message);
  const plainRes = encodeCoapMessage(response).length;
  const protectedRes = encodeCoapMessage(protectResponse(device, response, opened.binding)).length;
  void binding;
  const reqMin = 1 + 1 + 1 + client.senderId.length + 1 + 8 + 1; // option header, flags, PIV, kid, inner code, tag, outer marker
  const resMin = 1 + 1 + 1 + 8; // empty option header, inner code, inner marker, tag (the outer marker was there)
  recordFigure({ name: 'oscore.bytes_added.request', value: protectedReq - plainReq, unit: 'B', baseline: reqMin, ratio: (protectedReq - plainReq) / reqMin, goal: `= ${reqMin} B (RFC 8613 minimum)`, met: protectedReq - plainReq === reqMin });
  recordFigure({ name: 'oscore.bytes_added.response', value: protectedRes - plainRes, unit: 'B', baseline: resMin, ratio: (protectedRes - plainRes) / resMin, goal: `= ${resMin} B (RFC 8613 minimum)`, met: protectedRes - plainRes === resMin });
  console.log(`bytes OSCORE adds: request ${protectedReq - plainReq} B (minimum ${reqMin}), response ${protectedRes - plainRes} B (minimum ${resMin})`);
}
