/**
 * What the report needs of each device once its shard has finished, kept as one row of numbers
 * (16 float64s, 128 bytes) instead of the device itself (its runtime, flash image, crypto
 * context: ~100 KB). A shard records its devices here and drops them; the report reads the rows
 * back through the same shape a live SimDevice has, so one report builder serves both.
 *
 * The energy account is kept as its state seconds and rebuilt on demand: the battery drawn
 * depends on the whole run's length, known only when every shard is done.
 */
import { EnergyMeter } from './energy-meter.js';
import type { FlashStorage } from './flash-storage.js';
import type { HardwareProfile } from './hardware-profiles.js';

/** The figures of one device that the report reads: a SimDevice has this shape. */
export interface DeviceFigures {
  readonly meter: Pick<EnergyMeter, 'activeJoules' | 'batteryFraction'>;
  readonly flash: Pick<FlashStorage, 'writes' | 'bytesWritten' | 'refusedWrites' | 'eraseCyclesPerPage' | 'wearFraction' | 'regionBytes'>;
  readonly provider: { readonly nonceReuse: number; readonly counts: { readonly verify: number; readonly aead: number } };
  readonly quickjsPeakHeapBytes: number;
}

const METER_STATES = ['cpuS', 'txS', 'rxS', 'flashS', 'startupS', 'reassociateS'] as const;
/** The meter's states, then flash (6), nonce reuse, verifies, AEAD operations, QuickJS peak heap. */
const COLUMNS = METER_STATES.length + 10;

/** Rows of device figures, by device index within a shard (or the whole fleet, once merged). */
export class DeviceFigureTable {
  readonly rows: Float64Array;

  constructor(
    readonly count: number,
    rows?: Float64Array,
  ) {
    if (rows && rows.length !== count * COLUMNS) throw new RangeError(`a table of ${count} devices has ${count * COLUMNS} numbers, got ${rows.length}`);
    this.rows = rows ?? new Float64Array(count * COLUMNS);
  }

  /** A table over rows another thread filled (a worker's shard). */
  static fromRows(rows: Float64Array): DeviceFigureTable {
    if (rows.length % COLUMNS !== 0) throw new RangeError(`device figure rows come in ${COLUMNS} numbers, got ${rows.length}`);
    return new DeviceFigureTable(rows.length / COLUMNS, rows);
  }

  /** Keeps what the report needs of `dev` (after its last event) as row `i`. */
  record(i: number, dev: DeviceFigures & { meter: EnergyMeter }): void {
    const r = this.rows;
    let o = i * COLUMNS;
    for (const s of METER_STATES) r[o++] = dev.meter[s];
    r[o++] = dev.flash.writes;
    r[o++] = dev.flash.bytesWritten;
    r[o++] = dev.flash.refusedWrites;
    r[o++] = dev.flash.eraseCyclesPerPage;
    r[o++] = dev.flash.wearFraction;
    r[o++] = dev.flash.regionBytes;
    r[o++] = dev.provider.nonceReuse;
    r[o++] = dev.provider.counts.verify;
    r[o++] = dev.provider.counts.aead;
    r[o] = dev.quickjsPeakHeapBytes;
  }

  /** Copies `other`'s rows in at row `at` (merging shards in index order). */
  place(at: number, other: DeviceFigureTable): void {
    this.rows.set(other.rows, at * COLUMNS);
  }

  /** Row `i` in a SimDevice's shape (materialised on demand; `hw` is the device's part). */
  at(i: number, hw: HardwareProfile): DeviceFigures {
    const r = this.rows;
    const o = i * COLUMNS;
    const meter = new EnergyMeter(hw);
    METER_STATES.forEach((s, k) => (meter[s] = r[o + k]!));
    const f = o + METER_STATES.length;
    return {
      meter,
      flash: { writes: r[f]!, bytesWritten: r[f + 1]!, refusedWrites: r[f + 2]!, eraseCyclesPerPage: r[f + 3]!, wearFraction: r[f + 4]!, regionBytes: r[f + 5]! },
      provider: { nonceReuse: r[f + 6]!, counts: { verify: r[f + 7]!, aead: r[f + 8]! } },
      quickjsPeakHeapBytes: r[f + 9]!,
    };
  }
}
