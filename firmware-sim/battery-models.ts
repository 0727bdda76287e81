/**
 * Batteries and the supply between them and the part. A battery is not an ideal charge counter:
 * it delivers its rated capacity only at its rated drain and down to its rated end voltage. Pulses
 * above the rated drain cut the usable capacity (derating); a part that stops above the battery's
 * end voltage (an ATmega328P at 8 MHz needs 2.7 V) leaves the rest unused (cut-off); and the cell
 * loses charge on the shelf (self-discharge). 2xAA cannot feed a 3.3 V part directly (a fresh pair
 * is ~3.2 V, a spent one 1.6 V): such a part runs from a boost converter, whose efficiency is
 * charged.
 */
import type { BatteryName, HardwareProfile } from './hardware-profiles.js';
import { est, fig, type Figure } from './model-sources.js';

export interface BatteryModel {
  name: BatteryName;
  label: string;
  nominalV: Figure;
  /** Rated capacity at the rated (standard) drain, down to endV. */
  capacityMah: Figure;
  endV: Figure;
  /** The drain the capacity is rated at, and the largest continuous drain the maker allows. */
  standardA: Figure;
  maxContinuousA: Figure;
  selfDischargePerYear: Figure;
  /** Pack voltage as the rated capacity is used up (light load): fraction delivered -> volts. */
  curve: ReadonlyArray<{ fraction: Figure; volts: Figure }>;
  /** Share of the rated capacity delivered when the peak draw is `peakA` (pulse/rate derating). */
  derating: ReadonlyArray<{ peakA: Figure; share: Figure }>;
}

const CURVE_CR = 'read approx. from the maker\'s 15 kΩ (~0.19 mA) discharge curve: flat near 2.9 V, a knee past ~85 %';
const CURVE_AA = 'read approx. from the E91 discharge curves at light drain, two cells in series';
const DERATE_CR = 'shape estimated from SWRA349\'s pulse tests and the maker\'s pulse-discharge curves: the cell reaches cut-off early under pulses above its 0.2 mA standard drain';
const DERATE_AA = 'read approx. from the E91 capacity-vs-continuous-drain figure (to 0.8 V per cell)';
const pt = (fraction: number, volts: number, why: string) => ({ fraction: est(fraction, why, 'CR2032'), volts: est(volts, why, 'CR2032') });
const ptAA = (fraction: number, volts: number) => ({ fraction: est(fraction, CURVE_AA, 'E91'), volts: est(volts, CURVE_AA, 'E91') });

export const BATTERIES: Readonly<Record<BatteryName, BatteryModel>> = Object.freeze({
  cr2032: {
    name: 'cr2032',
    label: 'CR2032 lithium coin cell',
    nominalV: fig(3.0, 'CR2032', 'nominal voltage 3 V'),
    capacityMah: fig(225, 'CR2032', 'Panasonic: nominal capacity 225 mAh (standard discharge to 2.0 V)'),
    endV: fig(2.0, 'CR2032', 'end voltage of the rated capacity: 2.0 V'),
    standardA: fig(0.2e-3, 'CR2032', 'Panasonic: standard discharge current 0.2 mA'),
    maxContinuousA: fig(3e-3, 'CR2032', 'Panasonic: maximum continuous discharge current 3 mA'),
    selfDischargePerYear: est(0.01, 'lithium-manganese coin cells lose ~1 %/year at 20 °C (the makers\' 10-year shelf-life claims)', 'CR2032'),
    curve: [pt(0, 3.0, CURVE_CR), pt(0.5, 2.9, CURVE_CR), pt(0.8, 2.8, CURVE_CR), pt(0.9, 2.65, CURVE_CR), pt(0.95, 2.5, CURVE_CR), pt(1, 2.0, CURVE_CR)],
    derating: [
      { peakA: fig(0.2e-3, 'CR2032', 'standard discharge current'), share: fig(1, 'CR2032', 'rated capacity at the standard drain') },
      { peakA: fig(3e-3, 'CR2032', 'maximum continuous current'), share: est(0.85, DERATE_CR, 'SWRA349') },
      { peakA: est(10e-3, DERATE_CR, 'SWRA349'), share: est(0.6, DERATE_CR, 'SWRA349') },
      { peakA: est(25e-3, DERATE_CR, 'SWRA349'), share: est(0.4, DERATE_CR, 'SWRA349') },
    ],
  },
  '2xAA': {
    name: '2xAA',
    label: '2x AA alkaline in series',
    nominalV: fig(3.0, 'E91', '1.5 V per cell, two in series'),
    capacityMah: fig(2500, 'E91', 'capacity-vs-drain figure: ~2 500 mAh at light to moderate drain to 0.8 V per cell (approx.)'),
    endV: fig(1.6, 'E91', 'rated to 0.8 V per cell'),
    standardA: est(25e-3, DERATE_AA, 'E91'),
    maxContinuousA: est(1, 'alkaline AA cells are specified to ~1 A continuous; capacity falls steeply well before', 'E91'),
    selfDischargePerYear: est(0.02, 'alkaline cells keep ~80 % after 10 years of storage (E91 shelf-life claim): ~2 %/year', 'E91'),
    curve: [ptAA(0, 3.2), ptAA(0.2, 2.7), ptAA(0.5, 2.45), ptAA(0.75, 2.25), ptAA(0.9, 2.05), ptAA(1, 1.6)],
    derating: [
      { peakA: est(25e-3, DERATE_AA, 'E91'), share: fig(1, 'E91', 'rated capacity') },
      { peakA: est(100e-3, DERATE_AA, 'E91'), share: est(0.9, DERATE_AA, 'E91') },
      { peakA: est(250e-3, DERATE_AA, 'E91'), share: est(0.75, DERATE_AA, 'E91') },
      { peakA: est(500e-3, DERATE_AA, 'E91'), share: est(0.55, DERATE_AA, 'E91') },
    ],
  },
});

