/**
 * What a run measured, collected as it happens and summarised into the report. Everything here is
 * a function of the run's events only (never of wall time), so a seed reproduces it exactly.
 */
export interface AuthorizationRecord {
  profile: string;
  tokenType: string;
  energyJ: number;
  tokenBytes: number;
  jwtBytes: number;
  airBytesCwt: number;
  airBytesJwt: number;
  timeToFirstS: number;
}

/** A device whose first authorization failed, and why (the device's refusal code, or the client's). */
export interface UnauthorizedRecord {
  profile: string;
  role: string;
  tokenType: string;
  reason: string;
}

export class SimMetrics {
  readonly authorizations: AuthorizationRecord[] = [];
  readonly unauthorized: UnauthorizedRecord[] = [];
  attempted = 0;
  readonly refusals = new Map<string, number>();
  readonly theft = { tries: 0, accepted: 0, byAttack: new Map<string, { tries: number; accepted: number }>() };
  readonly revocation = { revoked: 0, applied: 0, delaysS: [] as number[], requestsAfter: 0, acceptedAfter: 0 };
  readonly reboots = { reboots: 0, requests: 0, succeeded: 0, replaysRefused: 0, replaysTried: 0 };
  readonly clockless = { expiredRefused: 0, reusedTokenRefused: 0, renewed: 0, tries: 0, acceptedAfterExpiry: 0 };
  /** The connected flow at the gateway; cache hits and introspections are read from its cache. */
  readonly connected = { gatewayRequests: 0, referenceTokens: 0, revokedTokens: 0, servedAfterRevocation: 0, maxServedAfterRevocationS: 0, revokedRefused: 0 };

  refuse(reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /**
   * Adds another shard's measurements (a structured clone: plain data, no methods). Records are
   * appended and maps merged in the order shards are absorbed: the caller absorbs them by shard
   * index, so the merged lists (and every mean or quantile of them) do not depend on which worker
   * ran which shard.
   */
  absorb(o: MetricsData): void {
    for (const a of o.authorizations) this.authorizations.push(a);
    for (const u of o.unauthorized) this.unauthorized.push(u);
    this.attempted += o.attempted;
    for (const [k, v] of o.refusals) this.refusals.set(k, (this.refusals.get(k) ?? 0) + v);
    this.theft.tries += o.theft.tries;
    this.theft.accepted += o.theft.accepted;
    for (const [k, v] of o.theft.byAttack) {
      const a = this.theft.byAttack.get(k) ?? { tries: 0, accepted: 0 };
      this.theft.byAttack.set(k, { tries: a.tries + v.tries, accepted: a.accepted + v.accepted });
    }
    const { delaysS, ...revocation } = o.revocation;
    addCounts(this.revocation, revocation);
    for (const d of delaysS) this.revocation.delaysS.push(d);
    addCounts(this.reboots, o.reboots);
    addCounts(this.clockless, o.clockless);
    const { maxServedAfterRevocationS, ...connected } = o.connected;
    addCounts(this.connected, connected);
    this.connected.maxServedAfterRevocationS = Math.max(this.connected.maxServedAfterRevocationS, maxServedAfterRevocationS);
  }

  theftTry(attack: string, accepted: boolean, reason?: string): void {
    this.theft.tries++;
    if (accepted) this.theft.accepted++;
    const a = this.theft.byAttack.get(attack) ?? { tries: 0, accepted: 0 };
    a.tries++;
    if (accepted) a.accepted++;
    this.theft.byAttack.set(attack, a);
    if (!accepted && reason) this.refuse(reason);
  }
}

/** What a SimMetrics holds, without its methods: what crosses from a worker thread. */
export type MetricsData = Pick<SimMetrics, 'authorizations' | 'unauthorized' | 'attempted' | 'refusals' | 'theft' | 'revocation' | 'reboots' | 'clockless' | 'connected'>;

function addCounts<T extends Record<string, number>>(into: T, from: T): void {
  for (const k of Object.keys(from) as Array<keyof T>) (into[k] as number) += from[k] as number;
}

/** Rounds for the report: stable text, no float noise. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
