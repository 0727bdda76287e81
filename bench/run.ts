/** `npm run bench`: every section in one process, each under its own title, each printing ratios against a baseline it measures itself. */
import { benchAuthz } from './authz.js';
import { benchAuthzPostgres } from './authz-postgres.js';
import { benchBroker } from './broker.js';
import { benchCose } from './cose.js';
import { benchDevice } from './device.js';
import { benchQuickJs } from './quickjs.js';
import { benchSim } from './sim.js';

const SECTIONS: Array<[title: string, run: () => Promise<void>]> = [
  ['cose/: token size and verify cost', benchCose],
  ['device/: lean offline runtime', benchDevice],
  ['device/ on QuickJS: heap, speed, code', benchQuickJs],
  ['authz/: token endpoint', benchAuthz],
  ['authz/: several instances on PostgreSQL', benchAuthzPostgres],
  ['broker/: MQTT sidecar', benchBroker],
  ['firmware-sim: simulated fleets', benchSim],
];

for (const [title, run] of SECTIONS) {
  console.log(`\n== ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);
  await run();
}
