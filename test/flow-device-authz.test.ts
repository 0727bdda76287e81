/**
 * The real authorization service and the real device runtime, with nothing between them but
 * loopback HTTP and a provisioning bundle: a token the service issues is verified by the device
 * with only what it was provisioned with (issue 4 "Must show"), and the proof of possession,
 * protected sessions and revocation work across the two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CLIENT_ASSERTION_TYPE,
  COSE_TAG,
  CWT_TAG,
  Tag,
  createClientAssertion,
  decodeCbor,
  encodeCbor,
  encodeCoseKey,
  encodeProvisioningBundle,
  publicCoseKey,
  toBase64Url,
  tokenHash,
  utf8,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { main } from '../cli/index.js';
import {
  beginOscoreClient,
  buildPopRequest,
  createResourceServer,
  decodeResponseBody,
  loadProvisioningBundle,
  memoryStorage,
  requestToken,
  serveAuthzInfo,
  serveRequest,
  type ResourceServer,
  type TokenTransport,
} from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-'));
let now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';

const ekgKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('ekg-key') };
})();

const transport: TokenTransport = async (body) => {
  const res = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body });
  return new Uint8Array(await res.arrayBuffer());
};

const assertion = () => createClientAssertion({ clientId: 'ekg-abc', audience: base, key: ekgKey, now, provider: nativeProvider });

async function device(id: string): Promise<ResourceServer> {
  const bundle = await provisionDevice(store, server.keys, { deviceId: id, issuer: base, now });
  return createResourceServer({
    trust: loadProvisioningBundle(encodeProvisioningBundle(bundle), now),
    storage: memoryStorage(),
    clock,
    handler: (req) => ({ code: 205, payload: utf8(`${req.method} ${req.resource}`) }),
  });
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  server = await createAuthzServer({ store, dataDir: dir, clock });
  base = (await server.listen(0)).url;
  await registerAudience(store, nativeProvider, { id: 'tube-123', scopes: ['[["/result",1]]'] });
  await registerAudience(store, nativeProvider, { id: 'tube-mac', protection: 'mac0', scopes: ['[["/result",1]]'] });
  await registerAudience(store, nativeProvider, { id: 'tube-enc', protection: 'encrypt0', scopes: ['[["/result",1]]'] });
  await registerClient(store, { id: 'ekg-abc', publicKey: publicCoseKey(ekgKey), audiences: ['tube-123', 'tube-mac', 'tube-enc'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
});

afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('service-issued tokens on a provisioned device', () => {
  it('asymmetric PoP: the key holder is served, a thief with the same token is not', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    const ok = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(ok)).toMatchObject({ code: 205 });
    const thief = { ...ekgKey, ...(() => { const p = nativeProvider.generateKeyPair('Ed25519'); return { x: p.x, d: p.d }; })() };
    const stolen = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: thief, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(stolen)).toMatchObject({ code: 401, error: 'bad_proof' });
    // A request outside the granted AIF scope (PUT) is refused even with the key.
    const put = { ...get, method: 'PUT' };
    const wide = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: put, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(wide).error).toBe('insufficient_scope');
  });

  for (const id of ['tube-123', 'tube-mac', 'tube-enc']) {
    it(`symmetric PoP (${id}): the service seals a PoP key for the device, and an OSCORE context runs on it (RFC 9203)`, async () => {
      const tube = await device(id);
      const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: id, scope: [['/result', 1]] });
      expect(res.popKey?.kty).toBe('Symmetric');
      // RFC 9203 §3.2.1: the sealed symmetric PoP key is the Master Secret, its kid the id.
      const kid = res.popKey!.kid ?? new Uint8Array(0);
      const start = beginOscoreClient(res.accessToken, { id: kid, ms: res.popKey!.k! }, nativeProvider);
      const client = start.finish(serveAuthzInfo(tube, start.message));
      const { message, binding } = client.request(get);
      const answer = client.response(serveRequest(tube, message), binding);
      expect(answer).toMatchObject({ code: 205, authenticated: true });
      // The same token without the PoP key gets nowhere: the context needs the key to derive anything.
      const thief = beginOscoreClient(res.accessToken, { id: kid, ms: new Uint8Array(32) }, nativeProvider);
      const t = thief.finish(serveAuthzInfo(tube, thief.message));
      const forged = t.request(get);
      // RFC 8613 §8.2: the device cannot decrypt it and answers 4.00 "Decryption failed", unprotected.
      expect(t.response(serveRequest(tube, forged.message), forged.binding)).toMatchObject({ code: 400, authenticated: false, error: 'Decryption failed' });
    });
  }

  it('a token the service revokes is refused once the device applies the signed list', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    const ask = () => serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(ask()).code).toBe(205);
    const body = new URLSearchParams({ token: Buffer.from(res.accessToken).toString('base64url'), client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: Buffer.from(assertion()).toString('base64url') });
    const revoked = await fetch(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(revoked.status).toBe(200);
    const trl = new Uint8Array(await (await fetch(`${base}/trl/tube-123`)).arrayBuffer());
    expect(tube.applyRevocationList(trl)).toBe(1);
    expect(decodeResponseBody(ask()).error).toBe('revoked');
  });

  it('an expired service token is refused by the device', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    now += (res.expiresIn ?? 3600) + 120;
    try {
      const late = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
      expect(decodeResponseBody(late).error).toBe('expired');
    } finally {
      now -= (res.expiresIn ?? 3600) + 120;
    }
  });
});

/**
 * Issue 9 finding 13 (last part): the service issues tokens without CWT tag 61 (RFC 8392 §6 makes
 * it optional) to audiences registered for it, because some peers (ruby-cose) cannot read tag 61.
 * The audiences are registered through the real CLI (bin/keybound.js as a child process once, its
 * command function for the others) on the running service's data directory. The attacker's move:
 * re-tag a revoked token (add tag 61) or strip a tagged one's, hoping the revocation list's hash
 * no longer matches.
 */
