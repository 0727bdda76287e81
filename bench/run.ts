/** `npm run bench`: every bench module present, each under its own title. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchCose } from './cose.js';

type Bench = () => Promise<void>;

/** Sections written by other parts of the project; run when their file exists. */
const OPTIONAL: Array<{ file: string; title: string; exportName: string }> = [
  { file: './device.ts', title: 'device/: lean offline runtime', exportName: 'benchDevice' },
  { file: './authz.ts', title: 'authz/: token endpoint', exportName: 'benchAuthz' },
  { file: './broker.ts', title: 'broker/: MQTT sidecar', exportName: 'benchBroker' },
  { file: './sim.ts', title: 'firmware-sim: simulated fleets', exportName: 'benchSim' },
];

function title(text: string): void {
  console.log(`\n== ${text} ${'='.repeat(Math.max(0, 70 - text.length))}`);
}

title('cose/: token size and verify cost');
await benchCose();

for (const { file, title: name, exportName } of OPTIONAL) {
  if (!existsSync(fileURLToPath(new URL(file, import.meta.url)))) continue;
  const mod = (await import(file.replace(/\.ts$/, '.js'))) as Record<string, unknown>;
  const bench = mod[exportName];
  if (typeof bench !== 'function') throw new Error(`bench/${file.slice(2)} does not export ${exportName}`);
  title(name);
  await (bench as Bench)();
}
