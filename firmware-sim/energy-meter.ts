/**
 * A device's energy account: seconds of CPU, radio TX and RX and flash programming, turned into
 * joules with the profile's currents (E = V · Σ I·t). Sleep is charged for whatever time is left,
 * at the end of a run. `mark()`/`since()` measure the energy one operation cost.
 */
import type { HardwareProfile } from './hardware-profiles.js';

export class EnergyMeter {
  cpuS = 0;
  txS = 0;
  rxS = 0;
  flashS = 0;
  constructor(readonly hw: HardwareProfile) {}

  cpuCycles(cycles: number): number {
    const s = cycles / this.hw.cpuHz;
    this.cpuS += s;
    return s;
  }

  /** Joules spent awake so far (above the sleep floor). */
  activeJoules(): number {
    const { hw } = this;
    // Flash programming is charged at the CPU's active current: an estimate, not a datasheet
    // figure (the CPU stalls while the flash controller programs, and the charge pump's draw is of
    // the order of a few mA on these parts); replace with the part's flash write current.
    return hw.volts * (hw.cpuA * (this.cpuS + this.flashS) + hw.txA * this.txS + hw.rxA * this.rxS);
  }

  activeSeconds(): number {
    return this.cpuS + this.txS + this.rxS + this.flashS;
  }

  /** Total joules over a run of `totalS` seconds: active work plus sleep for the rest. */
  totalJoules(totalS: number): number {
    return this.activeJoules() + this.hw.volts * this.hw.sleepA * Math.max(0, totalS - this.activeSeconds());
  }

  /** Fraction of the battery a run of `totalS` seconds used. */
  batteryFraction(totalS: number): number {
    const capacityJ = (this.hw.batteryMah / 1000) * 3600 * this.hw.volts;
    return this.totalJoules(totalS) / capacityJ;
  }
}
