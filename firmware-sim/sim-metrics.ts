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

/** Rounds for the report: stable text, no float noise. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
