/**
 * The connected flow's real gateway (issue 11: "the demo's connected flow goes through this
 * gateway"): gateway/'s createGateway with phantom tokens, in front of a small HTTP API standing
 * for the EKG's, on 127.0.0.1, on the simulator's virtual clock (the service's too, so exp, iat
 * windows and the cache TTL agree). Each app gets its own P-256 DPoP key and a reference token
 * bound to it at the service's /token (RFC 9449 §5), and calls GET /ekg with a fresh proof per
 * request (§4.2, ath of the token); the gateway introspects the token once (RFC 7662), keeps the
 * answer, checks the proof against the introspected cnf, and the API receives the gateway's own
 * JWT, never the reference token. Loopback only, for the demo and the small-fleet test.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { fromBase64Url } from '../cose/index.js';
import { accessTokenHash } from '../sender-constraint/index.js';
import { createGateway, PhantomTokens } from '../gateway/index.js';
import type { ConnectedApp, ConnectedGateway } from './fleet-issuer.js';

export interface ConnectedGatewayOptions {
  /** The service's base URL (/token, /introspect). */
  serviceUrl: string;
  audience: string;
  scope: string;
  client: { id: string; secret: string };
  /** The gateway's own client at the service (a registered resource server), to introspect. */
  resourceServer: { id: string; secret: string };
  /** Seconds since the epoch: the simulator's virtual clock. */
  clock: () => number;
}

export interface RunningConnectedGateway extends ConnectedGateway {
  close(): Promise<void>;
}

/** What the EKG's API answers: the upstream sees who called (the gateway's headers), not how. */
function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    const authorized = typeof req.headers.authorization === 'string' && req.headers['x-keybound-jkt'] !== undefined;
    res.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(authorized ? { ekg: 'sinus rhythm' } : { error: 'not through the gateway' }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function dpopProof(key: { privateKey: CryptoKey; jwk: JWK }, htm: string, htu: string, iat: number, accessToken?: string): Promise<string> {
  return new SignJWT({ htm, htu, jti: randomUUID(), iat: Math.floor(iat), ...(accessToken ? { ath: accessTokenHash(accessToken) } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey);
}

export async function startConnectedGateway(opts: ConnectedGatewayOptions): Promise<RunningConnectedGateway> {
  const upstream = await startUpstream();
  const pair = await generateKeyPair('ES256', { extractable: true });
  const phantom = new PhantomTokens(
    {
      introspectionUrl: `${opts.serviceUrl}/introspect`,
      clientId: opts.resourceServer.id,
      clientSecret: opts.resourceServer.secret,
      audience: opts.audience,
      signingKey: { ...pair, kid: await calculateJwkThumbprint(await exportJWK(pair.publicKey), 'sha256') },
      issuer: 'http://sim-gateway',
    },
    opts.clock,
  );
  const gateway = createGateway({
    upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    audience: opts.audience,
    // Only opaque tokens are let in here: no JWT is trusted (an empty key set verifies nothing).
    keys: createLocalJWKSet({ keys: [] }),
    phantom,
    requiredScope: [opts.scope],
    clock: opts.clock,
  });
  const { url } = await gateway.listen(0);
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(opts.client.id)}:${encodeURIComponent(opts.client.secret)}`).toString('base64')}`;

  async function open(): Promise<ConnectedApp> {
    const kp = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(kp.publicKey);
    const key = { privateKey: kp.privateKey, jwk: { kty: kty!, crv: crv!, x: x!, y: y! } };
    const tokenUrl = `${opts.serviceUrl}/token`;
    const r = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(key, 'POST', tokenUrl, opts.clock()) },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: opts.audience, scope: opts.scope }).toString(),
    });
    const answer = (await r.json()) as { access_token?: unknown; token_type?: unknown; error?: unknown };
    if (r.status !== 200 || typeof answer.access_token !== 'string' || answer.token_type !== 'DPoP') throw new Error(`the service gave no DPoP-bound reference token (${r.status} ${String(answer.error)})`);
    const token = answer.access_token;
    return {
      token: fromBase64Url(token),
      async request() {
        const ekg = `${url}/ekg`;
        const res = await fetch(ekg, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', ekg, opts.clock(), token) } });
        const body = (await res.json()) as { error?: unknown; error_description?: unknown };
        if (res.status === 200) return { served: true };
        // The service said "not active" (revoked, expired): the refusal the simulator's model names gateway_inactive_token.
        if (body.error === 'invalid_token' && body.error_description === 'access token not active') return { served: false, reason: 'gateway_inactive_token' };
        return { served: false, reason: typeof body.error === 'string' ? `gateway_${body.error}` : `gateway_${res.status}` };
      },
    };
  }

  return {
    url,
    open,
    stats: () => phantom.cacheStats,
    async close() {
      await gateway.close();
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    },
  };
}
