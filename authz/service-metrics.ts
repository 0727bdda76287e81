/**
 * The service's Prometheus metrics (prom-client: the standard Node client and its text
 * exposition format). One registry per server, never prom-client's global one, so that two
 * servers in one process (tests, an embedder) keep their own counts.
 *
 * Labels are bounded: a grant is one of the grants the service implements, an audience one it
 * registered, a reason a registry code (cose/error-codes.ts). Nothing a client chooses freely.
 */
import { Counter, Histogram, Registry } from 'prom-client';

/** /token answers in about a millisecond, up to scrypt (~50 ms) and a busy SQLite: 1 ms to 2.5 s. */
const TOKEN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface ServiceMetrics {
  readonly registry: Registry;
  issued(grant: string, audience: string): void;
  refused(endpoint: string, code: string): void;
  revoked(audience: string): void;
  tokenSeconds(seconds: number): void;
}

/** The grant's short name for a label: the two URN grants by their last word. */
export function grantLabel(grant: string): string {
  if (grant.endsWith(':token-exchange')) return 'token_exchange';
  if (grant.endsWith(':device_code')) return 'device_code';
  return grant;
}

export function createServiceMetrics(): ServiceMetrics {
  const registry = new Registry();
  const issued = new Counter({ name: 'keybound_authz_tokens_issued_total', help: 'Access tokens issued, by grant and audience', labelNames: ['grant', 'audience'], registers: [registry] });
  const refused = new Counter({ name: 'keybound_authz_requests_refused_total', help: 'OAuth endpoint requests refused, by endpoint and registry reason code', labelNames: ['endpoint', 'reason'], registers: [registry] });
  const revoked = new Counter({ name: 'keybound_authz_revocations_total', help: 'Revocations that changed an audience revocation list, by audience', labelNames: ['audience'], registers: [registry] });
  const latency = new Histogram({ name: 'keybound_authz_token_request_seconds', help: 'Time to answer a /token request', buckets: TOKEN_BUCKETS, registers: [registry] });
  return {
    registry,
    issued: (grant, audience) => issued.inc({ grant: grantLabel(grant), audience }),
    refused: (endpoint, code) => refused.inc({ endpoint, reason: code }),
    revoked: (audience) => revoked.inc({ audience }),
    tokenSeconds: (s) => latency.observe(s),
  };
}
