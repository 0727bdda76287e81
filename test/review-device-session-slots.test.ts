/**
 * Adversarial review of the device's OSCORE context table (device/oscore-contexts.ts; the
 * contexts of RFC 9203 /authz-info exchanges): proven contexts never give way, so the table is a
 * budget. The attack: one client, with a token it is
 * entitled to and its key, opens and proves session after session until every slot is its own;
 * every other client is then refused `busy` until the attacker's token expires. One client must
 * hold only a share of the slots. And a session message naming a kid that could never be a session
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
    expect(held.length).toBe(DEFAULT_DEVICE_PROFILE.maxSessions / 2);
    expect(new Set(refused)).toEqual(new Set(['busy']));
    // The attacker's sessions still work: past its share it was refused, nothing of its was closed.
    for (const s of held) expect(ask(dev, s).code).toBe(205);
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
    for (const t of tokens) expect(open(dev, { ...t, popKey: { kty: 'Symmetric', k: new Uint8Array(32) } })).toEqual({ code: 503, error: 'busy' });
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
