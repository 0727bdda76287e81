/**
 * A client that sends a whole POST /token and closes its side (FIN) while the service is still
 * awaiting a store round trip before it reads the body (the shared client-auth count, which the
 * CLI turns on with PostgreSQL; here a SQLite store made as slow as that round trip). The request
 * is destroyed before the body is read: each one must still be answered and its failed-auth count
 * given back. Before the fix, each such request hung for ever, held its memory and counted as a
 * failed authentication, so that 64 of them got the address (behind a proxy: everyone) refused
 * with 429 (review of issue 13's listener-based body reader).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { createAuthzServer, SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-body-after-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real store, with the round-trip time of a database across a network. */
class RemoteLatencyStore extends SqliteStore {
  override async hitRateLimit(key: string, now: number, windowSeconds: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return super.hitRateLimit(key, now, windowSeconds);
  }
}

describe('a request closed by its client before the service reads its body', () => {
  it('is answered (not left waiting), and 70 of them do not get the address refused', async () => {
    const store = new RemoteLatencyStore(join(dir, 'authz.sqlite'));
    const server = await createAuthzServer({ store, dataDir: dir, sharedClientAuthLimit: true });
    try {
      const { url } = await server.listen(0);
      const port = Number(new URL(url).port);
      const responses: ServerResponse[] = [];
      server.http.on('request', (_req: unknown, res: ServerResponse) => responses.push(res));
      const answered = () => responses.filter((res) => res.writableEnded).length;
      const body = '{"grant_type":"urn:example:magic"}';
      const request = `POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
      const sendAndClose = () =>
        new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', () => s.end(request));
          s.on('error', () => {});
          s.on('close', () => resolve());
          s.resume();
        });
      for (let i = 0; i < 70; i++) await sendAndClose();
      // Answered: the route finished and ended its response (to a socket that is gone).
      await expect.poll(answered, { timeout: 5000 }).toBe(70);
      const r = await fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe('unsupported_grant_type');
    } finally {
      await server.close();
      store.close();
    }
  });
});
