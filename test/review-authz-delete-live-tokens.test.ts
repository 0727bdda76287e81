/**
 * Review (rev2), `keybound authz delete` of a client that holds live tokens (issue 15). An operator
 * deletes a client because it must no longer be served (a stolen device, a leaked secret); once it
 * is gone no one can authenticate as it to revoke its tokens (RFC 7009 §2.1). Attack: keep using a
 * token issued before the deletion. The service (a real HTTP server on SQLite on disk) must answer
 * inactive for it at introspection and put it on the audience's revocation list. The deletion runs
 * as a real `keybound` process while the service is up.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../cli/index.js';
import { authzServe } from '../authz/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function kb(...args: string[]) {
  const out = { stdout: '', stderr: '' };
  const code = await main(args, { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } });
  return { code, ...out };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

describe('review: deleting a client that holds live tokens', () => {
  it('its token is inactive at introspection and on the revocation list once the client is deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-review-delete-'));
    const data = join(dir, 'as-data');
    expect((await kb('authz', 'register-device', 'tube-1', '--data-dir', data, '--init', '--scope', 'read_result')).code).toBe(0);
    const appSecret = join(dir, 'app.secret');
    const rsSecret = join(dir, 'rs.secret');
    expect((await kb('authz', 'register-client', 'app', '--data-dir', data, '--secret-file', appSecret, '--audience', 'tube-1', '--scope', 'read_result')).code).toBe(0);
    expect((await kb('authz', 'register-client', 'rs', '--data-dir', data, '--secret-file', rsSecret, '--audience', 'tube-1', '--resource-server')).code).toBe(0);
    const { server, url } = await authzServe({ dataDir: data, port: 0 });
    try {
      const issued = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { ...form, authorization: basic('app', readFileSync(appSecret, 'utf8').trim()) },
        body: 'grant_type=client_credentials&audience=tube-1',
      });
      expect(issued.status).toBe(200);
      const token = ((await issued.json()) as { access_token: string }).access_token;
      const introspect = async () => {
        const r = await fetch(`${url}/introspect`, {
          method: 'POST',
          headers: { ...form, authorization: basic('rs', readFileSync(rsSecret, 'utf8').trim()) },
          body: new URLSearchParams({ token }),
        });
        expect(r.status).toBe(200);
        return ((await r.json()) as { active: boolean }).active;
      };
      const trl = async () => Buffer.from(await (await fetch(`${url}/trl/tube-1`)).arrayBuffer());
      expect(await introspect()).toBe(true);
      const before = await trl();

      const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin/keybound.js'), 'authz', 'delete', 'app', '--data-dir', data]);
      expect(stdout).toBe('deleted client app\n');

      expect(await introspect()).toBe(false);
      expect((await trl()).equals(before)).toBe(false);
      // The deleted client cannot come back for another one either.
      const again = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { ...form, authorization: basic('app', readFileSync(appSecret, 'utf8').trim()) },
        body: 'grant_type=client_credentials&audience=tube-1',
      });
      expect(again.status).toBe(401);
    } finally {
      await server.close();
    }
  }, 60_000);
});
