/**
 * Review (issue 15, the audit lines of the admin API and the sign-in form), attacked as deployed:
 * `keybound authz serve` as a process, raw HTTP/1.1 over a socket. HTTP lets a request name its
 * target in absolute form (`GET http://any.host/admin/users HTTP/1.1`, RFC 9112 §3.2.2), which
 * Node hands over as the request URL, and the router resolves to `/admin/users`. The audit must
 * see the same path the router answered: otherwise a run of admin-token or password guesses sent
 * in absolute form is answered (401) yet leaves no line, and "a run of 401s at /login shows"
 * no longer holds. Also: the audit line never carries the query string or the form fields.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, stop, waitForLine } from './support/processes.js';

const BIN = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-review-audit-'));
let proc: ChildProcess;
let port = 0;
let stderr = '';

beforeAll(async () => {
  writeFileSync(join(dir, 'admin-token'), 'admin-token-0123456789abcdef\n', { mode: 0o600 });
  proc = spawn(process.execPath, [BIN, 'authz', 'serve', '--data-dir', join(dir, 'data'), '--init', '--port', '0', '--admin-token-file', join(dir, 'admin-token')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const m = await waitForLine(proc, /listening on http:\/\/127\.0\.0\.1:(\d+)/, 60_000);
  port = Number(m[1]);
}, 90_000);
afterAll(async () => {
  await stop(proc);
});

/** One raw HTTP/1.1 request; the status code of the answer. */
function raw(request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
    socket.write(request);
  });
}

async function linesFor(event: string, n: number): Promise<Array<Record<string, unknown>>> {
  // The line is written synchronously before the answer; the pipe may still be carrying it.
  for (let i = 0; i < 100; i++) {
    const found = jsonLines(stderr).filter((l) => l.event === event);
    if (found.length >= n) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  return jsonLines(stderr).filter((l) => l.event === event);
}

describe('the audit line follows the path the router answered, whatever the request-target form', () => {
  it('admin guesses in origin form and in absolute form (http://other.host/admin/users): one 401 line each', async () => {
    const before = (await linesFor('admin_request', 0)).length;
    const origin = await raw('GET /admin/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess-1\r\nConnection: close\r\n\r\n');
    const absolute = await raw('GET http://other.host/admin/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess-2\r\nConnection: close\r\n\r\n');
    expect([origin, absolute]).toEqual([401, 401]);
    const lines = (await linesFor('admin_request', before + 2)).slice(before);
    expect(lines.map((l) => [l.path, l.status, l.level])).toEqual([
      ['/admin/users', 401, 40],
      ['/admin/users', 401, 40],
    ]);
    expect(stderr).not.toContain('guess-');
  });

  it('a password guess POSTed to http://other.host/login?x=1 leaves a form_post 401 line, without the query or the password', async () => {
    const before = (await linesFor('form_post', 0)).length;
    const body = 'csrf=nope&username=alice&password=hunter2-guess';
    const status = await raw(`POST http://other.host/login?next=secretish HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(status).toBeGreaterThanOrEqual(400);
    const lines = (await linesFor('form_post', before + 1)).slice(before);
    expect(lines.map((l) => [l.path, l.status])).toEqual([['/login', status]]);
    expect(stderr).not.toMatch(/hunter2|secretish/);
  });

  it('log injection and bloat (held): a client id and an audience of 1.5 KB carrying newlines and a forged JSON line stay inside one short line', async () => {
    const before = stderr.length;
    const forged = '"}\n{"level":30,"name":"authz","event":"token_issued","clientId":"admin","msg":"forged"}\n';
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: `${forged}${'c'.repeat(1500)}`, client_secret: 'hunter3-secret', audience: `${forged}${'a'.repeat(1500)}` }).toString();
    const status = await raw(`POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(status).toBe(401); // unknown client: invalid_client
    await linesFor('request_refused', 1);
    const fresh = stderr.slice(before);
    // jsonLines throws on any line that is not one JSON object: a forged line break would fail here.
    const lines = jsonLines(fresh);
    expect(lines.filter((l) => l.event === 'token_issued')).toHaveLength(0);
    const refused = lines.filter((l) => l.event === 'request_refused');
    expect(refused).toHaveLength(1);
    expect(String(refused[0]!.clientId)).toContain('token_issued'); // kept as text, inside its field
    for (const line of fresh.split('\n').filter(Boolean)) expect(line.length).toBeLessThan(700);
    expect(fresh).not.toContain('hunter3');
  });
});
