/**
 * A model of a device's flash: implements device/'s DeviceStorage, keeps its contents across
 * simulated reboots (the simulator rebuilds everything else), counts writes and bytes, and charges
 * programming time to the energy meter. Every put is atomic, as DeviceStorage requires (a real port
 * would use a two-slot or log-structured record).
 *
 * keybound's records live in a region of the part's flash (KEYBOUND_FLASH_SHARE), written as a
 * log: each put appends a record, and when the log is full it is compacted: the live records are
 * copied forward and the pages behind them erased. Those copies are writes too: they count in the
 * bytes written, in the wear (every page of the region wears at bytes written / region size erase
 * cycles) and in the energy. Programming is charged per programming unit of the part (a 4-byte
 * word on the nRF52840, a whole 128-byte page on the ATmega328P, whose page erase + page write
 * take ~9 ms together), erasing per page, amortized over the bytes. The region keeps one page free
 * to compact into, so the live records must fit the rest: a put that would not fit is refused
 * (ERR_FLASH_FULL), and so is one past the part's endurance (ERR_FLASH_WORN); either leaves the
 * stored contents as they were.
 */
import type { DeviceStorage } from '../device/index.js';
import type { EnergyMeter } from './energy-meter.js';
import type { HardwareProfile } from './hardware-profiles.js';

/** Bytes of record header a log-structured store writes with each value (key hash, length, CRC). */
const RECORD_HEADER_BYTES = 8;
/**
 * keybound's share of the part's flash: 1/32. The rest is the firmware image (and, with OTA, a
 * second slot). The order is taken from Zephyr's nRF52840 DK board, whose devicetree gives
 * storage_partition 32 KiB of the 1 MiB flash; on the 32 KiB ATmega328P it leaves 1 KiB (8 pages).
 */
export const KEYBOUND_FLASH_SHARE = 1 / 32;
/** A log-structured store needs at least a page to write and a page to compact into. */
const MIN_REGION_PAGES = 2;

export type FlashErrorCode = 'ERR_FLASH_FULL' | 'ERR_FLASH_WORN';

/** A write the flash model refused; what was stored is unchanged. */
export class FlashError extends Error {
  override readonly name = 'FlashError';
  constructor(
    readonly code: FlashErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes of the part's flash given to keybound's records: whole pages, at least MIN_REGION_PAGES. */
export function flashRegionBytes(hw: Pick<HardwareProfile, 'flashBytes' | 'flashPageBytes'>): number {
  const pages = Math.max(MIN_REGION_PAGES, Math.floor((hw.flashBytes * KEYBOUND_FLASH_SHARE) / hw.flashPageBytes));
  return Math.min(hw.flashBytes, pages * hw.flashPageBytes);
}

const recordBytes = (key: string, value: Uint8Array): number => value.length + key.length + RECORD_HEADER_BYTES;

export class FlashStorage implements DeviceStorage {
  private readonly data = new Map<string, Uint8Array>();
  /** Bytes the region holds. */
  readonly regionBytes: number;
  writes = 0;
  bytesWritten = 0;
  /** Puts refused (full or worn out). */
  refusedWrites = 0;
  /** Bytes of live records (what a compaction would copy). */
  liveBytes = 0;
  /** Compactions so far, and the live bytes they copied (included in bytesWritten). */
  compactions = 0;
  compactionBytes = 0;
  /** Bytes appended to the log since the last compaction. */
  private logBytes = 0;

  constructor(
    private readonly hw: HardwareProfile,
    private readonly meter: EnergyMeter,
    opts: { regionBytes?: number } = {},
  ) {
    const region = opts.regionBytes ?? flashRegionBytes(hw);
    if (!Number.isSafeInteger(region) || region < MIN_REGION_PAGES * hw.flashPageBytes || region > hw.flashBytes) {
      throw new RangeError(`regionBytes must be an integer from ${MIN_REGION_PAGES * hw.flashPageBytes} to flashBytes (${hw.flashBytes}), got ${region}`);
    }
    this.regionBytes = region;
  }

  get(key: string): Uint8Array | undefined {
    const v = this.data.get(key);
    return v ? v.slice() : undefined;
  }

  put(key: string, value: Uint8Array): void {
    const old = this.data.get(key);
    const rec = recordBytes(key, value);
    const live = this.liveBytes - (old ? recordBytes(key, old) : 0) + rec;
    const usable = this.regionBytes - this.hw.flashPageBytes;
    if (live > usable) {
      this.refusedWrites++;
      throw new FlashError('ERR_FLASH_FULL', `flash region full: ${live} bytes of records, ${usable} usable of ${this.regionBytes}`);
    }
    this.checkWear(rec + this.compactionCopy(rec, live - rec));
    this.data.set(key, value.slice());
    this.append(rec, live - rec);
    this.liveBytes = live;
  }

  delete(key: string): void {
    const old = this.data.get(key);
    if (!old) return;
    // A deletion is a tombstone record; if even that cannot be written the key stays.
    const live = this.liveBytes - recordBytes(key, old);
    this.checkWear(RECORD_HEADER_BYTES + this.compactionCopy(RECORD_HEADER_BYTES, live));
    this.data.delete(key);
    this.append(RECORD_HEADER_BYTES, live);
    this.liveBytes = live;
  }

  /** Page erases so far over the whole region, amortized. */
  get erases(): number {
    return this.bytesWritten / this.hw.flashPageBytes;
  }

  /** Erase cycles each page of the region has been through (the log spreads them evenly). */
  get eraseCyclesPerPage(): number {
    return this.bytesWritten / this.regionBytes;
  }

  /** Fraction of the part's rated endurance used: 1 means worn out. */
  get wearFraction(): number {
    return this.eraseCyclesPerPage / this.hw.flashEndurance;
  }

  get keys(): number {
    return this.data.size;
  }

  private checkWear(bytes: number): void {
    if ((this.bytesWritten + bytes) / this.regionBytes > this.hw.flashEndurance) {
      this.refusedWrites++;
      throw new FlashError('ERR_FLASH_WORN', `flash worn out: ${this.hw.flashEndurance} erase cycles per page used`);
    }
  }

  /** Bytes a compaction would copy before appending `rec`: the other live records, if the log is full. */
  private compactionCopy(rec: number, otherLive: number): number {
    return this.logBytes + rec > this.regionBytes - this.hw.flashPageBytes ? otherLive : 0;
  }

  /** Appends a record of `rec` bytes, compacting first if the log is full (`otherLive`: the live bytes it copies). */
  private append(rec: number, otherLive: number): void {
    const copy = this.compactionCopy(rec, otherLive);
    if (copy > 0 || this.logBytes + rec > this.regionBytes - this.hw.flashPageBytes) {
      this.compactions++;
      this.compactionBytes += copy;
      this.program(copy);
      this.logBytes = copy;
    }
    this.writes++;
    this.program(rec);
    this.logBytes += rec;
  }

  /** Programming time for `bytes` (whole programming units) plus their share of page erases. */
  private program(bytes: number): void {
    if (bytes <= 0) return;
    this.bytesWritten += bytes;
    const units = Math.ceil(bytes / this.hw.flashProgramBytes);
    this.meter.flashS += units * this.hw.flashProgramS + (bytes / this.hw.flashPageBytes) * this.hw.flashEraseS;
  }
}
