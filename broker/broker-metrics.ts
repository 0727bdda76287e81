/**
 * The broker's Prometheus metrics (prom-client: the standard Node client, its text exposition
 * format is what Prometheus scrapes). One registry per broker, never prom-client's global one:
 * two brokers in a process (tests, an embedder) must not add to each other's counters.
 *
 * Labels are bounded sets only: a reason is a registry code (cose/error-codes.ts) or one of
 * PUBLISH_REFUSAL_REASONS, never a client id or a topic (attacker-chosen, unbounded).
 */
import { Counter, Histogram, Registry } from 'prom-client';

/** Why a PUBLISH was dropped (hooks.ts): a closed set, so the label stays bounded. */
export const PUBLISH_REFUSAL_REASONS = ['outside_scope', 'rate_limit', 'message_pop', 'queue_budget', 'relay_size', 'revocation_list_refused', 'trust_update_refused'] as const;
export type PublishRefusalReason = (typeof PUBLISH_REFUSAL_REASONS)[number];

/** Admission takes a signature check or two, a Redis round trip on a cluster: 0.5 ms to 2.5 s. */
const ADMISSION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface BrokerMetrics {
  readonly registry: Registry;
  connectAdmitted(): void;
  connectRefused(code: string): void;
  /** Seconds from the CONNECT's authenticate hook to its decision. */
  admissionSeconds(seconds: number): void;
  publishRefused(reason: PublishRefusalReason): void;
  revocationListApplied(): void;
}

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  const admitted = new Counter({ name: 'keybound_broker_connects_admitted_total', help: 'CONNECTs admitted (token and proof of possession accepted)', registers: [registry] });
  const refused = new Counter({ name: 'keybound_broker_connects_refused_total', help: 'CONNECTs refused, by registry reason code', labelNames: ['reason'], registers: [registry] });
  const latency = new Histogram({ name: 'keybound_broker_connect_admission_seconds', help: 'Time to decide a CONNECT (token, proof, replay store)', buckets: ADMISSION_BUCKETS, registers: [registry] });
  const publishes = new Counter({ name: 'keybound_broker_publishes_refused_total', help: 'PUBLISHes dropped, by reason', labelNames: ['reason'], registers: [registry] });
  const lists = new Counter({ name: 'keybound_broker_revocation_lists_applied_total', help: 'Signed revocation lists accepted and applied', registers: [registry] });
  return {
    registry,
    connectAdmitted: () => admitted.inc(),
    connectRefused: (code) => refused.inc({ reason: code }),
    admissionSeconds: (s) => latency.observe(s),
    publishRefused: (reason) => publishes.inc({ reason }),
    revocationListApplied: () => lists.inc(),
  };
}
