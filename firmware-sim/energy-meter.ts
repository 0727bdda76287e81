/**
 * A device's energy account: seconds in each state (CPU, flash programming, radio TX and RX, wake
 * start-up, network re-association), turned into joules with the profile's currents at the part's
 * supply voltage (E = V · Σ I·t). Every second the radio is on is charged, not only the bytes on
 * air: backoff, CCA, turnarounds and ACK waits come from radio-link.ts's frame times. Sleep is
 * charged for whatever time is left, at the end of a run.
 */
import { BATTERIES, batteryCurrentA, supplyVolts } from './battery-models.js';
import type { HardwareProfile } from './hardware-profiles.js';
import type { Transmission } from './radio-link.js';

export class EnergyMeter {
  cpuS = 0;
  txS = 0;
  rxS = 0;
  flashS = 0;
  /** Crystal/radio start-up or boot, per wake. */
  startupS = 0;
  /** Re-joining the network after a sleep that dropped the link (Wi-Fi). */
  reassociateS = 0;
  constructor(readonly hw: HardwareProfile) {}

  cpuCycles(cycles: number): number {
    const s = cycles / this.hw.cpuHz;
    this.cpuS += s;
    return s;
  }

  /** A wake from sleep: start-up and, for a part that dropped its link, re-association. Returns the seconds it took. */
  wake(): number {
    this.startupS += this.hw.wakeStartupS;
    this.reassociateS += this.hw.reassociateS;
    return this.hw.wakeStartupS + this.hw.reassociateS;
  }

  /** The device sent `t`: its frames and settling at TX, its backoff, CCA and ACK waits at RX. */
  sent(t: Transmission): void {
    this.txS += t.txS;
    this.rxS += t.ackRxS;
  }

  /** The device received `t`: the frames at RX, its turnarounds and ACKs at TX. */
  received(t: Transmission): void {
    this.rxS += t.rxS;
    this.txS += t.ackTxS;
  }

  /** Seconds and current of each state so far. */
  private states(): Array<[seconds: number, amperes: number]> {
    const { hw } = this;
    return [
      [this.cpuS, hw.cpuA],
      [this.flashS, hw.flashA],
      [this.txS, hw.txA],
      [this.rxS, hw.rxA],
      [this.startupS, hw.wakeStartupA],
      [this.reassociateS, hw.reassociateA],
    ];
  }

  /** Joules spent awake so far (above the sleep floor), at the part. */
  activeJoules(): number {
    return supplyVolts(this.hw) * this.states().reduce((a, [s, i]) => a + s * i, 0);
  }

  activeSeconds(): number {
    return this.states().reduce((a, [s]) => a + s, 0);
  }

  /** Total joules over a run of `totalS` seconds at the part: active work plus sleep for the rest. */
  totalJoules(totalS: number): number {
    return this.activeJoules() + supplyVolts(this.hw) * this.hw.sleepA * Math.max(0, totalS - this.activeSeconds());
  }

  /** Fraction of the battery's rated charge a run of `totalS` seconds drew (through the converter, if any). */
  batteryFraction(totalS: number): number {
    const { hw } = this;
    const drawn = this.states().reduce((a, [s, i]) => a + s * batteryCurrentA(hw, i), 0) + batteryCurrentA(hw, hw.sleepA) * Math.max(0, totalS - this.activeSeconds());
    return drawn / ((BATTERIES[hw.battery].capacityMah.value / 1000) * 3600);
  }
}
