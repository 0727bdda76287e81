/**
 * The confirmation (cnf) and token_type at /introspect, per token form, as an RFC 7662 resource
 * server reads them in JSON: a JOSE confirmation is a JSON object ({"jwk"}: RFC 7800 §3.2; {"jkt"}
 * with token_type DPoP: RFC 9449 §6.2, in dpop-oauth4webapi.test.ts; {"x5t#S256"}: RFC 8705 §3.2,
 * in authz-mtls.test.ts), while a CWT's COSE_Key cnf stays base64url of its CBOR (RFC 9200 §5.9.2).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { coseKeyToMap, decodeCbor, encodeCbor, fromBase64Url, toBase64Url } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';

const SECRET = randomBytes(24).toString('base64url');
const RS_SECRET = randomBytes(24).toString('base64url');
const JWT_API = 'https://api.example/records';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

let dir: string;
let store: SqliteStore;
let server: AuthzServer;
let base: string;
const pair = nativeProvider.generateKeyPair('Ed25519');
const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap({ kty: 'OKP', crv: 'Ed25519', x: pair.x })]])));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'introspect-cnf-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: JWT_API, scopes: ['read'], tokenFormat: 'jwt' });
  await registerClient(store, { id: 'app', secret: SECRET, audiences: ['dev', JWT_API], scopes: ['read'] });
  await registerClient(store, { id: 'rs', secret: RS_SECRET, audiences: ['dev', JWT_API], grantTypes: [], resourceServer: true });
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
});

afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function token(audience: string): Promise<string> {
  const r = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('app', SECRET) }, body: JSON.stringify({ grant_type: 'client_credentials', audience, req_cnf: reqCnf }) });
  const body = (await r.json()) as { access_token: string };
  expect(r.status).toBe(200);
  return body.access_token;
}

async function introspect(t: string, who = basic('rs', RS_SECRET)): Promise<Record<string, unknown>> {
  const r = await fetch(`${base}/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: who }, body: new URLSearchParams({ token: t }) });
  expect(r.status).toBe(200);
  return (await r.json()) as Record<string, unknown>;
}

describe('/introspect: cnf in the form a resource server of that token reads', () => {
  it('a JWT access token bound to a req_cnf key: cnf is the JSON object {jwk} (RFC 7800 §3.2), public members only', async () => {
    const answer = await introspect(await token(JWT_API));
    expect(answer).toMatchObject({ active: true, aud: JWT_API, token_type: 'PoP' });
    expect(answer.cnf).toEqual({ jwk: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(pair.x) } });
  });

  it('a CWT bound to the same key: cnf stays base64url of its CBOR {1: COSE_Key} (RFC 9200 §5.9.2, RFC 8747 §3.2)', async () => {
    const answer = await introspect(await token('dev'));
    expect(answer).toMatchObject({ active: true, aud: 'dev', token_type: 'PoP' });
    expect(typeof answer.cnf).toBe('string');
    const cnf = decodeCbor(fromBase64Url(answer.cnf as string)) as Map<number, Map<number, unknown>>;
    expect(cnf.get(1)?.get(-2)).toEqual(pair.x);
  });

  it('a caller that is not a resource server learns nothing, cnf included', async () => {
    expect(await introspect(await token(JWT_API), basic('app', SECRET))).toEqual({ active: false });
  });
});
