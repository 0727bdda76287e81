/**
 * Runs a fleet's shards in worker threads (fleet-shard-worker.ts), each shard wholly in one
 * thread; a free thread takes the next shard. Results come back as plain data (the device rows
 * transferred, not copied) and the caller merges them by shard index, so which thread ran which
 * shard, and when, never shows in the report.
 */
import { Worker } from 'node:worker_threads';
import type { ShardResult, ShardRun, ShardSpec } from './fleet-run.js';

/** What a worker posts: progress of its current shard, its result, or why it failed. */
export type WorkerMessage =
  | { kind: 'progress'; shard: number; finished: number }
  | { kind: 'result'; result: ShardResult }
  | { kind: 'error'; message: string };

export class FleetWorkerError extends Error {
  readonly code = 'ERR_SIM_WORKER';
}

/**
 * The thread's first code. In a checkout the shard runner is TypeScript: load tsx's hooks in the
 * thread first (hooks a parent registered do not reach a worker); a build runs the .js directly.
 * tsx is resolved here (workerModules): an eval'd worker resolves from the working directory, and
 * `keybound sim --workers` run from outside the checkout failed with "Cannot find package 'tsx'"
 * (found beside broker/admission-threads.ts, which had the same bootstrap).
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { process.nextTick(() => { throw e; }); });
`;

const YOUNG_GENERATION_MB = 96;

function workerModules(): { entry: string; tsx?: string } {
  const self = import.meta.url;
  // The path, not the URL: the launcher's namespaced tsx adds a query (bin/keybound.js).
  if (!new URL(self).pathname.endsWith('.ts')) return { entry: new URL('./fleet-shard-worker.js', self).href };
  return { entry: new URL('./fleet-shard-worker.ts', self).href, tsx: import.meta.resolve('tsx/esm/api') };
}

export async function runShardsInWorkers(run: ShardRun, shards: readonly ShardSpec[], threads: number, progress: (shard: number, finished: number) => void): Promise<ShardResult[]> {
  const queue = [...shards];
  const results: ShardResult[] = [];
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      const next = (w: Worker) => {
        const shard = queue.shift();
        if (!shard) {
          running--;
          if (running === 0 && !failed) resolve();
          return;
        }
        w.postMessage(shard);
      };
      for (let i = 0; i < threads; i++) {
        // A larger young generation: a shard allocates short-lived messages by the million and
        // spent ~12% of its time in scavenges with the default (--cpu-prof, 2k devices).
        const w = new Worker(BOOTSTRAP, { eval: true, workerData: { ...workerModules(), run }, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
        workers.push(w);
        running++;
        w.on('message', (m: WorkerMessage) => {
          if (m.kind === 'progress') progress(m.shard, m.finished);
          else if (m.kind === 'error') fail(new FleetWorkerError(`a shard failed in its worker: ${m.message}`));
          else {
            results.push(m.result);
            next(w);
          }
        });
        w.on('error', (e) => fail(new FleetWorkerError(`a fleet worker failed: ${e.message}`)));
        w.on('exit', (code) => {
          if (code !== 0) fail(new FleetWorkerError(`a fleet worker exited with code ${code}`));
        });
        next(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
