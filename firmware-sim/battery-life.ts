/**
 * Expected battery life of a duty-cycled part, from the same models the simulation charges: each
 * wake pays start-up (and Wi-Fi re-association), one poll frame exchange with all its fixed radio
 * time, the CPU to handle the answer and the listen window at RX current; sleep fills the rest of
 * the interval. The battery side adds the converter's losses, cut-off at the part's (or the
 * converter's) minimum voltage, pulse derating at the wake's peak draw and self-discharge.
 * Traffic beyond the idle poll (authorizations, requests) is not included: the report gives its
 * measured energy separately.
 */
import { BATTERIES, batteryCurrentA, cutoff, pulseDerating, shareAboveVolts } from './battery-models.js';
import type { HardwareProfile } from './hardware-profiles.js';
import { POLL_BYTES, RADIO_LINKS, frameMessage, frameTimes } from './radio-link.js';

export interface DutyCycle {
  /** Seconds between wakes. */
  wakeIntervalS: number;
  /** Seconds the receiver stays on after each wake, listening for late arrivals. */
  listenWindowS: number;
}

export interface WakeCost {
  /** Seconds awake per wake. */
  seconds: number;
  /** Ampere-seconds at the part per wake. */
  partAs: number;
  /** Ampere-seconds from the battery per wake (through the converter, if any). */
  batteryAs: number;
  /** The highest current of the wake, at the battery. */
  peakBatteryA: number;
}

export function wakeCost(hw: HardwareProfile, duty: DutyCycle): WakeCost {
  const link = RADIO_LINKS[hw.radio];
  const poll = frameTimes(link, frameMessage(link, POLL_BYTES).airBytes);
  const states: Array<[seconds: number, amperes: number]> = [
    [hw.wakeStartupS, hw.wakeStartupA],
    [hw.reassociateS, hw.reassociateA],
    [poll.senderTxS, hw.txA],
    [poll.senderRxS, hw.rxA],
    [hw.cycles.messageOverhead / hw.cpuHz, hw.cpuA],
    [duty.listenWindowS, hw.rxA],
  ];
  const on = states.filter(([s]) => s > 0);
  return {
    seconds: on.reduce((a, [s]) => a + s, 0),
    partAs: on.reduce((a, [s, i]) => a + s * i, 0),
    batteryAs: on.reduce((a, [s, i]) => a + s * batteryCurrentA(hw, i), 0),
    peakBatteryA: Math.max(...on.map(([, i]) => batteryCurrentA(hw, i))),
  };
}

export interface BatteryLife {
  battery: string;
  /** 'direct' or the converter's output voltage. */
  supply: string;
  cutoffV: number;
  limitedBy: string;
  /** Mean current from the battery, amperes. */
  averageA: number;
  peakA: number;
  /** The peak is above the battery's rated maximum continuous current. */
  aboveRating: boolean;
  /** Share of the rated capacity left after cut-off and derating. */
  usableShare: number;
  usableMah: number;
  days: number;
}

const YEAR_S = 365.25 * 86400;

export function batteryLife(hw: HardwareProfile, duty: DutyCycle): BatteryLife {
  if (!(duty.wakeIntervalS > 0) || !(duty.listenWindowS >= 0)) throw new RangeError('wake interval must be > 0 and the listen window >= 0');
  const b = BATTERIES[hw.battery];
  const w = wakeCost(hw, duty);
  const sleepS = Math.max(0, duty.wakeIntervalS - w.seconds);
  const averageA = (w.batteryAs + batteryCurrentA(hw, hw.sleepA) * sleepS) / Math.max(duty.wakeIntervalS, w.seconds);
  const cut = cutoff(hw);
  const usableShare = shareAboveVolts(b, cut.volts) * pulseDerating(b, w.peakBatteryA);
  const ratedAs = (b.capacityMah.value / 1000) * 3600;
  const selfA = (ratedAs * b.selfDischargePerYear.value) / YEAR_S;
  return {
    battery: b.label,
    supply: hw.boostToV === undefined ? 'direct' : `boost to ${hw.boostToV} V`,
    cutoffV: cut.volts,
    limitedBy: cut.limitedBy,
    averageA,
    peakA: w.peakBatteryA,
    aboveRating: w.peakBatteryA > b.maxContinuousA.value,
    usableShare,
    usableMah: b.capacityMah.value * usableShare,
    days: (ratedAs * usableShare) / (averageA + selfA) / 86400,
  };
}
