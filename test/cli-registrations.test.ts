/**
 * The operator's registration commands (issue 15): a missing data directory is an error unless
 * --init, register-client writes a strong secret when its file does not exist and refuses weak
 * secrets, unknown audiences and silent overwrites, and list/delete/register-user. Real SQLite on
 * disk, through the CLI's own function; one case through bin/keybound.js as a real process.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../cli/index.js';
import { SqliteStore, authzServe, secretWeakness, estimatedBits } from '../authz/index.js';

/** Whether the service, run on `dataDir`, gives `id` a token for tube-123 with `secret` (HTTP Basic, as `curl -u` sends it). */
async function verifySecret(dataDir: string, id: string, secret: string): Promise<boolean> {
  const { server, url } = await authzServe({ dataDir, port: 0 });
  try {
    const res = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&audience=tube-123',
    });
    await res.arrayBuffer();
    return res.status === 200;
  } finally {
    await server.close();
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

async function kb(...args: string[]) {
  const c = io();
  const code = await main(args, c.io);
  return { code, ...c.out };
}

describe('a data directory that does not exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-reg-'));
  for (const args of [
    ['authz', 'register-device', 'tube-1'],
    ['authz', 'register-client', 'app'],
    ['authz', 'provision', 'tube-1', '--out', 'x.cbor', '--issuer', 'https://as.example'],
    ['authz', 'list'],
    ['authz', 'delete', 'app'],
  ]) {
    it(`${args.slice(0, 2).join(' ')} refuses it and creates nothing`, async () => {
      const typo = join(dir, 'as-dta');
      const r = await kb(...args, '--data-dir', typo);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/does not exist \(a typo\? serve or register-… with --init creates a new service there\) \(ERR_AUTHZ_NO_DATA_DIR\)/);
      expect(existsSync(typo)).toBe(false);
    });
  }

  it('authz serve (a real process) refuses it, exit 1, one line, nothing created', async () => {
    const typo = join(dir, 'serve-typo');
    const r = await promisify(execFile)(process.execPath, [join(root, 'bin/keybound.js'), 'authz', 'serve', '--data-dir', typo, '--port', '0']).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(1);
    expect((r as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    expect((r as { stderr: string }).stderr).toContain('ERR_AUTHZ_NO_DATA_DIR');
    expect(existsSync(typo)).toBe(false);
  });

  // Walkthrough finding (stop 35): `provision --init` on a typo made a new service and wrote a
  // bundle trusting its fresh keys; commands that only read or remove take no --init.
  for (const args of [
    ['authz', 'provision', 'tube-1', '--out', join(dir, 'x.cbor'), '--issuer', 'https://as.example'],
    ['authz', 'list'],
    ['authz', 'delete', 'app'],
  ]) {
    it(`${args.slice(0, 2).join(' ')} takes no --init (exit 2, nothing created)`, async () => {
      const typo = join(dir, 'as-dta-init');
      const r = await kb(...args, '--data-dir', typo, '--init');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unknown option --init/);
      expect(existsSync(typo)).toBe(false);
    });
  }

  it('--init creates it (mode 0700) and later commands use it without --init', async () => {
    const fresh = join(dir, 'as-data');
    expect((await kb('authz', 'register-device', 'tube-1', '--data-dir', fresh, '--init')).code).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    expect((await kb('authz', 'register-device', 'tube-2', '--data-dir', fresh)).code).toBe(0);
  });
});

