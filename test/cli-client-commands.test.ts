/**
 * The client's commands (issue 15) against a real authorization service (SQLite on disk, real
 * HTTP): keygen, token, mqtt-password, and inspect --key with the files the service publishes.
 * Each has its attacker's and its careless user's cases next to the working one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/index.js';
import { authzServe, registerDevice, type AuthzServer } from '../authz/index.js';
import {
  coseKeyFromMap,
  createCwt,
  decodeCbor,
  decodeCoseKey,
  fromBase64Url,
  jwkToCoseKey,
  portableProvider,
  publicCoseKey,
  readCwtUnverified,
  tokenHash,
  utf8,
  verifyCwt,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { PURPOSE_CONNECT, verifyPopProof } from '../device/index.js';
import { makeCertificates } from './support/tls-certificates.js';

const MQTT_SCOPE = '[["sensors/#",["pub","sub"]]]';
const dir = mkdtempSync(join(tmpdir(), 'kb-client-cmds-'));
const data = join(dir, 'as-data');
const at = (name: string) => join(dir, name);
let server: AuthzServer;
let url: string;

async function kb(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

const tokenArgs = (popKey: string, ...more: string[]) => ['token', '--as-url', url, '--client-id', 'app', '--secret-file', at('app.secret'), '--audience', 'broker-1', '--scope', MQTT_SCOPE, '--pop-key', popKey, ...more];

beforeAll(async () => {
  expect((await kb('authz', 'register-device', 'broker-1', '--data-dir', data, '--init', '--scope', MQTT_SCOPE)).code).toBe(0);
  expect((await kb('authz', 'register-device', 'tube-123', '--data-dir', data, '--scope', 'read_result')).code).toBe(0);
  expect((await kb('authz', 'register-device', 'tube-456', '--data-dir', data, '--scope', 'read_result', '--exchange-from', 'tube-123')).code).toBe(0);
  // A one-second token lifetime (library call: the CLI has no lifetime option) to see one expire.
  await registerDevice({ dataDir: data, id: 'brief-1', scopes: ['read_result'], lifetime: 1 });
  const r = await kb('authz', 'register-client', 'app', '--data-dir', data, '--secret-file', at('app.secret'), '--audience', 'broker-1', '--audience', 'tube-123', '--audience', 'tube-456', '--audience', 'brief-1', '--scope', MQTT_SCOPE, '--scope', 'read_result', '--grant-type', 'client_credentials', '--grant-type', 'token-exchange');
  expect(r.code, r.stderr).toBe(0);
  ({ server, url } = await authzServe({ dataDir: data, port: 0 }));
}, 60_000);
afterAll(async () => {
  await server?.close();
});

describe('keybound keygen', () => {
  it('writes a JWK (.json) or COSE_Key private file at 0600 and prints only the public part', async () => {
    for (const [alg, file, crv] of [['EdDSA', 'ed.json', 'Ed25519'], ['ES256', 'p256.cose', 'P-256']] as const) {
      const pubFile = file.replace('.', '.pub.');
      const r = await kb('keygen', '--alg', alg, '--out', at(file), '--public-out', at(pubFile));
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(at(file)).mode & 0o777).toBe(0o600);
      const bytes = new Uint8Array(readFileSync(at(file)));
      const key: CoseKey = file.endsWith('.json') ? jwkToCoseKey(JSON.parse(readFileSync(at(file), 'utf8'))) : decodeCoseKey(bytes);
      expect(key).toMatchObject({ crv });
      expect(key.d?.length).toBeGreaterThan(0);
      // The private scalar appears nowhere in what is printed, in any encoding.
      for (const form of [Buffer.from(key.d!).toString('base64url'), Buffer.from(key.d!).toString('hex'), Buffer.from(key.d!).toString('base64')]) expect(r.stdout).not.toContain(form);
      expect(r.stdout).toMatch(/thumbprint: urn:ietf:params:oauth:ckt:sha-256:[A-Za-z0-9_-]{43}\n/);
      const pub = readFileSync(at(pubFile));
      expect(file.endsWith('.json') ? 'd' in JSON.parse(pub.toString()) : decodeCoseKey(new Uint8Array(pub)).d).toBeFalsy();
      // A signature by the file's key verifies with the printed public JWK.
      const jwk = JSON.parse(/public JWK: (.+)\n/.exec(r.stdout)![1]!);
      const token = createCwt({ iss: 'x', aud: 'y', exp: 2e9, cnf: { coseKey: publicCoseKey(key) } }, key, { provider: nativeProvider });
      expect(verifyCwt(token, jwkToCoseKey(jwk), { audience: 'y', clock: () => 1e9 }).claims.iss).toBe('x');
    }
  });

  it('never overwrites a key file (nor writes one when --public-out exists), and refuses an unknown --alg', async () => {
    writeFileSync(at('taken.json'), 'precious');
    const r = await kb('keygen', '--out', at('taken.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/taken\.json exists: not overwritten .*\(ERR_CLI_FILE_EXISTS\)/);
    expect(readFileSync(at('taken.json'), 'utf8')).toBe('precious');
    const pubTaken = await kb('keygen', '--out', at('fresh.json'), '--public-out', at('taken.json'));
    expect(pubTaken.code).toBe(1);
    expect(existsSync(at('fresh.json'))).toBe(false);
    expect((await kb('keygen', '--alg', 'RS256', '--out', at('rsa.json'))).code).toBe(2);
  });
});

describe('keybound token', () => {
  it('gets a PoP token (CBOR) bound to a new key it writes at 0600, token alone on stdout', async () => {
    const r = await kb(...tokenArgs(at('pop.json')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\n$/);
    expect(statSync(at('pop.json')).mode & 0o777).toBe(0o600);
    expect(r.stderr).toMatch(/bound to a new key written to .*pop\.json \(mode 0600\)/);
    const pop = jwkToCoseKey(JSON.parse(readFileSync(at('pop.json'), 'utf8')));
    const token = fromBase64Url(r.stdout.trim());
    const keys = (decodeCbor(new Uint8Array(await (await fetch(`${url}/keys`)).arrayBuffer())) as unknown[]).length;
    expect(keys).toBeGreaterThan(0);
    const claims = readCwtUnverified(token).claims;
    expect(claims.aud).toBe('broker-1');
    expect(claims.cnf && 'coseKey' in claims.cnf && Buffer.from(claims.cnf.coseKey.x!).equals(Buffer.from(pop.x!))).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(readFileSync(at('app.secret'), 'utf8').trim());
  });

  it('reuses an existing key, in JSON with hex output and --out', async () => {
    const r = await kb(...tokenArgs(at('pop.json'), '--encoding', 'json', '--format', 'hex', '--out', at('app.token')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]+\n$/);
    expect(Buffer.from(readFileSync(at('app.token'))).toString('hex')).toBe(r.stdout.trim());
    expect(statSync(at('app.token')).mode & 0o777).toBe(0o600);
    expect(r.stderr).toMatch(/bound to the key in .*pop\.json/);
  });

  it('exchanges a token for another audience (token-exchange) with the same key', async () => {
    const own = await kb('token', '--as-url', url, '--client-id', 'app', '--secret-file', at('app.secret'), '--audience', 'tube-123', '--scope', 'read_result', '--pop-key', at('pop.json'), '--out', at('tube.token'));
    expect(own.code, own.stderr).toBe(0);
    const exchange = (aud: string) => kb('token', '--as-url', url, '--client-id', 'app', '--secret-file', at('app.secret'), '--audience', aud, '--scope', 'read_result', '--pop-key', at('pop.json'), '--grant-type', 'token-exchange', '--subject-token', `@${at('tube.token')}`);
    const r = await exchange('tube-456');
    expect(r.code, r.stderr).toBe(0);
    expect(readCwtUnverified(fromBase64Url(r.stdout.trim())).claims).toMatchObject({ aud: 'tube-456', scope: 'read_result' });
    // brief-1 does not take exchanges from tube-123 tokens: refused by the service, in its words.
    const refused = await exchange('brief-1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the service refused \(4\d\d\): [a-z_]+: /);
    // --subject-token without token-exchange is a usage error.
    expect((await kb(...tokenArgs(at('pop.json'), '--subject-token', '00'))).code).toBe(2);
  });

  it('refuses, in words, a wrong secret, an audience it may not ask for, and leaves no key file behind', async () => {
    writeFileSync(at('wrong.secret'), 'Zq3-xT9_kLm2Rw8ZpB4nYc7aaaaaaaaaaaaa\n');
    const bad = await kb('token', '--as-url', url, '--client-id', 'app', '--secret-file', at('wrong.secret'), '--audience', 'broker-1', '--pop-key', at('orphan.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/the service refused \(401\): invalid_client: .*\(invalid_client\)/);
    expect(bad.stderr).not.toContain('Zq3-xT9');
    expect(existsSync(at('orphan.json'))).toBe(false);
    const other = await kb(...tokenArgs(at('orphan.json')).map((a) => (a === 'broker-1' ? 'no-such-device' : a)));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/the service refused \(400\): invalid_(target|request|scope)/);
    expect(existsSync(at('orphan.json'))).toBe(false);
  });

  it('refuses plain HTTP off loopback, a PoP key file others can read, a public key as PoP key, a missing secret file', async () => {
    const http = await kb(...tokenArgs(at('p.json')).map((a) => (a === url ? 'http://as.example:8080' : a)));
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/--as-url must be an https:\/\/ URL \(http:\/\/ only on loopback\)/);
    writeFileSync(at('open.json'), readFileSync(at('pop.json')));
    chmodSync(at('open.json'), 0o644);
    const open = await kb(...tokenArgs(at('open.json')));
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/is readable by others \(mode 0644\): chmod 600 it/);
    expect((await kb('keygen', '--out', at('k2.json'), '--public-out', at('k2.pub.json'))).code).toBe(0);
    chmodSync(at('k2.pub.json'), 0o600);
    const pub = await kb(...tokenArgs(at('k2.pub.json')));
    expect(pub.code).toBe(1);
    expect(pub.stderr).toMatch(/holds a public key only/);
    const nofile = await kb(...tokenArgs(at('p.json')).map((a) => (a === at('app.secret') ? at('none.secret') : a)));
    expect(nofile.code).toBe(2);
    expect(nofile.stderr).toMatch(/--secret-file "[^"]*none\.secret" does not exist/);
  });
});

describe('keybound token --token-response-out (the service makes the key)', () => {
  const oscArgs = (out: string, ...more: string[]) => ['token', '--as-url', url, '--client-id', 'osc-app', '--secret-file', at('osc-app.secret'), '--audience', 'tube-osc', '--scope', '[["/result",1]]', '--token-response-out', out, ...more];
  beforeAll(async () => {
    expect((await kb('authz', 'register-device', 'tube-osc', '--data-dir', data, '--profile', 'coap_oscore', '--scope', '[["/result",1]]')).code).toBe(0);
    const r = await kb('authz', 'register-client', 'osc-app', '--data-dir', data, '--secret-file', at('osc-app.secret'), '--audience', 'tube-osc', '--audience', 'tube-123', '--scope', '[["/result",1]]', '--scope', 'read_result', '--grant-type', 'client_credentials');
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);

  it('asks without req_cnf and writes the whole CBOR answer, Master Secret included, at 0600; only the token on stdout, no key in any output', async () => {
    const r = await kb(...oscArgs(at('osc-answer.cbor')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\n$/);
    expect(statSync(at('osc-answer.cbor')).mode & 0o777).toBe(0o600);
    const answer = decodeCbor(new Uint8Array(readFileSync(at('osc-answer.cbor')))) as Map<number, unknown>;
    expect(Buffer.from(answer.get(1) as Uint8Array).toString('base64url')).toBe(r.stdout.trim());
    // RFC 9203 §3.2: cnf(8) holds osc(4) with the Master Secret ms(2).
    const osc = (answer.get(8) as Map<number, unknown>).get(4) as Map<number, unknown>;
    const ms = osc.get(2) as Uint8Array;
    expect(ms.length).toBeGreaterThanOrEqual(16);
    expect(r.stderr).toMatch(/bound to an OSCORE Master Secret the service made \(RFC 9203\), in .*osc-answer\.cbor .*keybound request --token-response/);
    for (const text of [Buffer.from(ms).toString('hex'), Buffer.from(ms).toString('base64url'), Buffer.from(ms).toString('base64')]) {
      expect(r.stdout + r.stderr).not.toContain(text.slice(0, 16));
    }
  });

  it('for a signed-token device, the symmetric COSE_Key the service made is in the answer file', async () => {
    const r = await kb('token', '--as-url', url, '--client-id', 'osc-app', '--secret-file', at('osc-app.secret'), '--audience', 'tube-123', '--scope', 'read_result', '--token-response-out', at('sym-answer.cbor'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/bound to a symmetric key the service made, in .*sym-answer\.cbor/);
    const cnf = (decodeCbor(new Uint8Array(readFileSync(at('sym-answer.cbor')))) as Map<number, unknown>).get(8) as Map<number, unknown>;
    const key = coseKeyFromMap(cnf.get(1) as CborValue);
    expect(key.kty).toBe('Symmetric');
    expect(r.stdout + r.stderr).not.toContain(Buffer.from(key.k!).toString('base64url').slice(0, 16));
  });

  it('refuses, as usage errors and before asking: both or neither of --pop-key and --token-response-out, JSON, an existing file; a refused request writes no file', async () => {
    const both = await kb(...oscArgs(at('x.cbor'), '--pop-key', at('pop.json')));
    expect([both.code, both.stderr]).toEqual([2, expect.stringMatching(/give one of --pop-key .* and --token-response-out/)]);
    const neither = await kb('token', '--as-url', url, '--client-id', 'osc-app', '--secret-file', at('osc-app.secret'), '--audience', 'tube-osc');
    expect(neither.code).toBe(2);
    const json = await kb(...oscArgs(at('x.cbor'), '--encoding', 'json'));
    expect([json.code, json.stderr]).toEqual([2, expect.stringMatching(/goes with --encoding cbor/)]);
    writeFileSync(at('kept.cbor'), 'mine');
    const existing = await kb(...oscArgs(at('kept.cbor')));
    expect([existing.code, existing.stderr]).toEqual([2, expect.stringMatching(/kept\.cbor exists: not overwritten/)]);
    expect(readFileSync(at('kept.cbor'), 'utf8')).toBe('mine');
    writeFileSync(at('wrong-osc.secret'), 'Zq3-xT9_kLm2Rw8ZpB4nYc7bbbbbbbbbbbbb\n');
    const refused = await kb(...oscArgs(at('refused.cbor')).map((a) => (a === at('osc-app.secret') ? at('wrong-osc.secret') : a)));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/invalid_client/);
    expect(existsSync(at('refused.cbor'))).toBe(false);
    expect(existsSync(at('x.cbor'))).toBe(false);
    for (const r of [both, neither, json]) expect(r.stdout).toBe('');
  });
});

describe('keybound mqtt-password', () => {
  const args = (token: string, key: string, aud = 'broker-1', cid = 'sensor-1') => ['mqtt-password', '--token', token, '--pop-key', key, '--audience', aud, '--client-id', cid];

  it('prints base64url CBOR [token, proof]: a proof by the PoP key binding audience, client id and token hash; fresh each run', async () => {
    const token = new Uint8Array(readFileSync(at('app.token')));
    const pop = jwkToCoseKey(JSON.parse(readFileSync(at('pop.json'), 'utf8')));
    const a = await kb(...args(`@${at('app.token')}`, at('pop.json')));
    expect(a.code, a.stderr).toBe(0);
    const [t, proof] = decodeCbor(fromBase64Url(a.stdout.trim())) as [Uint8Array, Uint8Array];
    expect(Buffer.from(t).equals(Buffer.from(token))).toBe(true);
    const v = verifyPopProof(proof, publicCoseKey(pop), { purpose: PURPOSE_CONNECT, audience: 'broker-1', tokenHash: tokenHash(token, nativeProvider), clientId: 'sensor-1' }, { clock: () => Date.now() / 1000 });
    expect(v.fields.jti?.length).toBe(16);
    // Another client id is not what this proof binds.
    expect(() => verifyPopProof(proof, publicCoseKey(pop), { purpose: PURPOSE_CONNECT, audience: 'broker-1', tokenHash: tokenHash(token, nativeProvider), clientId: 'thief-1' }, { clock: () => Date.now() / 1000 })).toThrow(/client id/);
    const b = await kb(...args(Buffer.from(token).toString('hex'), at('pop.json')));
    expect(b.stdout).not.toBe(a.stdout);
  });

  it('refuses a key the token is not bound to, a token for another audience, an expired token', async () => {
    expect((await kb('keygen', '--out', at('thief.json'))).code).toBe(0);
    const wrongKey = await kb(...args(`@${at('app.token')}`, at('thief.json')));
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/--pop-key is not the key this token is bound to \(cnf\).*\(wrong_key\)/);
    expect(wrongKey.stdout).toBe('');

    const wrongAud = await kb(...args(`@${at('app.token')}`, at('pop.json'), 'broker-2'));
    expect(wrongAud.code).toBe(1);
    expect(wrongAud.stderr).toMatch(/the token is for "broker-1", not "broker-2".*\(wrong_audience\)/);

    const brief = await kb('token', '--as-url', url, '--client-id', 'app', '--secret-file', at('app.secret'), '--audience', 'brief-1', '--scope', 'read_result', '--pop-key', at('pop.json'), '--out', at('brief.token'));
    expect(brief.code, brief.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await kb(...args(`@${at('brief.token')}`, at('pop.json'), 'brief-1'));
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/the token expired \d+ s ago.*\(expired\)/);
  });

  it('refuses a token that is not a CWT', async () => {
    const r = await kb(...args('00112233', at('pop.json')));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid_token');
  });
});

describe('keybound inspect --key with what the service publishes', () => {
  it('verifies with /jwks.json, /keys and the provisioning bundle, picking the key by kid', async () => {
    writeFileSync(at('jwks.json'), Buffer.from(await (await fetch(`${url}/jwks.json`)).arrayBuffer()));
    writeFileSync(at('keys.cbor'), Buffer.from(await (await fetch(`${url}/keys`)).arrayBuffer()));
    expect((await kb('authz', 'provision', 'broker-1', '--data-dir', data, '--issuer', url, '--out', at('broker-1.cbor'))).code).toBe(0);
    expect((await kb('authz', 'provision', 'broker-1', '--data-dir', data, '--issuer', url, '--out', at('broker-1.json'))).code).toBe(0);
    for (const file of ['jwks.json', 'keys.cbor', 'broker-1.cbor', 'broker-1.json']) {
      const r = await kb('inspect', `@${at('app.token')}`, '--key', at(file), '--audience', 'broker-1');
      expect(r.stdout, file).toMatch(/Verification: OK \(COSE_Sign1, alg EdDSA, kid h'[0-9a-f]+', audience "broker-1"\)/);
      expect(r.code, file).toBe(0);
    }
  });

  it('fails verification with a key set that lacks the token\'s kid, and names the junk it cannot read', async () => {
    const other = portableProvider.generateKeyPair('Ed25519');
    writeFileSync(at('other-jwks.json'), JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(other.x).toString('base64url'), kid: 'b3RoZXI' }, { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(portableProvider.generateKeyPair('Ed25519').x).toString('base64url'), kid: 'dGhpcmQ' }] }));
    const r = await kb('inspect', `@${at('app.token')}`, '--key', at('other-jwks.json'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Verification: FAILED ERR_COSE_NO_KEY/);
    writeFileSync(at('junk.cbor'), Buffer.from([0x82, 0x01, 0x02]));
    const junk = await kb('inspect', `@${at('app.token')}`, '--key', at('junk.cbor'));
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/not a COSE_Key or JWK .*nor a COSE_KeySet \(\/keys\), JWK Set \(\/jwks\.json\) or provisioning bundle/);
  });

  it('prints a revocation list by its claims\' names and verifies it', async () => {
    const res = await fetch(`${url}/trl/broker-1`);
    expect(res.status).toBe(200);
    writeFileSync(at('trl.cbor'), Buffer.from(await res.arrayBuffer()));
    const r = await kb('inspect', `@${at('trl.cbor')}`, '--key', at('jwks.json'));
    expect(r.stdout).toMatch(/Revocation list in a COSE_Sign1/);
    expect(r.stdout).toMatch(/ {2}audience\(100\) +"broker-1"/);
    expect(r.stdout).toMatch(/ {2}sequence\(101\) +\d+/);
    expect(r.stdout).not.toMatch(/claim 0|claim 100|claim 101/);
    expect(r.stdout).toMatch(/Verification: OK \(revocation list for "broker-1", sequence \d+, audience not checked\)/);
    const wrong = await kb('inspect', `@${at('trl.cbor')}`, '--key', at('jwks.json'), '--audience', 'tube-123');
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/Verification: FAILED/);
  });
});

// A token signed by someone else's key and claiming our audience: inspect with the service's keys says so.
describe('a forged token', () => {
  it('does not verify with the service keys', async () => {
    const forger = portableProvider.generateKeyPair('Ed25519');
    const claims = readCwtUnverified(new Uint8Array(readFileSync(at('app.token')))).claims;
    const forged = createCwt({ ...claims }, { kty: 'OKP', crv: 'Ed25519', x: forger.x, d: forger.d, kid: utf8('x') });
    writeFileSync(at('forged.token'), forged);
    const r = await kb('inspect', `@${at('forged.token')}`, '--key', at('keys.cbor'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Verification: FAILED ERR_COSE_(NO_KEY|BAD_SIGNATURE)/);
  });
});

describe('keybound token over HTTPS with a private CA (--ca)', () => {
  it('trusts the service only through the CA it is given', async () => {
    makeCertificates(dir);
    const tls = await authzServe({ dataDir: data, port: 0, tls: { cert: readFileSync(at('server.pem')), key: readFileSync(at('server.key')) } });
    try {
      const args = (...more: string[]) => tokenArgs(at('pop.json'), ...more).map((a) => (a === url ? tls.url : a));
      expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ok = await kb(...args('--ca', at('ca.pem')));
      expect(ok.code, ok.stderr).toBe(0);
      expect(readCwtUnverified(fromBase64Url(ok.stdout.trim())).claims.aud).toBe('broker-1');
      for (const more of [[], ['--ca', at('other.pem')]]) {
        const refused = await kb(...args(...more));
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/could not be reached \([A-Z_]+\) \(unreachable\)/);
        expect(refused.stderr).not.toContain(readFileSync(at('app.secret'), 'utf8').trim());
      }
    } finally {
      await tls.server.close();
    }
  });
});
