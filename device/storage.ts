/**
 * Where a device keeps what must survive a reboot (sequence counters, replay windows, exi and
 * revocation state). Synchronous on purpose: a device's flash driver usually is, and a write
 * that completes before the next message is processed is what makes "persist ahead" safe.
 */
export interface DeviceStorage {
  get(key: string): Uint8Array | undefined;
  /** Must be atomic: after a crash the old or the new value is there, never a mix. */
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
}

/** A storage in RAM, for tests, the simulator and devices that keep nothing. */
export function memoryStorage(): DeviceStorage & { keys(): string[] } {
  const data = new Map<string, Uint8Array>();
  return {
    get: (key) => {
      const v = data.get(key);
      return v ? new Uint8Array(v) : undefined;
    },
    put: (key, value) => void data.set(key, new Uint8Array(value)),
    delete: (key) => void data.delete(key),
    keys: () => [...data.keys()],
  };
}
