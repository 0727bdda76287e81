/**
 * A worker thread of fleet-workers.ts: plans the fleet once (the same plan as the parent's: a
 * function of the scenario and size), then runs each shard it is sent and posts the result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runShard, type ShardRun, type ShardSpec } from './fleet-run.js';
import { storyTellers } from './flow-trace.js';
import type { WorkerMessage } from './fleet-workers.js';
import { planFleet } from './scenarios.js';

const port = parentPort!;
const run = (workerData as { run: ShardRun }).run;
const plans = planFleet(run.scenario, run.devices);
const tellers = storyTellers(plans);
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (shard: ShardSpec) => {
  runShard(run, plans, tellers, shard, { onProgress: (finished) => post({ kind: 'progress', shard: shard.index, finished }) }).then(
    (result) => post({ kind: 'result', result }, [result.figures.buffer as ArrayBuffer]),
    (e: unknown) => post({ kind: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
});
