/**
 * Adversarial review of the device's OSCORE context table (device/oscore-contexts.ts; the
 * contexts of RFC 9203 /authz-info exchanges): proven contexts never give way, so the table is a
 * budget. The attack: one client, with a token it is
 * entitled to and its key, opens and proves session after session until every slot is its own;
 * every other client is then refused `busy` until the attacker's token expires. One client must
 * hold only a share of the slots (past it, its own least recently used context gives way). And a session message naming a kid that could never be a session
 * id gets a typed refusal, not an internal error from the storage layer.
 * Real service over HTTP with SQLite on disk, a device runtime on file storage.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { decodeCoapMessage, deriveOscoreContext, encodeCoapMessage, fromHex, utf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginOscoreClient,
  createResourceServer,
  DEFAULT_DEVICE_PROFILE,
  OscoreClient,
  serveAuthzInfo,
  serveRequest,
  trustStoreFromBundle,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const encode = encodeCoapMessage;

describe('the OSCORE context table is budgeted per client', () => {
  const now = 1_800_000_000;
  let service: DeviceService;

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: ['mallory', 'ekg'], lifetime: 3600, clock: () => now });
  });
  afterAll(() => service.close());

  const tube = (dir: string): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage: fileStorage(join(service.dir, dir)), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
  /**
   * Sets up an OSCORE context with the token over the relay's authz-info door (RFC 9203 §4.1; the
   * sealed symmetric PoP key is the Master Secret); a refusal (5.03 busy) comes back as its code.
   */
  const open = (dev: ResourceServer, t: TokenResponse): OscoreClient | { code: number; error: string } => {
    const start = beginOscoreClient(t.accessToken, { id: t.popKey!.kid ?? new Uint8Array(0), ms: t.popKey!.k! }, nativeProvider);
    const answer = serveAuthzInfo(dev, start.message);
    const code = decodeCoapMessage(answer).code;
    if (code !== 0x41) return { code: (code >> 5) * 100 + (code & 0x1f), error: code === 0xa3 ? 'busy' : 'refused' };
    return start.finish(answer);
  };
  const ask = (dev: ResourceServer, s: OscoreClient) => {
    const { message, binding } = s.request(GET_RESULT);
    return s.response(serveRequest(dev, message), binding);
  };

  it('one client proving session after session holds at most a share; another client still opens one', async () => {
    const dev = tube('tube-slots');
    const mallory = await service.issue('mallory'); // no req_cnf: a symmetric PoP key, sealed for the tube
    const held: OscoreClient[] = [];
    const refused: string[] = [];
    for (let i = 0; i < DEFAULT_DEVICE_PROFILE.maxSessions; i++) {
      const s = open(dev, mallory);
      if (s instanceof OscoreClient) {
        expect(ask(dev, s).code).toBe(205);
        held.push(s);
      } else refused.push(s.error);
    }
    const ekg = open(dev, await service.issue('ekg'));
    expect(ekg).toBeInstanceOf(OscoreClient);
    expect(ask(dev, ekg as OscoreClient).code).toBe(205);
    // Every post got a context (a client that lost its state is never locked out), but past its
    // share each newly proven one retired the client's least recently used: it holds only a share.
    expect(refused).toEqual([]);
    const share = DEFAULT_DEVICE_PROFILE.maxSessions / 2;
    const codes = held.map((s) => {
      const { message } = s.request(GET_RESULT);
      return decodeCoapMessage(serveRequest(dev, message)).code;
    });
    expect(codes.slice(0, held.length - share).every((c) => c === 0x81)).toBe(true); // 4.01 Security context not found
    // RFC 8613 §4.2: the outer code of a protected answer is 2.04 (the inner one is the 2.05).
    expect(codes.slice(held.length - share).every((c) => c === 0x44)).toBe(true);
  });

  it('a thief opening sessions with stolen tokens of a client at its share never closes that client\'s proven sessions', async () => {
    const dev = tube('tube-thief');
    const tokens = await Promise.all(Array.from({ length: 3 }, () => service.issue('ekg')));
    const proven: OscoreClient[] = [];
    for (let i = 0; i < DEFAULT_DEVICE_PROFILE.maxSessions / 2; i++) {
      const s = open(dev, tokens[i % tokens.length]!) as OscoreClient;
      expect(ask(dev, s).code).toBe(205);
      proven.push(s);
    }
    // The thief has the tokens (they travel in clear) but not their keys: it posts them for contexts.
    // The door cannot tell it from the client (2.01), but a context it cannot prove pushes out
    // none of the proven ones, and its requests never verify.
    for (const t of tokens) {
      const thief = open(dev, { ...t, popKey: { kty: 'Symmetric', k: new Uint8Array(32) } });
      expect(thief).toBeInstanceOf(OscoreClient);
      const { message } = (thief as OscoreClient).request(GET_RESULT);
      expect(decodeCoapMessage(serveRequest(dev, message)).code).toBe(0x80); // 4.00 Decryption failed
    }
    for (const s of proven) expect(ask(dev, s).code).toBe(205);
  });

  it('an OSCORE request naming an impossibly long kid is refused "Security context not found", not an internal error', () => {
    const dev = tube('tube-kid');
    const forger = new OscoreClient(deriveOscoreContext({ masterSecret: new Uint8Array(16), senderId: new Uint8Array(0), recipientId: fromHex('01') }, nativeProvider), nativeProvider);
    const { message, binding } = forger.request(GET_RESULT);
    // Rewrite the OSCORE option (9) to name a 200-byte kid: flags k=1, n=1, PIV 0.
    const m = decodeCoapMessage(message);
    const forged = { ...m, options: m.options.map((o) => (o.number === 9 ? { number: 9, value: Uint8Array.from([0x09, 0x00, ...new Uint8Array(200).fill(7)]) } : o)) };
    const answer = forger.response(serveRequest(dev, encode(forged)), binding);
    expect(answer).toMatchObject({ code: 401, error: 'Security context not found' });
  });
});
