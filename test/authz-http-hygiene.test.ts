/**
 * Finding 12, against the real service on a real socket: a path that is not valid percent-encoding,
 * JSON bodies with repeated member names, and a connection that trickles its headers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthzServer, HEADERS_TIMEOUT_MS, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { basic, post as postTo, type Enc } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-hygiene-'));
let store: SqliteStore;
let server: AuthzServer;
let base = '';
let port = 0;
const ADMIN = 'admin-token-for-tests';
const post = (path: string, body: string, enc: Enc, headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
const admin = (path: string, body: string) => post(path, body, 'json', { authorization: `Bearer ${ADMIN}` });

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read', 'write'] });
  await registerClient(store, { id: 'svc', secret: 'svc-secret', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials'] });
  server = await createAuthzServer({ store, dataDir: dir, adminToken: ADMIN });
  ({ url: base, port } = await server.listen(0));
});

afterAll(async () => {
  await server?.close();
  store?.close();
});

/** Sends `text` on a raw socket and resolves with all the server answered before closing. */
function rawExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(text));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

describe('a path that is not valid percent-encoding is a 400 with a typed error, not a 500', () => {
  it('GET /trl/%E0%A4%A', async () => {
    const res = await fetch(`${base}/trl/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    // A well-formed name still gets its list, an unknown one 404: the 400 was the decoding's.
    expect((await fetch(`${base}/trl/ekg`)).status).toBe(200);
    expect((await fetch(`${base}/trl/%65kg`)).status).toBe(200);
    expect((await fetch(`${base}/trl/nobody`)).status).toBe(404);
  });
  it('GET /admin/provision/%E0%A4%A (authenticated)', async () => {
    const res = await fetch(`${base}/admin/provision/%E0%A4%A`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });
  it('a request target the URL parser refuses (raw socket)', async () => {
    const answer = await rawExchange('GET http://[::1/trl/ekg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).not.toMatch(/server_error/);
  });
});

describe('JSON bodies with a repeated member name are refused, not last-wins', () => {
  const grant = '"grant_type":"client_credentials","audience":"ekg"';
  const svc = { authorization: basic('svc', 'svc-secret') };
  it('/token: scope twice (the second wider), plain and with an escaped name', async () => {
    for (const body of [`{${grant},"scope":"read","scope":"write"}`, `{${grant},"scope":"read","sc\\u006fpe":"write"}`, `{${grant},"grant_type":"client_credentials"}`]) {
      const r = await post('/token', body, 'json', svc);
      expect(r.status).toBe(400);
      expect(r.data.error).toBe('invalid_request');
      expect(r.data.access_token).toBeUndefined();
    }
    // The same request without the repeat is granted: the refusals were the repeat's.
    expect((await post('/token', `{${grant},"scope":"read"}`, 'json', svc)).status).toBe(200);
  });
  it('/admin: a repeated name at any depth, and nesting past the bound, register nothing', async () => {
    for (const body of ['{"username":"eve","password":"pw-eve-123456","username":"root"}', '{"id":"x","policy":{"a":1,"a":2}}', `{"id":"deep","x":${'['.repeat(20)}${']'.repeat(20)}}`]) {
      const r = await admin(body.includes('username') ? '/admin/users' : '/admin/audiences', body);
      expect(r.status).toBe(400);
      expect(r.data.error).toBe('invalid_request');
    }
    expect(await store.getUser('root')).toBeUndefined();
    expect(await store.getUser('eve')).toBeUndefined();
    expect(await store.getAudience('x')).toBeUndefined();
    // Same names in sibling objects are not repeats.
    expect((await admin('/admin/audiences', '{"id":"sib","scopes":["read"],"policy":{"a":{"k":1},"b":{"k":1}}}')).status).not.toBe(500);
    expect((await admin('/admin/users', '{"username":"eve","password":"pw-eve-123456"}')).status).toBe(201);
  });
  it('the check stays linear: a body of thousands of distinct names is answered at once', async () => {
    const names = Array.from({ length: 1500 }, (_, i) => `"n${i}":1`).join(',');
    const t0 = performance.now();
    const r = await post('/token', `{${names}}`, 'json', svc);
    expect(r.status).toBe(400); // unknown parameters, refused after the scan
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('a connection that trickles its headers is closed at the documented timeout', () => {
  it(`one byte a second: closed within ${HEADERS_TIMEOUT_MS / 1000} s (+ the 0.5 s check, + slack for a busy machine)`, async () => {
    const start = performance.now();
    const s = connect(port, '127.0.0.1');
    const head = 'GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
    let i = 0;
    let answer = '';
    s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    s.on('error', () => {});
    const timer = setInterval(() => {
      if (i < head.length && !s.destroyed) s.write(head[i++]!);
    }, 1000);
    const closedAfter = await new Promise<number>((resolve) => s.on('close', () => resolve(performance.now() - start)));
    clearInterval(timer);
    expect(closedAfter).toBeGreaterThan(HEADERS_TIMEOUT_MS - 1000);
    // node's default check (every 30 s) kept it open up to 40 s.
    expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT_MS + 2000);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  }, HEADERS_TIMEOUT_MS + 10_000);
});

describe('a CBOR request written by cbor-x with its default Map tag (issue 15)', () => {
  it('is refused with a hint on how to send a plain map, and the same request as a plain map is served', async () => {
    const { Encoder, encode } = await import('cbor-x');
    // RFC 9200 §8: client_id 24, client_secret 25 (bytes), audience 5, scope 9.
    const request = new Map<number, unknown>([[24, 'svc'], [25, new TextEncoder().encode('svc-secret')], [5, 'ekg'], [9, 'read']]);
    const tagged = new Uint8Array(encode(request)); // cbor-x's module-level encode, as a user first tries
    expect([...tagged.slice(0, 3)]).toEqual([0xd9, 0x01, 0x03]); // tag 259: what a user's cbor-x writes
    const refused = await post('/token', tagged as never, 'cbor');
    expect(refused.status).toBe(400); // RFC 9200 §8: error_description is label 31
    expect(String((refused.data as Map<number, unknown>).get(31) ?? '')).toMatch(/tags 259 and 64 are how cbor-x writes a JS Map and a byte array: encode with new Encoder\(\{ useRecords: false, useTag259ForMaps: false, tagUint8Array: false \}\)/);
    const plain = new Uint8Array(new Encoder({ useRecords: false, useTag259ForMaps: false, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0]).encode(request));
    const served = await post('/token', plain as never, 'cbor');
    expect(served.status).toBe(200);
  });
});
