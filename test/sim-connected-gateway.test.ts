/**
 * The demo's connected flow goes through the real gateway (issue 11): startAuthzIssuer (what
 * `keybound demo` and the small-fleet test run) starts gateway/'s createGateway with phantom
 * tokens in front of the EKG's HTTP API. An app's DPoP-bound reference token with a fresh proof
 * is served (the API sees the gateway's JWT and the checked key, never the reference token); the
 * same token without a proof, as Bearer, or with a proof by another key is refused; a
 * revoked token is served from the cache and refused once the service says inactive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { toBase64Url } from '../cose/index.js';
import { startAuthzIssuer, PHANTOM_MAX_TTL_S, type AuthzIssuer, type ConnectedGateway } from '../firmware-sim/index.js';

let dir: string;
let issuer: AuthzIssuer;
let gateway: ConnectedGateway;
let now = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sim-gw-'));
  issuer = await startAuthzIssuer({ dataDir: dir, clock: () => now });
  gateway = issuer.connectedGateway!;
});

afterAll(async () => {
  await issuer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the connected flow's real gateway", () => {
  it('serves a DPoP request with the bound reference token, introspecting once for many calls', async () => {
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const app = await issuer.connectedGateway!.open();
    const before = gateway.stats();
    for (let i = 0; i < 3; i++) expect(await app.request()).toEqual({ served: true });
    const after = gateway.stats();
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(2);
  });

  it('refuses the token without a proof, as Bearer, and with a proof by another key', async () => {
    const app = await gateway.open();
    const token = toBase64Url(app.token);
    const ekg = `${gateway.url}/ekg`;
    expect((await fetch(ekg, { headers: { authorization: `DPoP ${token}` } })).status).toBe(401);
    expect((await fetch(ekg, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await fetch(ekg)).status).toBe(401);
    // A well-made proof (right htm, htu, ath, iat) by a key the token is not bound to.
    const thief = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(thief.publicKey);
    const proof = await new SignJWT({ htm: 'GET', htu: ekg, jti: randomUUID(), iat: now, ath: createHash('sha256').update(token).digest('base64url') })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: kty!, crv: crv!, x: x!, y: y! } })
      .sign(thief.privateKey);
    const r = await fetch(ekg, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    expect(await app.request()).toEqual({ served: true });
  });

  it('serves a revoked token from its cache at most PHANTOM_MAX_TTL_S, then refuses it', async () => {
    const app = await gateway.open();
    expect((await app.request()).served).toBe(true);
    await issuer.revokeReference(app.token);
    expect((await app.request()).served).toBe(true);
    now += PHANTOM_MAX_TTL_S + 1;
    expect(await app.request()).toEqual({ served: false, reason: 'gateway_inactive_token' });
  });
});
