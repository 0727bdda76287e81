/**
 * The story of a run, as it happened: the messages of one device per flow (the first device of
 * the connected, disconnected and theft roles), in virtual time, for the demo report's sequence
 * chart. Recorded by the scenarios at the moment each message is sent or answered, never made up
 * afterwards: a refused try shows the refusal code the device (or broker, or gateway) gave.
 *
 * The actors are the design's story (DESIGN.md "The two flows"): a doctor's app reaches an EKG
 * (connected: the gateway introspects its reference token); the EKG, now a client, reaches a test
 * tube that is never online through the relay (disconnected); a thief replays what it overheard.
 */
import type { DevicePlan } from './scenarios.js';

export const FLOW_ACTORS = ['app', 'authz', 'gateway', 'ekg', 'relay', 'tube', 'thief'] as const;
export type FlowActor = (typeof FLOW_ACTORS)[number];
export const FLOWS = ['connected', 'disconnected', 'theft'] as const;
export type FlowName = (typeof FLOWS)[number];

export interface FlowEvent {
  /** Virtual seconds since the start of the run. */
  atS: number;
  flow: FlowName;
  /** The simulated device this flow's client talks to. */
  device: string;
  from: FlowActor;
  to: FlowActor;
  what: string;
  /** `sent`: a request on its way; `ok` / `refused`: an answer, or a try's verdict. */
  outcome: 'sent' | 'ok' | 'refused';
  reason?: string;
}

/** Messages kept per flow: enough for the whole story, few enough for a chart a person reads. */
export const MAX_FLOW_EVENTS = 40;

export interface FlowRecord {
  events: FlowEvent[];
  /** Messages of a flow past MAX_FLOW_EVENTS: counted, not drawn. */
  dropped: Record<FlowName, number>;
}

/** The first device of each storytelling role tells its flow. */
export function storyTellers(plans: readonly Pick<DevicePlan, 'id' | 'role'>[]): Map<string, FlowName> {
  const out = new Map<string, FlowName>();
  for (const flow of FLOWS) {
    const plan = plans.find((p) => p.role === flow);
    if (plan) out.set(plan.id, flow);
  }
  return out;
}

export class FlowTrace {
  private readonly record: FlowRecord = { events: [], dropped: { connected: 0, disconnected: 0, theft: 0 } };

  constructor(
    private readonly tellers: ReadonlyMap<string, FlowName>,
    /** Virtual seconds since the start of the run. */
    private readonly nowS: () => number,
  ) {}

  /** Which flow a device tells, if any: the scenarios skip building labels for the others. */
  flowOf(device: string): FlowName | undefined {
    return this.tellers.get(device);
  }

  note(device: string, ev: Pick<FlowEvent, 'from' | 'to' | 'what' | 'outcome'> & { reason?: string | undefined }): void {
    const flow = this.tellers.get(device);
    if (!flow) return;
    if (this.record.events.filter((e) => e.flow === flow).length >= MAX_FLOW_EVENTS) {
      this.record.dropped[flow]++;
      return;
    }
    const { reason, ...rest } = ev;
    this.record.events.push({ atS: Math.round(this.nowS() * 1000) / 1000, flow, device, ...rest, ...(reason !== undefined ? { reason } : {}) });
  }

  result(): FlowRecord {
    return { events: [...this.record.events], dropped: { ...this.record.dropped } };
  }
}
