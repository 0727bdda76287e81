/**
 * The admin API (/admin/...): register audiences, clients and users, provision devices, rotate the
 * signing key. Bearer-authenticated with the operator's admin token (compared as SHA-256 digests in
 * constant time); off when the service has no admin token. A function of a WebRequest.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { bundleToJson, decodeCoseKey, encodeProvisioningBundle, fromBase64Url } from '../cose/index.js';
import { AuthzError } from './errors.js';
import { provisionDevice, registerAudience, registerClient, registerUser, RegistryError } from './registry.js';
import { parseStrictJson } from './strict-json.js';
import { secretWeakness } from './secret-strength.js';
import { passwordWeakness } from './password-dictionary.js';
import { decodePathSegment, jsonResponse, respond, type WebContext, type WebRequest, type WebResponse } from './web-exchange.js';

/** Admin JSON bodies are small too. */
export const MAX_ADMIN_BODY = 16 * 1024;
const PROVISION = '/admin/provision/';

function authorized(ctx: WebContext, req: WebRequest): boolean {
  const presented = /^Bearer (.+)$/.exec(req.authorization ?? '')?.[1];
  if (!ctx.adminTokenHash || !presented) return false;
  return timingSafeEqual(createHash('sha256').update(presented).digest(), ctx.adminTokenHash);
}

const invalid = (description: string): WebResponse => jsonResponse(400, { error: 'invalid_request', error_description: description });

export async function handleAdmin(ctx: WebContext, req: WebRequest): Promise<WebResponse> {
  if (!authorized(ctx, req)) return jsonResponse(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer' });
  const { store, keys, clock, provider } = ctx.token;
  const path = req.url.pathname;
  try {
    if (req.method === 'GET' && path.startsWith(PROVISION)) {
      const deviceId = decodePathSegment(path.slice(PROVISION.length));
      if (deviceId === undefined) return invalid('the device id is not valid percent-encoded UTF-8');
      const bundle = await provisionDevice(store, keys, { deviceId, issuer: ctx.token.issuer, now: Math.floor(clock()), asUrl: ctx.baseUrl() });
      return req.url.searchParams.get('format') === 'json'
        ? respond(200, 'application/json', bundleToJson(bundle))
        : respond(200, 'application/cbor', encodeProvisioningBundle(bundle));
    }
    if (req.method !== 'POST') return jsonResponse(405, { error: 'invalid_request' });
    let input: Record<string, unknown>;
    try {
      const parsed = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(req.body));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error();
      input = parsed as Record<string, unknown>;
    } catch (e) {
      return invalid(e instanceof AuthzError ? `body: ${e.message}` : 'body must be a JSON object');
    }
    const key = (v: unknown) => (typeof v === 'string' ? decodeCoseKey(fromBase64Url(v)) : undefined);
    if (path === '/admin/audiences') {
      const a = await registerAudience(store, provider, { ...(input as object), id: String(input.id), ...(input.rsKey ? { rsKey: key(input.rsKey)! } : {}) } as never);
      return jsonResponse(201, { id: a.id, protection: a.protection, clockless: a.clockless });
    }
    // The operator's other door refuses what the CLI refuses: a guessable secret or password.
    const weak =
      path === '/admin/clients' && typeof input.secret === 'string'
        ? secretWeakness(input.secret, 'client secret')
        : path === '/admin/users'
          ? await passwordWeakness(String(input.password ?? ''), String(input.username ?? ''))
          : undefined;
    if (weak) return invalid(weak);
    if (path === '/admin/clients') {
      const c = await registerClient(store, { ...(input as object), id: String(input.id), ...(input.publicKey ? { publicKey: key(input.publicKey)! } : {}) } as never);
      return jsonResponse(201, { id: c.id, audiences: c.audiences, grantTypes: c.grantTypes });
    }
    if (path === '/admin/users') {
      await registerUser(store, String(input.username), String(input.password));
      return jsonResponse(201, {});
    }
    if (path === '/admin/rotate-key') {
      const k = await keys.rotate(input.alg === 'ES256' ? 'ES256' : 'EdDSA', Math.floor(clock()), Number(input.keepSeconds ?? 86400));
      return jsonResponse(201, { kid: k.kid });
    }
    return jsonResponse(404, { error: 'not_found' });
  } catch (e) {
    if (e instanceof RegistryError || (e as { code?: string }).code?.startsWith('ERR_')) return invalid((e as Error).message);
    throw e;
  }
}
