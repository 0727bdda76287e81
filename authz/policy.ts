/**
 * Who may have which token: audiences a client may target (else invalid_target, RFC 8707 §2),
 * scopes it may hold there (else invalid_scope, RFC 6749 §5.2), and which audiences a subject
 * token may be exchanged into (RFC 8693 §2.2.2). A request is never silently narrowed: only an
 * audience whose policy says `narrow` gets the allowed subset, and the response names it.
 *
 * Scopes come in three forms (scope-forms.ts). A registration's scope list holds text scope
 * tokens and at most one AIF grant of each kind (AIF-REST for a device, AIF-MQTT for a broker).
 * What a client may have at an audience is what both grant: the common text tokens, and for AIF
 * the requested entries that both the audience's and the client's grant cover.
 */
import { narrowScope, scopeToCbor, type Scope } from '../cose/index.js';
import { invalidScope, invalidTarget, unauthorizedClient } from './errors.js';
import { canonicalAifGrant, isAifJsonText } from './scope-forms.js';
import type { AudienceRecord, AuthzStore, ClientRecord, GrantType } from './store.js';

type AifKind = 'aif-rest' | 'aif-mqtt';

/** A registration's scope list, parsed. */
export interface Grants {
  text: string[];
  aif: Partial<Record<AifKind, Scope>>;
}

/** Parses a registered scope list (text tokens and JSON AIF grants); see registry.ts for the rules. */
export function grantsOf(scopes: readonly string[]): Grants {
  const out: Grants = { text: [], aif: {} };
  for (const s of scopes) {
    if (isAifJsonText(s)) {
      const { scope } = canonicalAifGrant(s);
      const kind = scope.kind as AifKind;
      // One grant per kind, so that "what this registration allows" has one answer.
      if (out.aif[kind]) throw invalidScope(`more than one ${kind} grant in one registration`);
      out.aif[kind] = scope;
    } else out.text.push(s);
  }
  return out;
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

function same(a: Scope, b: Scope): boolean {
  // narrowScope keeps the requested order of entries and methods, so equal grants encode equally.
  return JSON.stringify(scopeToCbor(a)) === JSON.stringify(scopeToCbor(b));
}

function isEmpty(s: Scope): boolean {
  return s.kind === 'text' ? s.tokens.length === 0 : s.entries.length === 0;
}

/** The part of `requested` inside every one of `limits` (null when nothing is, or a limit is missing). */
function within(requested: Scope, limits: Array<Scope | undefined>): Scope | null {
  let out: Scope | null = requested;
  for (const limit of limits) {
    if (!out || !limit) return null;
    out = narrowScope(out, limit);
  }
  return out;
}

/**
 * An AIF-MQTT filter may be narrower on either side: the audience's entries the client's grant
 * covers (`both`) miss a client's `sensors/a/#` inside the audience's `sensors/#`. Those are
 * added: each is inside both grants, so the default is still no more than their intersection.
 */
function withNarrowerFilters(both: Scope | null, client: Scope | undefined, audience: Scope | undefined): Scope | null {
  const fromClient = client && audience ? narrowScope(client, audience) : null;
  if (!fromClient || fromClient.kind !== 'aif-mqtt') return both;
  if (!both || both.kind !== 'aif-mqtt') return fromClient;
  const key = (e: { filter: string; actions: readonly string[] }) => JSON.stringify([e.filter, e.actions]);
  const seen = new Set(both.entries.map(key));
  return { kind: 'aif-mqtt', entries: [...both.entries, ...fromClient.entries.filter((e) => !seen.has(key(e)))] };
}

/**
 * The scope to grant: requested ∩ client ∩ audience, per the audience's narrowing policy.
 * Without a request, the pre-defined default (RFC 6749 §3.3): everything this client may have
 * here, in the audience's AIF form when it has one (devices and brokers read AIF), else as text.
 */
export function decideScope(requested: Scope | undefined, client: ClientRecord, audience: AudienceRecord): Scope {
  const c = grantsOf(client.scopes);
  const a = grantsOf(audience.policy.scopes);
  if (requested === undefined) {
    for (const kind of ['aif-rest', 'aif-mqtt'] as const) {
      const both = within(a.aif[kind] ?? { kind, entries: [] }, [c.aif[kind]]);
      const all = kind === 'aif-mqtt' ? withNarrowerFilters(both, c.aif[kind], a.aif[kind]) : both;
      if (all && !isEmpty(all)) return all;
    }
    const tokens = c.text.filter((t) => a.text.includes(t));
    if (tokens.length === 0) throw invalidScope('no scope is allowed for this client at this audience');
    return { kind: 'text', tokens };
  }
  if (isEmpty(requested)) throw invalidScope('empty scope');
  const limits = requested.kind === 'text'
    ? [{ kind: 'text', tokens: c.text } as Scope, { kind: 'text', tokens: a.text } as Scope]
    : [a.aif[requested.kind], c.aif[requested.kind]];
  const granted = within(requested, limits);
  if (granted && same(granted, requested)) return requested;
  if (audience.policy.narrow && granted) return granted;
  throw invalidScope('the requested scope exceeds what this client may have');
}

/**
 * The scope of a token exchanged from a subject token (RFC 8693 §2.1): what decideScope allows at
 * the new audience, and never more than the subject token carried, so an exchange never widens.
 * - No scope asked: the subject token's scope, narrowed to what this client may have here.
 * - A scope inside the subject token's: decided as any request (decideScope).
 * - A scope beyond it: the audience's narrowing policy decides, as for any too-wide request:
 *   narrow to the part inside (and say so in `scope`, RFC 6749 §5.1) or refuse with invalid_scope
 *   (RFC 8693 §2.2.2 uses RFC 6749 §5.2's errors).
 * Scopes of different kinds (text, AIF-REST, AIF-MQTT) share nothing: their intersection is empty.
 */
export function decideExchangeScope(requested: Scope | undefined, subject: Scope, client: ClientRecord, audience: AudienceRecord): Scope {
  const narrowing = { ...audience, policy: { ...audience.policy, narrow: true } };
  let out: Scope;
  if (requested === undefined) out = decideScope(subject, client, narrowing);
  else {
    if (isEmpty(requested)) throw invalidScope('empty scope');
    const inside = within(requested, [subject]);
    if (inside && same(inside, requested)) out = decideScope(requested, client, audience);
    else if (inside && audience.policy.narrow) out = decideScope(inside, client, narrowing);
    else throw invalidScope('the requested scope exceeds the subject token\'s scope');
  }
  // narrowScope only ever removes; checked again so that a future policy cannot widen silently.
  if (!isInside(out, subject)) throw invalidScope('the requested scope exceeds the subject token\'s scope');
  return out;
}

function isInside(requested: Scope, original: Scope): boolean {
  const granted = isEmpty(requested) ? null : narrowScope(requested, original);
  return granted !== null && same(granted, requested);
}

/** RFC 6749 §6: a refreshed token may have the same or a narrower scope than the grant, never a wider one. */
export function assertWithin(requested: Scope, original: Scope): void {
  if (!isInside(requested, original)) throw invalidScope('refresh may not widen the scope');
}

/** RFC 8693: a token for `from` may become a token for `to` only if `to`'s policy names `from`. */
export function assertExchangeAllowed(from: string, to: AudienceRecord): void {
  if (!to.policy.exchangeFrom.includes(from)) throw invalidTarget('tokens for the subject token\'s audience cannot be exchanged for this audience');
}