describe('register-client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-reg-client-'));
  const data = join(dir, 'as-data');
  const setup = kb('authz', 'register-device', 'tube-123', '--data-dir', data, '--init', '--scope', 'read_result');

  it('writes a strong base64url secret (0600) when --secret-file does not exist, says so, and the service accepts it', async () => {
    await setup;
    const file = join(dir, 'ekg.secret');
    const r = await kb('authz', 'register-client', 'ekg', '--data-dir', data, '--secret-file', file, '--audience', 'tube-123', '--scope', 'read_result');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote a new random secret to ${file} (mode 0600`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = readFileSync(file, 'utf8').trim();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, no '+' or '/' to break `curl -u`
    expect(secretWeakness(secret, 'client secret')).toBeUndefined();
    expect(r.stdout).not.toContain(secret);
    expect(await verifySecret(data, 'ekg', secret)).toBe(true);
    expect(await verifySecret(data, 'ekg', `${secret}x`)).toBe(false);
  });

  it('refuses registrations that can never get a token, and warns of a scope none of its audiences serves (walkthrough, stop 36)', async () => {
    await setup;
    // The default grant is client_credentials: a client proving nothing cannot use it (RFC 6749 §4.4).
    const anonymous = await kb('authz', 'register-client', 'nobody', '--data-dir', data, '--audience', 'tube-123', '--scope', 'read_result');
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/client_credentials grant needs a client that authenticates.*ERR_AUTHZ_REGISTRY|ERR_AUTHZ_REGISTRY.*client_credentials grant needs a client that authenticates/);
    const rs = await kb('authz', 'register-client', 'gw', '--data-dir', data, '--audience', 'tube-123', '--resource-server');
    expect(rs.code).toBe(1);
    expect(rs.stderr).toContain('a resource server (introspection) needs a client that authenticates');
    // The code grant sends the code to a registered redirect URI only.
    const noRedirect = await kb('authz', 'register-client', 'web', '--data-dir', data, '--audience', 'tube-123', '--scope', 'read_result', '--grant-type', 'authorization_code');
    expect(noRedirect.code).toBe(1);
    expect(noRedirect.stderr).toContain('needs a --redirect-uri');
    const store = new SqliteStore(join(data, 'authz.sqlite'));
    try {
      for (const id of ['nobody', 'gw', 'web']) expect(await store.getClient(id)).toBeUndefined();
    } finally {
      store.close();
    }
    // A public app with the code grant and its redirect URI is usable (PKCE): registered.
    const app = await kb('authz', 'register-client', 'web', '--data-dir', data, '--audience', 'tube-123', '--scope', 'read_result', '--grant-type', 'authorization_code', '--redirect-uri', 'https://web.example/cb');
    expect(app.code, app.stderr).toBe(0);
    expect(app.stderr).toBe('');
    // A scope the device does not serve: registered, with a warning naming both sides.
    const typo = await kb('authz', 'register-client', 'misnamed', '--data-dir', data, '--secret-file', join(dir, 'misnamed.secret'), '--audience', 'tube-123', '--scope', 'read_results');
    expect(typo.code).toBe(0);
    expect(typo.stderr).toContain('warning: misnamed gets no scope at tube-123: its scopes (read_results) and what tube-123 serves (read_result) share nothing');
  });

  it("lists a certificate client by its RFC 8705 method and --require-par, not as auth=none (README's bank-app)", async () => {
    await setup;
    const r = await kb('authz', 'register-client', 'bank-app', '--data-dir', data, '--audience', 'tube-123', '--scope', 'read_result', '--grant-type', 'authorization_code', '--redirect-uri', 'https://bank.example/cb', '--tls-client-auth-subject-dn', 'CN=bank-app,O=Bank', '--require-par');
    expect(r.code, r.stderr).toBe(0);
    const list = await kb('authz', 'list', '--data-dir', data);
    expect(list.stdout).toMatch(/\n {2}bank-app {2}auth=tls_client_auth {2}require-par {2}authorization_code {2}audiences=tube-123/);
    const json = JSON.parse((await kb('authz', 'list', '--data-dir', data, '--json')).stdout);
    expect(json.clients.find((c: { id: string }) => c.id === 'bank-app')).toMatchObject({ auth: 'tls_client_auth', requirePar: true });
  });

  it('refuses --require-par for a client without the authorization_code grant (it never makes an authorization request), and stores nothing', async () => {
    await setup;
    const r = await kb('authz', 'register-client', 'machine-par', '--data-dir', data, '--audience', 'tube-123', '--scope', 'read_result', '--grant-type', 'client_credentials', '--secret-file', join(data, 'machine-par.secret'), '--require-par');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('requirePar needs the authorization_code grant');
    const json = JSON.parse((await kb('authz', 'list', '--data-dir', data, '--json')).stdout);
    expect(json.clients.find((c: { id: string }) => c.id === 'machine-par')).toBeUndefined();
    expect(existsSync(join(data, 'machine-par.secret'))).toBe(false); // no secret written for a client refused
  });

  it('uses an existing secret file as it is, and writes nothing', async () => {
    await setup;
    const file = join(dir, 'given.secret');
    writeFileSync(file, 'Vq3-xT9_kLm2Rw8ZpB4nYc7\n', { mode: 0o600 });
    const r = await kb('authz', 'register-client', 'given', '--data-dir', data, '--secret-file', file, '--audience', 'tube-123', '--scope', 'read_result');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('registered client given\n');
    expect(r.stderr).toBe('');
    expect(await verifySecret(data, 'given', 'Vq3-xT9_kLm2Rw8ZpB4nYc7')).toBe(true);
  });

  it("warns when a secret would break `curl -u` (a '+' arrives as a space: RFC 6749 §2.3.1 form-encoding)", async () => {
    await setup;
    const file = join(dir, 'plus.secret');
    writeFileSync(file, 'Vq3+xT9/kLm2Rw8ZpB4nYc7=\n');
    const r = await kb('authz', 'register-client', 'plus', '--data-dir', data, '--secret-file', file, '--audience', 'tube-123', '--scope', 'read_result');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/must form-encode \(RFC 6749 §2\.3\.1\); `curl -u` does not/);
    // As the RFC says: the form-encoded secret authenticates; the raw one (what curl -u sends) does not.
    expect(await verifySecret(data, 'plus', encodeURIComponent('Vq3+xT9/kLm2Rw8ZpB4nYc7='))).toBe(true);
    expect(await verifySecret(data, 'plus', 'Vq3+xT9/kLm2Rw8ZpB4nYc7=')).toBe(false);
  });

  for (const [weak, why] of [
    ['s3cre', /5 characters; at least 22/],
    ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', /too few characters/],
    ['s3cret-s3cret-s3cret-s3cret', /too few characters/],
    ['abcdefghijabcdefghijabcdefghij', /guessable/],
  ] as const) {
    it(`refuses the weak secret ${JSON.stringify(weak.slice(0, 12))}… and registers nothing`, async () => {
      await setup;
      const file = join(dir, `weak-${weak.length}-${weak[0]}`);
      writeFileSync(file, `${weak}\n`);
      const r = await kb('authz', 'register-client', 'weakling', '--data-dir', data, '--secret-file', file, '--audience', 'tube-123');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain('ERR_AUTHZ_WEAK_SECRET');
      expect(r.stderr).not.toContain(weak);
      expect(await verifySecret(data, 'weakling', weak)).toBe(false);
    });
  }

  it('refuses an unknown audience, and removes the secret it had just written', async () => {
    await setup;
    const file = join(dir, 'typo.secret');
    const r = await kb('authz', 'register-client', 'typo', '--data-dir', data, '--secret-file', file, '--audience', 'tube-132');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown audience "tube-132" \(register it first/);
    expect(r.stderr).toContain('ERR_AUTHZ_UNKNOWN_AUDIENCE');
    expect(existsSync(file)).toBe(false);
  });

  it('refuses to overwrite a registration without --force, and replaces it with --force', async () => {
    await setup;
    const first = join(dir, 'dup-1.secret');
    const second = join(dir, 'dup-2.secret');
    expect((await kb('authz', 'register-client', 'dup', '--data-dir', data, '--secret-file', first, '--audience', 'tube-123', '--scope', 'read_result')).code).toBe(0);
    const again = await kb('authz', 'register-client', 'dup', '--data-dir', data, '--secret-file', second, '--audience', 'tube-123');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/client dup is already registered \(--force replaces it\) \(ERR_AUTHZ_ALREADY_REGISTERED\)/);
    expect(existsSync(second)).toBe(false);
    const old = readFileSync(first, 'utf8').trim();
    expect(await verifySecret(data, 'dup', old)).toBe(true);
    const forced = await kb('authz', 'register-client', 'dup', '--data-dir', data, '--secret-file', second, '--audience', 'tube-123', '--scope', 'read_result', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('replaced client dup');
    expect(await verifySecret(data, 'dup', old)).toBe(false);
    expect(await verifySecret(data, 'dup', readFileSync(second, 'utf8').trim())).toBe(true);
  });
});

describe('register-user, list, delete', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-reg-users-'));
  const data = join(dir, 'as-data');

  it('registers a user from a password file, lists everything without a secret, deletes', async () => {
    expect((await kb('authz', 'register-device', 'broker-1', '--data-dir', data, '--init', '--scope', '[["sensors/#",["pub","sub"]]]')).code).toBe(0);
    const secretFile = join(dir, 'rs.secret');
    expect((await kb('authz', 'register-client', 'broker-1', '--data-dir', data, '--secret-file', secretFile, '--audience', 'broker-1', '--resource-server')).code).toBe(0);
    const pw = join(dir, 'alice.password');
    writeFileSync(pw, 'horse-Battery-staple-42\n');
    const u = await kb('authz', 'register-user', 'alice', '--data-dir', data, '--password-file', pw);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toBe('registered user alice\n');
    const store = new SqliteStore(join(data, 'authz.sqlite'));
    try {
      expect((await store.getUser('alice'))?.passwordHash).not.toContain('horse');
    } finally {
      store.close();
    }

    const list = await kb('authz', 'list', '--data-dir', data);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/clients \(1\)\n  broker-1  auth=secret  resource server  audiences=broker-1/);
    expect(list.stdout).toMatch(/devices \(1\)\n  broker-1  sign1  scopes=\[\["sensors\/#",\["pub","sub"\]\]\]/);
    expect(list.stdout).toMatch(/users \(1\)\n  alice\n$/);
    const json = await kb('authz', 'list', '--data-dir', data, '--json');
    const parsed = JSON.parse(json.stdout);
    expect(parsed.users).toEqual(['alice']);
    const secret = readFileSync(secretFile, 'utf8').trim();
    for (const text of [list.stdout, json.stdout]) {
      expect(text).not.toContain(secret);
      expect(text).not.toMatch(/scrypt|hash|"k"|passwordHash|secretHash/);
    }

    // broker-1 is a client and a device: delete must be told which.
    const ambiguous = await kb('authz', 'delete', 'broker-1', '--data-dir', data);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/is a client and a device: say which with --kind/);
    expect((await kb('authz', 'delete', 'broker-1', '--data-dir', data, '--kind', 'client')).stdout).toBe('deleted client broker-1\n');
    expect((await kb('authz', 'delete', 'alice', '--data-dir', data)).stdout).toBe('deleted user alice\n');
    const gone = await kb('authz', 'delete', 'alice', '--data-dir', data);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('ERR_AUTHZ_NOT_REGISTERED');
    expect((await kb('authz', 'delete', 'x', '--data-dir', data, '--kind', 'thing')).code).toBe(2);
    const after = JSON.parse((await kb('authz', 'list', '--data-dir', data, '--json')).stdout);
    expect(after).toMatchObject({ clients: [], users: [], devices: [{ id: 'broker-1' }] });
  });

  it('a password or secret file other users can read: taken, with a warning naming the option, never the secret', async () => {
    const d = join(dir, 'u3');
    const pw = join(dir, 'loose.password');
    writeFileSync(pw, 'loose-Horse-9-battery\n');
    chmodSync(pw, 0o644);
    const loose = await kb('authz', 'register-user', 'carol', '--data-dir', d, '--init', '--password-file', pw);
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stderr).toBe('keybound: warning: --password-file is readable by other users of this machine (chmod 600 it)\n');
    chmodSync(pw, 0o600);
    expect((await kb('authz', 'register-user', 'carol', '--data-dir', d, '--password-file', pw, '--force')).stderr).toBe('');
    const secret = join(dir, 'loose.secret');
    writeFileSync(secret, 'loose-client-secret-0123456789abcdef\n');
    chmodSync(secret, 0o640);
    expect((await kb('authz', 'register-device', 'tube-3', '--data-dir', d, '--scope', 'read')).code).toBe(0);
    const client = await kb('authz', 'register-client', 'app3', '--data-dir', d, '--secret-file', secret, '--audience', 'tube-3');
    expect(client.code, client.stderr).toBe(0);
    expect(client.stderr).toContain('--secret-file is readable by other users');
    expect(client.stderr).not.toContain('loose-client-secret');
    // The client's `keybound token` reads it before any request (the service here is not even up).
    const token = await kb('token', '--as-url', 'http://127.0.0.1:9', '--client-id', 'app3', '--secret-file', secret, '--audience', 'tube-3', '--token-response-out', join(dir, 'app3.cbor'));
    expect(token.stderr).toContain('keybound: warning: --secret-file is readable by other users');
    expect(token.stderr).not.toContain('loose-client-secret');
  });

  it('refuses a weak password, a missing password file, and a second registration without --force', async () => {
    const d = join(dir, 'u2');
    const weak = join(dir, 'weak.password');
    writeFileSync(weak, 'hunter2\n');
    const r = await kb('authz', 'register-user', 'bob', '--data-dir', d, '--init', '--password-file', weak);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_AUTHZ_WEAK_SECRET');
    expect(r.stderr).not.toContain('hunter2');
    // Long enough and varied enough for the estimate, and among the first guesses of any attack.
    writeFileSync(weak, 'password1234\n');
    const common = await kb('authz', 'register-user', 'bob', '--data-dir', d, '--password-file', weak);
    expect(common.code).toBe(1);
    expect(common.stderr).toContain('among the first an attacker tries');
    expect(common.stderr).toContain('ERR_AUTHZ_WEAK_SECRET');
    const missing = await kb('authz', 'register-user', 'bob', '--data-dir', d, '--password-file', join(dir, 'nope'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--password-file "[^"]*nope" does not exist/);
    const good = join(dir, 'good.password');
    writeFileSync(good, 'correct-Horse-9-battery\n');
    expect((await kb('authz', 'register-user', 'bob', '--data-dir', d, '--password-file', good)).code).toBe(0);
    const again = await kb('authz', 'register-user', 'bob', '--data-dir', d, '--password-file', good);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ERR_AUTHZ_ALREADY_REGISTERED');
    expect((await kb('authz', 'register-user', 'bob', '--data-dir', d, '--password-file', good, '--force')).stdout).toBe('new password for user bob\n');
  });

  it('estimates a random secret high and a repeated one low', () => {
    expect(estimatedBits('Vq3-xT9_kLm2Rw8ZpB4nYc7')).toBeGreaterThanOrEqual(128);
    expect(estimatedBits('abcabcabcabcabcabcabcabc')).toBeLessThan(60);
  });
});

describe('delete a device that registrations still name (walkthrough, stop 36)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-reg-detach-'));
  const data = join(dir, 'as-data');

  it('is refused while a client or an exchange-from names it; --detach takes it out of them, and a device registered later under the name gets no one', async () => {
    expect((await kb('authz', 'register-device', 'tube-1', '--data-dir', data, '--init', '--scope', 'read')).code).toBe(0);
    expect((await kb('authz', 'register-device', 'tube-2', '--data-dir', data, '--scope', 'read', '--exchange-from', 'tube-1')).code).toBe(0);
    expect((await kb('authz', 'register-client', 'app', '--data-dir', data, '--secret-file', join(dir, 'app.secret'), '--audience', 'tube-1', '--audience', 'tube-2', '--scope', 'read', '--grant-type', 'client_credentials')).code).toBe(0);

    const refused = await kb('authz', 'delete', 'tube-1', '--data-dir', data);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ERR_AUTHZ_IN_USE');
    expect(refused.stderr).toMatch(/still named by client app, device tube-2 \(exchange-from\)/);
    const store = () => new SqliteStore(join(data, 'authz.sqlite'));
    let s = store();
    try {
      expect(await s.getAudience('tube-1')).toBeDefined();
    } finally {
      s.close();
    }

    const detached = await kb('authz', 'delete', 'tube-1', '--data-dir', data, '--detach');
    expect(detached.code).toBe(0);
    expect(detached.stdout).toBe('deleted device tube-1 (taken out of client app, device tube-2 (exchange-from))\n');
    // Registered again, later, by someone else: the old client is not given its tokens.
    expect((await kb('authz', 'register-device', 'tube-1', '--data-dir', data, '--scope', 'read')).code).toBe(0);
    s = store();
    try {
      expect((await s.getClient('app'))?.audiences).toEqual(['tube-2']);
      expect((await s.getAudience('tube-2'))?.policy.exchangeFrom).toEqual([]);
    } finally {
      s.close();
    }
  });
});
