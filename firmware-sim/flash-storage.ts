/**
 * A model of a device's flash: implements device/'s DeviceStorage, keeps its contents across
 * simulated reboots (the simulator rebuilds everything else), counts writes and bytes against the
 * part's endurance, and charges programming time to the energy meter. Every put is atomic, as
 * DeviceStorage requires (a real port would use a two-slot or log-structured record).
 */
import type { DeviceStorage } from '../device/index.js';
import type { EnergyMeter } from './energy-meter.js';
import type { HardwareProfile } from './hardware-profiles.js';

/** Bytes of record header a log-structured store writes with each value (key hash, length, CRC). */
const RECORD_HEADER_BYTES = 8;

export class FlashStorage implements DeviceStorage {
  private readonly data = new Map<string, Uint8Array>();
  writes = 0;
  bytesWritten = 0;
  constructor(
    private readonly hw: HardwareProfile,
    private readonly meter: EnergyMeter,
  ) {}

  get(key: string): Uint8Array | undefined {
    const v = this.data.get(key);
    return v ? v.slice() : undefined;
  }

  put(key: string, value: Uint8Array): void {
    this.data.set(key, value.slice());
    this.charge(value.length + key.length + RECORD_HEADER_BYTES);
  }

  delete(key: string): void {
    if (this.data.delete(key)) this.charge(RECORD_HEADER_BYTES);
  }

  /** Page erases so far, amortized: what wears the part. */
  get erases(): number {
    return this.bytesWritten / this.hw.flashPageBytes;
  }

  get keys(): number {
    return this.data.size;
  }

  private charge(bytes: number): void {
    this.writes++;
    this.bytesWritten += bytes;
    const words = Math.ceil(bytes / 4);
    this.meter.flashS += words * this.hw.flashWordWriteS + (bytes / this.hw.flashPageBytes) * this.hw.flashEraseS;
  }
}
