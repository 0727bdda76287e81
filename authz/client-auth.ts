/**
 * Client authentication at the token, introspection and revocation endpoints:
 * - client_secret_basic / client_secret_post (RFC 6749 §2.3.1), checked against a scrypt hash
 *   in constant time;
 * - a client assertion (our CWT analogue of RFC 7523 private_key_jwt): a COSE_Sign1 CWT made by
 *   the client's registered key with iss = sub = client_id, aud = the service's issuer, exp no
 *   more than MAX_ASSERTION_LIFETIME ahead, and a cti that is accepted once. A device needs no
 *   shared secret.
 * - tls_client_auth / self_signed_tls_client_auth (RFC 8705 §2): the TLS client certificate of
 *   this connection (certificate-client-auth.ts), with client_id in the request;
 * - none, for public clients (authorization_code / device_code with PKCE or a device code).
 */
import { deferSignatures, fromUtf8, readCwtUnverified, verifyCwt, toHex, type CryptoProvider, type VerifyOffLoop } from '../cose/index.js';
import { invalidClient, invalidRequest } from './errors.js';
import { bytesParam, textParam, type Params } from './ace-params.js';
import { MAX_SECRET_LENGTH, verifySecret } from './secret-hash.js';
import type { SecretVerificationCache } from './secret-cache.js';
import { certificateAuthenticates, type TlsPeer } from './certificate-client-auth.js';
import type { AuthzStore, ClientRecord } from './store.js';

// The assertion format is shared with the clients that make them (device/), so it lives in cose/.
export { CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME } from '../cose/index.js';
import { CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME } from '../cose/index.js';

export interface ClientAuthContext {
  store: AuthzStore;
  issuer: string;
  provider: CryptoProvider;
  clock: () => number;
  /** Recent successful secret verifications (secret-cache.ts); without one, scrypt runs every time. */
  secretCache?: SecretVerificationCache;
  /** This request's TLS client certificate, when the listener got one (RFC 8705 §2). */
  peer?: TlsPeer;
  /**
   * An asynchronous twin of `provider.verify` (cose/adapters verifyInThreadPool for the native
   * provider): a client assertion's signature is then checked off the event loop
   * (cose/deferred-signatures.ts). Without it, in line.
   */
  verifyOffLoop?: VerifyOffLoop;
}

export interface AuthenticatedClient {
  client: ClientRecord;
  method: 'client_secret_basic' | 'client_secret_post' | 'cwt_assertion' | 'tls_client_auth' | 'self_signed_tls_client_auth' | 'none';
  /** RFC 8705 §3.1: the x5t#S256 of the certificate that authenticated the client, for binding its tokens. */
  certificateThumbprint?: string;
}

/** Parses `Authorization: Basic` (RFC 6749 §2.3.1: form-urlencoded id and secret). */
export function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  let decoded: string;
  try {
    decoded = fromUtf8(Uint8Array.from(Buffer.from(header.slice(6).trim(), 'base64')));
  } catch {
    throw invalidClient('malformed Basic credentials');
  }
  const i = decoded.indexOf(':');
  if (i < 0) throw invalidClient('malformed Basic credentials');
  try {
    return { id: decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' ')) };
  } catch {
    throw invalidClient('malformed Basic credentials');
  }
}

