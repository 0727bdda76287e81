/**
 * How far a part's clock drifts over the temperatures it lives in. A 32.768 kHz tuning-fork crystal
 * is within its tolerance only near its 25 °C turnover point; away from it the frequency falls
 * parabolically (Δf/f = β (T - T0)², [FC135]), so an outdoor part sees 70-150 ppm, not 20.
 */
import type { HardwareProfile } from './hardware-profiles.js';
import { fig, type Figure } from './model-sources.js';

export const TEMPERATURE_RANGES = ['indoor', 'outdoor', 'industrial'] as const;
export type TemperatureRange = (typeof TEMPERATURE_RANGES)[number];

export const CRYSTAL_FIGURES: Readonly<Record<'betaPpmPerC2' | 'turnoverC', Figure>> = Object.freeze({
  betaPpmPerC2: fig(0.034, 'FC135', 'frequency/temperature characteristic: -0.034 ppm/°C² typical (-0.04 max)'),
  turnoverC: fig(25, 'FC135', 'turnover temperature 25 °C'),
});

/** The ranges, °C: a heated room, an outdoor enclosure in a temperate climate, the industrial grade. */
export const RANGE_FIGURES: Readonly<Record<TemperatureRange, { minC: Figure; maxC: Figure }>> = Object.freeze({
  indoor: { minC: fig(15, 'EST', 'derived', 'a heated, unairconditioned room'), maxC: fig(35, 'EST', 'derived', 'a heated, unairconditioned room') },
  outdoor: { minC: fig(-20, 'EST', 'derived', 'a temperate-climate outdoor enclosure'), maxC: fig(60, 'EST', 'derived', 'a sunlit enclosure in summer') },
  industrial: { minC: fig(-40, 'AVR', '§28: industrial operating range -40 to 85 °C'), maxC: fig(85, 'AVR', '§28: industrial operating range -40 to 85 °C') },
});

/** Worst-case drift of the part's crystal over a range, ppm: tolerance plus the parabola at the range's far end. */
export function clockDriftPpm(hw: Pick<HardwareProfile, 'crystalPpm'>, range: TemperatureRange): number {
  const { minC, maxC } = RANGE_FIGURES[range];
  const t0 = CRYSTAL_FIGURES.turnoverC.value;
  const far = Math.max(Math.abs(minC.value - t0), Math.abs(maxC.value - t0));
  return hw.crystalPpm + CRYSTAL_FIGURES.betaPpmPerC2.value * far * far;
}
