/**
 * Which topic a client may publish to or subscribe to, from its token's scope (AIF-MQTT, RFC
 * 9431 §3) plus the relay rules of DESIGN.md "MQTT" for the `ace/` topics:
 * - `ace/authz-info`: a client's own token refresh; taken by the broker, never routed.
 * - `ace/<device>/authz-info`: anyone admitted may deliver a token to a device (tokens protect
 *   themselves); rate-limited by the caller.
 * - `ace/<device>/req`, `ace/<device>/res/<client>`: by scope only (a request needs scope for
 *   that device). A client may also subscribe to responses addressed to it, where <client> is
 *   its token's `sub` and its MQTT client id (the token says who it is, not the CONNECT alone).
 * - `ace/trl/<audience>`: the service's signed revocation list (the audience by its safe name,
 *   cose/audience-id.ts); anyone admitted may read it, and
 *   may publish it only when its signature verifies (checked by the caller).
 * - `ace/<device>/trust`: the service's signed trust-anchor update for a device; read by scope (the
 *   device's), published by anyone admitted only when it verifies and is newer (checked by the caller).
 * Topics starting with `$` are the broker's own (MQTT 3.1.1 §4.7.2) and never granted.
 * Pure: no I/O, no state.
 */
import { audienceFromSafeName, filtersCover, isValidTopicFilter, isValidTopicName, scopeAllows, topicMatches, type Scope } from '../cose/index.js';

export const REFRESH_TOPIC = 'ace/authz-info';
const LEVEL = '[^/+#$][^/+#]*';
const AUTHZ_INFO = new RegExp(`^ace/(${LEVEL})/authz-info$`);
const TRL = new RegExp(`^ace/trl/(${LEVEL})$`);
const TRUST = new RegExp(`^ace/(${LEVEL})/trust$`);

export type PublishRoute =
  | { kind: 'refresh' }
  | { kind: 'authz-info'; device: string }
  | { kind: 'trl'; audience: string }
  | { kind: 'trust'; device: string }
  | { kind: 'scoped' }
  | { kind: 'denied'; reason: string };

export interface Identity {
  scope: Scope;
  clientId: string;
  subject: string | undefined;
}

/** Where a PUBLISH goes, before its payload is looked at. */
export function publishRoute(who: Identity, topic: string): PublishRoute {
  if (!isValidTopicName(topic)) return { kind: 'denied', reason: 'not a valid topic name' };
  if (topic.startsWith('$')) return { kind: 'denied', reason: '$ topics are reserved' };
  if (topic === REFRESH_TOPIC) return { kind: 'refresh' };
  const info = AUTHZ_INFO.exec(topic);
  if (info) return { kind: 'authz-info', device: info[1]! };
  const trl = TRL.exec(topic);
  if (trl) {
    // The level is the audience's safe name (cose/audience-id.ts); a level no audience has is refused.
    const audience = audienceFromSafeName(trl[1]!);
    return audience === undefined ? { kind: 'denied', reason: 'not an audience revocation list topic' } : { kind: 'trl', audience };
  }
  // Whatever the scope says: a retained update is what sleeping devices will read, so only a
  // verified, newer one may take that place (trust-update-relay.ts).
  const trust = TRUST.exec(topic);
  if (trust && trust[1] !== 'trl') {
    const device = audienceFromSafeName(trust[1]!);
    return device === undefined ? { kind: 'denied', reason: 'not a device trust topic' } : { kind: 'trust', device };
  }
  return scopeAllows(who.scope, { action: 'pub', topic }) ? { kind: 'scoped' } : { kind: 'denied', reason: 'outside the token scope' };
}

/** The filters a client holds without its scope naming them. */
export function implicitFilters(who: Pick<Identity, 'clientId' | 'subject'>): string[] {
  const out = ['ace/trl/+'];
  if (who.subject !== undefined && who.subject === who.clientId && isValidTopicFilter(`ace/+/res/${who.clientId}`) && !/[+#/]/.test(who.clientId)) {
    out.push(`ace/+/res/${who.clientId}`);
  }
  return out;
}

/** May this client SUBSCRIBE to `filter`? Every topic it can match must be granted (RFC 9431 §3). */
export function maySubscribe(who: Identity, filter: string): boolean {
  if (!isValidTopicFilter(filter)) return false;
  // MQTT 3.1.1 §4.7.2: wildcards at the first level never match $ topics; a $ filter is explicit.
  if (filter.startsWith('$')) return false;
  if (scopeAllows(who.scope, { action: 'sub', topic: filter })) return true;
  return filtersCover(implicitFilters(who), filter);
}

/** May a message on `topic` be delivered to this client (its scope may have narrowed since it subscribed)? */
export function mayReceive(who: Identity, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  if (who.scope.kind === 'aif-mqtt' && who.scope.entries.some((e) => e.actions.includes('sub') && topicMatches(e.filter, topic))) return true;
  return implicitFilters(who).some((f) => topicMatches(f, topic));
}