export async function authenticateClient(
  ctx: ClientAuthContext,
  params: Params,
  authorization: string | undefined,
  opts: { allowPublic: boolean },
): Promise<AuthenticatedClient> {
  const basic = parseBasic(authorization);
  const postId = textParam(params, 'client_id');
  const postSecret = textParam(params, 'client_secret');
  const assertion = bytesParam(params, 'client_assertion');
  const methods = [basic, postSecret, assertion].filter((m) => m !== undefined).length;
  // RFC 6749 §2.3: a client uses exactly one authentication method per request.
  if (methods > 1) throw invalidRequest('more than one client authentication method');
  if (basic) {
    if (postId !== undefined && postId !== basic.id) throw invalidRequest('client_id differs from the Basic credentials');
    return { client: await checkSecret(ctx, basic.id, basic.secret), method: 'client_secret_basic' };
  }
  if (postSecret !== undefined) {
    if (!postId) throw invalidRequest('client_id is missing');
    return { client: await checkSecret(ctx, postId, postSecret), method: 'client_secret_post' };
  }
  if (assertion) {
    if (textParam(params, 'client_assertion_type') !== CLIENT_ASSERTION_TYPE) throw invalidRequest('unsupported client_assertion_type');
    return { client: await checkAssertion(ctx, assertion, postId), method: 'cwt_assertion' };
  }
  if (!postId) throw invalidClient('no client authentication');
  const client = await ctx.store.getClient(postId);
  if (!client) throw invalidClient();
  if (client.tlsClientAuth) {
    const thumbprint = certificateAuthenticates(ctx.peer, client.tlsClientAuth);
    if (!thumbprint) throw invalidClient('the TLS client certificate does not authenticate this client (RFC 8705 §2)');
    return { client, method: client.tlsClientAuth.method, certificateThumbprint: thumbprint };
  }
  if (!opts.allowPublic || client.secretHash || client.publicKey) throw invalidClient('this client must authenticate');
  return { client, method: 'none' };
}

async function checkSecret(ctx: ClientAuthContext, id: string, secret: string): Promise<ClientRecord> {
  const client = await ctx.store.getClient(id);
  const cache = ctx.secretCache;
  if (client?.secretHash && secret.length <= MAX_SECRET_LENGTH && cache?.has(client.id, client.secretHash, secret)) return client;
  // Always run scrypt, so an unknown client id costs the same time as a wrong secret.
  const ok = await verifySecret(secret, client?.secretHash);
  if (!client || !ok) throw invalidClient();
  cache?.remember(client.id, client.secretHash!, secret);
  return client;
}

async function checkAssertion(ctx: ClientAuthContext, assertion: Uint8Array, claimedId: string | undefined): Promise<ClientRecord> {
  // Who signed it is only known after reading iss; read it unverified just to pick the key, then verify.
  let iss: string | undefined;
  try {
    iss = readCwtUnverified(assertion).claims.iss;
  } catch {
    throw invalidClient('malformed client assertion');
  }
  if (!iss || (claimedId !== undefined && claimedId !== iss)) throw invalidClient('client assertion issuer mismatch');
  const client = await ctx.store.getClient(iss);
  if (!client?.publicKey) throw invalidClient();
  // The Ed25519 verify was about a third of an assertion's CPU on the loop (issue 13): off it, the
  // claims are read while the signature is checked, and nothing below runs before it verified.
  const deferred = ctx.verifyOffLoop ? deferSignatures(ctx.provider, ctx.verifyOffLoop) : undefined;
  let claims;
  try {
    ({ claims } = verifyCwt(assertion, client.publicKey, {
      audience: ctx.issuer,
      issuer: client.id,
      clock: ctx.clock,
      leeway: 30,
      allowNoCnf: true,
      provider: deferred?.provider ?? ctx.provider,
    }));
  } catch {
    throw invalidClient('client assertion does not verify');
  }
  if (deferred && !(await deferred.confirm())) throw invalidClient('client assertion does not verify');
  const now = ctx.clock();
  if (claims.sub !== client.id || claims.exp === undefined || claims.exp > now + MAX_ASSERTION_LIFETIME || !claims.cti) {
    throw invalidClient('client assertion claims are not acceptable');
  }
  // One use per cti (RFC 7523 §3 jti): the rate-limit table doubles as a replay cache.
  const seen = await ctx.store.hitRateLimit(`assertion:${client.id}:${toHex(claims.cti)}`, Math.floor(now), MAX_ASSERTION_LIFETIME * 2);
  if (seen > 1) throw invalidClient('client assertion replayed');
  return client;
}


