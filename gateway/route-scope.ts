/**
 * Scope per route: a token whose scope is an AIF-REST grant (RFC 9237: [path, methods] pairs,
 * keybound's REST scopes, carried in the JWT as its JSON array) allows only the methods it lists
 * on the paths it lists; a text scope (RFC 6749 §3.3) must hold the gateway's required scope
 * tokens, if any. Anything else is refused: an unreadable scope grants nothing.
 */
import { parseScope, restScopeAllows, REST_METHOD_BITS, type CborValue, type RestMethod } from '../cose/index.js';
import { GatewayError } from './errors.js';

export function checkRouteScope(scope: unknown, request: { method: string; path: string }, requiredTokens: readonly string[]): void {
  if (Array.isArray(scope)) {
    let parsed;
    try {
      parsed = parseScope(scope as CborValue, { expect: 'aif-rest' });
    } catch {
      throw new GatewayError('insufficient_scope', 'token scope is not a readable AIF-REST grant');
    }
    if (!Object.hasOwn(REST_METHOD_BITS, request.method)) throw new GatewayError('insufficient_scope', 'method not grantable');
    if (!restScopeAllows(parsed, { method: request.method as RestMethod, resource: request.path })) {
      throw new GatewayError('insufficient_scope', 'token scope does not allow this method on this path');
    }
    return;
  }
  if (typeof scope !== 'string' && requiredTokens.length > 0) throw new GatewayError('insufficient_scope', 'token carries no scope');
  const held = new Set(typeof scope === 'string' ? scope.split(' ') : []);
  for (const t of requiredTokens) if (!held.has(t)) throw new GatewayError('insufficient_scope', 'token scope lacks a required scope');
}
