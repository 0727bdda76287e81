/**
 * Every Figure the models of a set of parts use, by path: the parts' own tables, their radio
 * links, batteries and converter, and the crystal's temperature model. The report lists the
 * sources of these; the source test walks them all.
 */
import { BATTERIES, BOOST_CONVERTER, batteryFigures } from './battery-models.js';
import { CRYSTAL_FIGURES, RANGE_FIGURES, TEMPERATURE_RANGES, type TemperatureRange } from './clock-drift.js';
import { HARDWARE_PROFILES, type HardwareProfile } from './hardware-profiles.js';
import { sourcesOf, type Figure, type SourceId } from './model-sources.js';
import { RADIO_LINKS } from './radio-link.js';

export function modelFigures(parts: readonly HardwareProfile[] = Object.values(HARDWARE_PROFILES), ranges: readonly TemperatureRange[] = TEMPERATURE_RANGES): Array<[path: string, figure: Figure]> {
  const out: Array<[string, Figure]> = [];
  const radios = new Set(parts.map((p) => p.radio));
  const batteries = new Set(parts.map((p) => p.battery));
  for (const p of parts) for (const [k, f] of Object.entries(p.figures)) out.push([`${p.name}.${k}`, f]);
  for (const r of radios) for (const [k, f] of Object.entries(RADIO_LINKS[r].figures)) out.push([`radio.${r}.${k}`, f]);
  for (const b of batteries) batteryFigures(BATTERIES[b]).forEach((f, i) => out.push([`battery.${b}.${i}`, f]));
  if (parts.some((p) => p.boostToV !== undefined)) {
    for (const [k, v] of Object.entries(BOOST_CONVERTER)) if (typeof v === 'object') out.push([`boost.${k}`, v]);
  }
  for (const [k, f] of Object.entries(CRYSTAL_FIGURES)) out.push([`crystal.${k}`, f]);
  for (const r of ranges) for (const [k, f] of Object.entries(RANGE_FIGURES[r])) out.push([`temperature.${r}.${k}`, f]);
  return out;
}

/** What the metered provider counts operations by (metered-provider.ts), cited with every run. */
const OPERATION_SOURCES: readonly SourceId[] = ['RFC8032', 'FIPS180', 'SP80090A'];

export function modelSources(parts: readonly HardwareProfile[], range: TemperatureRange): Array<{ id: SourceId; document: string }> {
  const cited = modelFigures(parts, [range]).map(([, f]) => f);
  return sourcesOf([...cited, ...OPERATION_SOURCES.map((source) => ({ value: 0, source, where: 'operation counts' }))]);
}
