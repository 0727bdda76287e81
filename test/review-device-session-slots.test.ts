/**
 * Adversarial review of the device's protected-session table (device/resource-server.ts): proven
 * sessions never give way, so the table is a budget. The attack: one client, with a token it is
 * entitled to and its key, opens and proves session after session until every slot is its own;
 * every other client is then refused `busy` until the attacker's token expires. One client must
 * hold only a share of the slots. And a session message naming a kid that could never be a session
 * id gets a typed refusal, not an internal error from the storage layer.
 * Real service over HTTP with SQLite on disk, a device runtime on file storage.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { Tag, encodeCbor, utf8 } from '../cose/index.js';
import {
  beginSession,
  createResourceServer,
  decodeResponseBody,
  DEFAULT_DEVICE_PROFILE,
  DeviceError,
  memoryStorage,
  serveAuthzInfo,
  serveRequest,
  trustStoreFromBundle,
  ClientSession,
    type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('the protected-session table is budgeted per client', () => {
  const now = 1_800_000_000;
  let service: DeviceService;

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: ['mallory', 'ekg'], lifetime: 3600, clock: () => now });
  });
  afterAll(() => service.close());

  const tube = (dir: string): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage: fileStorage(join(service.dir, dir)), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
  /** Opens a session with the token; the device's refusal (busy) comes back as an answer body. */
  const open = (dev: ResourceServer, t: TokenResponse): ClientSession | { code: number; error: string } => {
    const start = beginSession(t.accessToken, t.popKey!, memoryStorage());
    try {
      return start.finish(serveAuthzInfo(dev, start.body));
    } catch (e) {
      if (e instanceof DeviceError) return { code: 0, error: e.code };
      throw e;
    }
  };
  const ask = (dev: ResourceServer, s: ClientSession) => {
    const { message, requestPiv } = s.request(GET_RESULT);
    return s.response(serveRequest(dev, message), requestPiv);
  };

  it('one client proving session after session holds at most a share; another client still opens one', async () => {
    const dev = tube('tube-slots');
    const mallory = await service.issue('mallory'); // no req_cnf: a symmetric PoP key, sealed for the tube
    const held: ClientSession[] = [];
    const refused: string[] = [];
    for (let i = 0; i < DEFAULT_DEVICE_PROFILE.maxSessions; i++) {
      const s = open(dev, mallory);
      if (s instanceof ClientSession) {
        expect(ask(dev, s).code).toBe(205);
        held.push(s);
      } else refused.push(s.error);
    }
    const ekg = open(dev, await service.issue('ekg'));
    expect(ekg).toBeInstanceOf(ClientSession);
    expect(ask(dev, ekg as ClientSession).code).toBe(205);
    expect(held.length).toBe(DEFAULT_DEVICE_PROFILE.maxSessions / 2);
    expect(new Set(refused)).toEqual(new Set(['busy']));
    // The attacker's sessions still work: past its share it was refused, nothing of its was closed.
    for (const s of held) expect(ask(dev, s).code).toBe(205);
  });

  it('a thief opening sessions with stolen tokens of a client at its share never closes that client\'s proven sessions', async () => {
    const dev = tube('tube-thief');
    const tokens = await Promise.all(Array.from({ length: 3 }, () => service.issue('ekg')));
    const proven: ClientSession[] = [];
    for (let i = 0; i < DEFAULT_DEVICE_PROFILE.maxSessions / 2; i++) {
      const s = open(dev, tokens[i % tokens.length]!) as ClientSession;
      expect(ask(dev, s).code).toBe(205);
      proven.push(s);
    }
    // The thief has the tokens (they travel in clear) but not their keys: it opens sessions with them.
    for (const t of tokens) expect(open(dev, { ...t, popKey: { kty: 'Symmetric', k: new Uint8Array(32) } })).toEqual({ code: 0, error: 'busy' });
    for (const s of proven) expect(ask(dev, s).code).toBe(205);
  });

  it('a session message naming an impossibly long kid is refused unknown_key, not an internal error', () => {
    const dev = tube('tube-kid');
    const forged = encodeCbor(new Tag([encodeCbor(new Map([[1, 10]])), new Map<number, unknown>([[4, new Uint8Array(200).fill(7)], [6, new Uint8Array([1])]]), new Uint8Array(24)], 16));
    const answer = decodeResponseBody(serveRequest(dev, forged));
    expect(answer.error).toBe('unknown_key');
  });
});
