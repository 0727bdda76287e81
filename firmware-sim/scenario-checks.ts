/**
 * The scenario checks of a run, each with a verdict a person can read without knowing the
 * numbers: `pass` (the promise held), `fail` (it did not), `not run` (the run had no such case,
 * e.g. a theft-only fleet has no revocation), `info` (a measurement with no pass line). The
 * reports show the verdict as a mark and a word, never by colour alone.
 */
import { formatNumber, formatPair } from './number-format.js';
import { PHANTOM_MAX_TTL_S } from '../gateway/index.js';
import type { SimReport } from './sim-report.js';

export type Verdict = 'pass' | 'fail' | 'not run' | 'info';

export interface ScenarioCheck {
  name: string;
  /** The measured values, formatted. */
  value: string;
  verdict: Verdict;
  /** What a pass means, for `pass` and `fail`. */
  expect?: string;
}

const judged = (ran: boolean, held: boolean): Verdict => (!ran ? 'not run' : held ? 'pass' : 'fail');

export function scenarioChecks(r: SimReport): ScenarioCheck[] {
  const { theft, revocation: rev, reboots, clockless, connected: c, flash } = r;
  return [
    { name: 'devices authorized', value: formatPair(r.authorizations.succeeded, r.authorizations.attempted), verdict: judged(r.authorizations.attempted > 0, r.authorizations.succeeded > 0), expect: 'at least one; the rest have a reason below' },
    { name: 'theft: tries / accepted', value: formatPair(theft.tries, theft.accepted), verdict: judged(theft.tries > 0, theft.accepted === 0), expect: 'none accepted' },
    ...Object.entries(theft.byAttack).map(([attack, a]) => ({ name: `theft: ${attack}`, value: formatPair(a.tries, a.accepted), verdict: judged(a.tries > 0, a.accepted === 0), expect: 'none accepted' })),
    { name: 'revocation: revoked / applied by sleeping devices', value: formatPair(rev.revoked, rev.devicesApplied), verdict: judged(rev.revoked > 0, rev.devicesApplied === rev.revoked), expect: 'every device applied the list' },
    { name: 'revocation: delay p50 / max', value: `${formatNumber(rev.p50DelayS, 's')} / ${formatNumber(rev.maxDelayS, 's')}`, verdict: 'info' },
    { name: 'revocation: requests after / accepted', value: formatPair(rev.requestsAfter, rev.acceptedAfter), verdict: judged(rev.requestsAfter > 0, rev.acceptedAfter === 0), expect: 'none accepted' },
    { name: 'reboot storm: reboots / requests / served', value: formatPair(reboots.reboots, reboots.requests, reboots.succeeded), verdict: judged(reboots.requests > 0, reboots.succeeded === reboots.requests), expect: 'every request served after a reboot' },
    { name: 'reboot storm: replays across a reboot, refused of tried', value: formatPair(reboots.replaysRefused, reboots.replaysTried), verdict: judged(reboots.replaysTried > 0, reboots.replaysRefused === reboots.replaysTried), expect: 'all refused' },
    { name: 'AEAD nonce reuse (all devices)', value: formatNumber(reboots.nonceReuse), verdict: reboots.nonceReuse === 0 ? 'pass' : 'fail', expect: 'zero' },
    { name: 'flash writes / bytes', value: formatPair(reboots.flashWrites, reboots.flashBytes), verdict: 'info' },
    { name: 'clock-less: refused after exi / reused token refused / renewed', value: formatPair(clockless.expiredRefused, clockless.reusedTokenRefused, clockless.renewed), verdict: judged(clockless.tries > 0, clockless.acceptedAfterExpiry === 0), expect: 'nothing accepted after exi' },
    { name: 'connected: gateway requests / introspections / cache hits', value: formatPair(c.gatewayRequests, c.introspections, c.cacheHits), verdict: 'info' },
    { name: 'connected: reference tokens / cache entries expired / evicted', value: formatPair(c.referenceTokens, c.cacheExpired, c.cacheEvictions), verdict: 'info' },
    {
      name: 'connected: revoked / served from cache after / refused after (max stale)',
      value: `${formatPair(c.revokedTokens, c.servedAfterRevocation, c.revokedRefused)} (${formatNumber(c.maxServedAfterRevocationS, 's')})`,
      verdict: judged(c.revokedTokens > 0, c.revokedRefused === c.revokedTokens && c.maxServedAfterRevocationS <= PHANTOM_MAX_TTL_S),
      expect: `every revoked token refused within the cache TTL (${formatNumber(PHANTOM_MAX_TTL_S, 's')})`,
    },
    { name: 'flash: refused writes / max wear (fraction of endurance)', value: `${formatNumber(flash.refusedWrites)} / ${formatNumber(flash.maxWearFraction)}`, verdict: 'info' },
  ];
}

/** "12 pass, 0 fail, 3 not run": the line a CLI prints. */
export function checksSummary(checks: readonly ScenarioCheck[]): string {
  const n = (v: Verdict) => checks.filter((c) => c.verdict === v).length;
  return `${formatNumber(n('pass'))} pass, ${formatNumber(n('fail'))} fail, ${formatNumber(n('not run'))} not run`;
}
