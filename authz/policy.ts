/**
 * Who may have which token: audiences a client may target (else invalid_target, RFC 8707 §2),
 * scopes it may hold there (else invalid_scope, RFC 6749 §5.2), and which audiences a subject
 * token may be exchanged into (RFC 8693 §2.2.2). A request is never silently narrowed: only an
 * audience whose policy says `narrow` gets the allowed subset, and the response names it.
 */
import { invalidScope, invalidTarget, unauthorizedClient } from './errors.js';
import type { AudienceRecord, AuthzStore, ClientRecord, GrantType } from './store.js';

/** RFC 6749 §3.3 scope-token characters; anything else is refused rather than stored. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
const MAX_SCOPE_TOKENS = 32;

export function splitScope(scope: string): string[] {
  const tokens = scope.split(' ').filter((t) => t !== '');
  if (tokens.length > MAX_SCOPE_TOKENS) throw invalidScope('too many scope tokens');
  for (const t of tokens) if (!SCOPE_TOKEN.test(t)) throw invalidScope('a scope token has characters RFC 6749 §3.3 does not allow');
  return [...new Set(tokens)];
}

export function assertGrantAllowed(client: ClientRecord, grant: GrantType): void {
  if (!client.grantTypes.includes(grant)) throw unauthorizedClient(`client may not use ${grant}`);
}

export async function resolveAudience(store: AuthzStore, client: ClientRecord, requested: string | undefined): Promise<AudienceRecord> {
  // RFC 9200 §5.8.1: audience may be omitted when the client has exactly one.
  const id = requested ?? (client.audiences.length === 1 ? client.audiences[0] : undefined);
  if (!id) throw invalidTarget('audience is required: this client may reach several');
  if (!client.audiences.includes(id)) throw invalidTarget('this client may not have tokens for that audience');
  const audience = await store.getAudience(id);
  if (!audience) throw invalidTarget('unknown audience');
  return audience;
}

/** The scope to grant, as text: requested ∩ (client ∩ audience), per the audience's narrowing policy. */
export function decideScope(requested: string | undefined, client: ClientRecord, audience: AudienceRecord): string {
  const allowed = client.scopes.filter((s) => audience.policy.scopes.includes(s));
  if (requested === undefined) {
    // RFC 6749 §3.3: without a scope, the pre-defined default: everything this client may have here.
    if (allowed.length === 0) throw invalidScope('no scope is allowed for this client at this audience');
    return allowed.join(' ');
  }
  const asked = splitScope(requested);
  if (asked.length === 0) throw invalidScope('empty scope');
  const granted = asked.filter((s) => allowed.includes(s));
  if (granted.length === asked.length) return granted.join(' ');
  if (audience.policy.narrow && granted.length > 0) return granted.join(' ');
  throw invalidScope('the requested scope exceeds what this client may have');
}

/** RFC 8693: a token for `from` may become a token for `to` only if `to`'s policy names `from`. */
export function assertExchangeAllowed(from: string, to: AudienceRecord): void {
  if (!to.policy.exchangeFrom.includes(from)) throw invalidTarget('tokens for the subject token\'s audience cannot be exchanged for this audience');
}