describe('untagged tokens for audiences registered with --untagged-tokens', () => {
  const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const UNTAGGED = { 'ruby-sign1': 'sign1', 'ruby-mac0': 'mac0', 'ruby-enc': 'encrypt0' } as const;
  const SCOPE = '[["/result",1]]';
  /**
   * The real binary, as an operator runs it (once: each start costs seconds on a shared machine).
   * Asynchronously: the service in this process keeps its event loop, and its keep-alive sockets.
   */
  const keyboundBinary = async (...args: string[]): Promise<string> =>
    (await promisify(execFile)(process.execPath, [join(ROOT, 'bin/keybound.js'), ...args], { encoding: 'utf8', timeout: 60_000 })).stdout;
  /** The same command line through the CLI's own function, in process. */
  const keybound = async (...args: string[]): Promise<void> => {
    const err: string[] = [];
    expect(await main(args, { stdout: { write: () => undefined }, stderr: { write: (t: string) => void err.push(t) } }), err.join('')).toBe(0);
  };
  const tokenFor = async (audience: string) =>
    (await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience, scope: [['/result', 1]], popKey: ekgKey })).accessToken;
  const ask = (tube: ResourceServer, token: Uint8Array, audience: string) =>
    decodeResponseBody(serveRequest(tube, buildPopRequest({ token, popKey: ekgKey, audience, request: get, includeToken: true, nonce: tube.issueNonce() })));
  const revoke = async (token: Uint8Array, audience: string): Promise<Uint8Array> => {
    const body = new URLSearchParams({ token: toBase64Url(token), client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(assertion()) });
    expect((await fetch(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })).status).toBe(200);
    return new Uint8Array(await (await fetch(`${base}/trl/${audience}`)).arrayBuffer());
  };
  /** The outermost tag: 61 for a CWT-tagged token, the COSE tag itself for an untagged one. */
  const outerTag = (token: Uint8Array): number | undefined => {
    const v = decodeCbor(token);
    return v instanceof Tag ? v.tag : undefined;
  };

  beforeAll(async () => {
    expect(await keyboundBinary('authz', 'register-device', 'ruby-sign1', '--data-dir', dir, '--untagged-tokens', '--scope', SCOPE)).toContain('registered device ruby-sign1');
    await keybound('authz', 'register-device', 'ruby-mac0', '--data-dir', dir, '--protection', 'mac0', '--untagged-tokens', '--scope', SCOPE);
    await keybound('authz', 'register-device', 'ruby-enc', '--data-dir', dir, '--protection', 'encrypt0', '--untagged-tokens', '--scope', SCOPE);
    const keyFile = join(dir, 'ekg.cose');
    writeFileSync(keyFile, encodeCoseKey(publicCoseKey(ekgKey)));
    const audiences = ['tube-123', 'tube-mac', 'tube-enc', ...Object.keys(UNTAGGED)].flatMap((a) => ['--audience', a]);
    await keybound('authz', 'register-client', 'ekg-abc', '--data-dir', dir, '--public-key', keyFile, ...audiences, '--scope', SCOPE, '--force'); // re-registers the earlier ekg-abc with more audiences
  }, 60_000);

  it('the registration is stored, and kept when the device is registered again without the flag', async () => {
    expect((await store.getAudience('ruby-sign1'))!.policy.untaggedTokens).toBe(true);
    expect((await store.getAudience('tube-123'))!.policy.untaggedTokens).toBe(false);
    await keybound('authz', 'register-device', 'ruby-sign1', '--data-dir', dir, '--scope', SCOPE);
    expect((await store.getAudience('ruby-sign1'))!.policy.untaggedTokens).toBe(true);
  });

  it('a registration (admin API JSON) whose flag is not a boolean is refused and stores nothing', async () => {
    await expect(registerAudience(store, nativeProvider, { id: 'ruby-odd', untaggedTokens: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_AUTHZ_REGISTRY' });
    expect(await store.getAudience('ruby-odd')).toBeUndefined();
  });

  for (const [id, protection] of Object.entries(UNTAGGED)) {
    it(`${id} (${protection}): the token has no tag 61, only its COSE tag, and the provisioned device serves it`, async () => {
      const token = await tokenFor(id);
      expect(outerTag(token)).toBe(protection === 'mac0' ? COSE_TAG.Mac0 : protection === 'encrypt0' ? COSE_TAG.Encrypt0 : COSE_TAG.Sign1);
      expect(ask(await device(id), token, id)).toMatchObject({ code: 205 });
    });
  }

  it('an audience registered without the flag still gets 61(18(...))', async () => {
    const token = await tokenFor('tube-123');
    expect(outerTag(token)).toBe(CWT_TAG);
    expect(((decodeCbor(token) as Tag).value as Tag).tag).toBe(COSE_TAG.Sign1);
  });

  it('a revoked untagged token stays refused at the device, also with tag 61 added by its holder', async () => {
    const tube = await device('ruby-sign1');
    const token = await tokenFor('ruby-sign1');
    const retagged = encodeCbor(new Tag(decodeCbor(token), CWT_TAG));
    expect(ask(tube, retagged, 'ruby-sign1')).toMatchObject({ code: 205 }); // both forms are one token
    expect(tube.applyRevocationList(await revoke(token, 'ruby-sign1'))).toBe(1);
    // The list carries the hash over the canonical (tagged) form: one hash for both forms.
    expect(tokenHash(token)).toEqual(tokenHash(retagged));
    expect(ask(tube, token, 'ruby-sign1').error).toBe('revoked');
    expect(ask(tube, retagged, 'ruby-sign1').error).toBe('revoked');
  });

  it('a revoked tagged token stays refused with its tag 61 stripped (the form an untagged audience sees)', async () => {
    const tube = await device('tube-mac');
    const token = await tokenFor('tube-mac');
    expect(tube.applyRevocationList(await revoke(token, 'tube-mac'))).toBe(1);
    expect(ask(tube, token, 'tube-mac').error).toBe('revoked');
    expect(ask(tube, encodeCbor((decodeCbor(token) as Tag).value as CborValue), 'tube-mac').error).toBe('revoked');
  });
});
