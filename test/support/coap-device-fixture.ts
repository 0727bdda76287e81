/**
 * The service (issuing coap_oscore tokens for `audience`) and `keybound device serve --coap-only`
 * on its bundle, in a temporary directory: one per test file (beforeAll), stopped by `close`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACE_PROFILE } from '../../cose/index.js';
import { startDeviceService, type DeviceService } from './device-service.js';
import { serveCoapOnly, type DeviceProcess } from './device-process.js';

export interface CoapDeviceFixture {
  service: DeviceService;
  device: DeviceProcess;
  port: number;
  dir: string;
  close(): Promise<void>;
}

export async function startCoapDeviceFixture(opts: { audience: string; clients: string[]; prefix: string }): Promise<CoapDeviceFixture> {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix));
  const now = () => Math.floor(Date.now() / 1000);
  const service = await startDeviceService({ audience: opts.audience, clients: opts.clients, lifetime: 600, aceProfile: ACE_PROFILE.coap_oscore, clock: now });
  const { device, port } = await serveCoapOnly(service.bundle, dir);
  return {
    service,
    device,
    port,
    dir,
    async close() {
      device.proc.kill('SIGTERM');
      await device.exited;
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
