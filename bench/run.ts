/**
 * `npm run bench`: every section in one process, each under its own title, each printing ratios
 * against a baseline it measures itself.
 *   --json FILE      also write every recorded figure as JSON (bench/figures.ts)
 *   --only NAME,...  run only the sections whose title starts with one of the names ("authz", "broker")
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchAuthz } from './authz.js';
import { benchAuthzPostgres } from './authz-postgres.js';
import { benchAuthzRecords } from './authz-records.js';
import { benchBroker } from './broker.js';
import { benchCose } from './cose.js';
import { benchDevice } from './device.js';
import { benchDpop } from './dpop.js';
import { benchOscore } from './oscore.js';
import { benchGateway } from './gateway.js';
import { recordedFigures } from './figures.js';
import { benchQuickJs } from './quickjs.js';
import { benchSim } from './sim.js';

const SECTIONS: Array<[title: string, run: () => Promise<void>]> = [
  ['cose/: token size and verify cost', benchCose],
  ['oscore: OSCORE round trips and bytes', benchOscore],
  ['device/: lean offline runtime', benchDevice],
  ['device/ on QuickJS: heap, speed, code', benchQuickJs],
  ['authz/: token endpoint', benchAuthz],
  ['authz/: issued-token records at scale', benchAuthzRecords],
  ['authz/: several instances on PostgreSQL', benchAuthzPostgres],
  ['sender-constraint/: DPoP proof checks', benchDpop],
  ['gateway/: HTTP reverse proxy with DPoP', benchGateway],
  ['broker/: MQTT sidecar', benchBroker],
  ['firmware-sim: simulated fleets', benchSim],
];

const { values } = parseArgs({ options: { json: { type: 'string' }, only: { type: 'string' } }, strict: true });
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
const chosen = only ? SECTIONS.filter(([title]) => only.some((o) => title.startsWith(o))) : SECTIONS;
if (chosen.length === 0) {
  console.error(`bench: no section starts with ${values.only}; sections: ${SECTIONS.map(([t]) => t.split(':')[0]).join(', ')}`);
  process.exit(2);
}

for (const [title, run] of chosen) {
  console.log(`\n== ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);
  await run();
}

if (values.json) {
  writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, figures: recordedFigures() }, null, 2) + '\n');
  console.log(`\n${recordedFigures().length} figures written to ${values.json}`);
}