/** The boost converter a part above the battery's voltage runs from. */
export const BOOST_CONVERTER = Object.freeze({
  part: 'TI TPS61099 synchronous boost, 3.3 V out',
  minInputV: fig(0.7, 'TPS61099', 'input voltage range 0.7-5.5 V (after start-up)'),
  quiescentA: fig(1e-6, 'TPS61099', 'quiescent current ~1 µA'),
  /** Efficiency at light load (sleep, µA) and at radio load (mA to hundreds of mA). */
  lightEfficiency: est(0.75, 'read approx. from the efficiency-vs-load curves at ~10 µA out, VIN 2.4 V, VOUT 3.3 V', 'TPS61099'),
  heavyEfficiency: est(0.88, 'read approx. from the efficiency-vs-load curves at 10-300 mA out, VIN 2.4 V, VOUT 3.3 V', 'TPS61099'),
});

/** Below this part current the converter is at its light-load efficiency. */
const LIGHT_LOAD_A = 1e-3;

export function batteryOf(hw: Pick<HardwareProfile, 'battery'>): BatteryModel {
  return BATTERIES[hw.battery];
}

/** The voltage the part runs at: the converter's output, or the battery's nominal voltage. */
export function supplyVolts(hw: Pick<HardwareProfile, 'battery' | 'boostToV'>): number {
  return hw.boostToV ?? BATTERIES[hw.battery].nominalV.value;
}

/**
 * Current drawn from the battery when the part draws `partA`: the same, or through the converter
 * (P_out / (V_battery · η) plus its quiescent current).
 */
export function batteryCurrentA(hw: Pick<HardwareProfile, 'battery' | 'boostToV'>, partA: number): number {
  if (hw.boostToV === undefined) return partA;
  const eff = partA < LIGHT_LOAD_A ? BOOST_CONVERTER.lightEfficiency.value : BOOST_CONVERTER.heavyEfficiency.value;
  return (partA * hw.boostToV) / (BATTERIES[hw.battery].nominalV.value * eff) + BOOST_CONVERTER.quiescentA.value;
}

function interpolate(points: ReadonlyArray<readonly [number, number]>, x: number): number {
  if (x <= points[0]![0]) return points[0]![1];
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i]!;
    const [x0, y0] = points[i - 1]!;
    if (x <= x1) return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
  }
  return points.at(-1)![1];
}

/** Where the battery's life ends for this part, and why: its own end voltage, the part's minimum, or the converter's. */
export function cutoff(hw: Pick<HardwareProfile, 'battery' | 'boostToV' | 'minSupplyV'>): { volts: number; limitedBy: string } {
  const b = BATTERIES[hw.battery];
  // A part that stops before half the battery is used needs a converter (3.3 V parts on 2xAA).
  if (hw.boostToV === undefined && shareAboveVolts(b, hw.minSupplyV) < 0.5) {
    throw new RangeError(`a part needing ${hw.minSupplyV} V cannot run from a ${b.label} without a boost converter`);
  }
  const partMin = hw.boostToV === undefined ? hw.minSupplyV : BOOST_CONVERTER.minInputV.value;
  return partMin > b.endV.value
    ? { volts: partMin, limitedBy: hw.boostToV === undefined ? `part minimum ${partMin} V` : `converter minimum ${partMin} V` }
    : { volts: b.endV.value, limitedBy: `battery end voltage ${b.endV.value} V` };
}

/** Share of the rated capacity delivered before the voltage falls to `volts` (light load). */
export function shareAboveVolts(battery: BatteryModel, volts: number): number {
  const pts = battery.curve.map((p) => [p.volts.value, p.fraction.value] as const).reverse();
  return Math.min(1, Math.max(0, interpolate(pts, volts)));
}

/** Share of the rated capacity delivered when the battery's peak draw is `peakA`. */
export function pulseDerating(battery: BatteryModel, peakA: number): number {
  return interpolate(battery.derating.map((d) => [d.peakA.value, d.share.value] as const), peakA);
}

/** The battery's figures, for the test that walks every table. */
export function batteryFigures(b: BatteryModel): Figure[] {
  return [b.nominalV, b.capacityMah, b.endV, b.standardA, b.maxContinuousA, b.selfDischargePerYear, ...b.curve.flatMap((p) => [p.fraction, p.volts]), ...b.derating.flatMap((d) => [d.peakA, d.share])];
}
