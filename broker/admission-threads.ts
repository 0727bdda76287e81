/**
 * CONNECT checks on worker threads (issue 13). Decoding a token and a proof, the acceptance
 * rules and two Ed25519 verifications are most of what a CONNECT costs the broker's one event
 * loop; here they run on other cores, with the same code (admission-worker.ts), while the loop
 * keeps every decision only it can make (admission.ts): revocation, the issued-before floor and
 * expiry are checked again on the answer, the jti is claimed and the allowances taken on the loop.
 * A thread that refuses, is busy past its share, or has died answers "not checked", and the loop
 * decides in line, so a refusal is exactly the in-line path's. Each thread trusts the keys the
 * broker was configured with and nothing else: a token signed by a key fetched later
 * (trust-refresh.ts) is refused there and decided on the loop.
 */
import { Worker } from 'node:worker_threads';
import type { CheckedCredentials, CheckElsewhere } from './admission.js';
import type { TrustInput } from './trust.js';

/** What each thread is started with (copied to it; the trust may hold a shared symmetric key). */
export interface AdmissionThreadData {
  audience: string;
  trust: TrustInput;
  leeway?: number;
  iatWindow?: number;
}
export interface AdmissionThreadRequest {
  id: number;
  clientId: string;
  password: Uint8Array | undefined;
  purpose: string;
}
/** What a thread posts once it can check. */
export const READY = 'ready';
export interface AdmissionThreadReply {
  id: number;
  checked: CheckedCredentials | undefined;
}

export interface AdmissionThreads {
  check: CheckElsewhere;
  /** Threads up now. */
  readonly running: number;
  /** CONNECTs checked on a thread, and those the loop decided (refused there, busy, no thread). */
  readonly counts: { thread: number; loop: number };
  close(): Promise<void>;
}

/** Requests waiting on one thread before more go to the loop: a burst is not queued without end. */
export const MAX_IN_FLIGHT_PER_THREAD = 256;
/** A request not answered by then is decided on the loop: no CONNECT waits on a thread for good. */
const ANSWER_WAIT_MS = 5000;
/** A thread that died is started again after this long, doubled at each death before it was up. */
const RESTART_MS = 1000;
/** Deaths before ever coming up after which a thread is not started again (it cannot load). */
const MAX_FAILED_STARTS = 5;

/**
 * The thread's first code. In a checkout the worker is TypeScript: tsx's hooks are registered in
 * the thread first (hooks a parent registered do not reach a worker); a build runs the .js.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { process.nextTick(() => { throw e; }); });
`;

/** The worker's module, and in a checkout tsx's API, found from here (an eval'd worker resolves from the working directory). */
function workerModules(): { entry: string; tsx?: string } {
  const self = import.meta.url;
  // The path, not the URL: the launcher's namespaced tsx adds a query (bin/keybound.js).
  if (!new URL(self).pathname.endsWith('.ts')) return { entry: new URL('./admission-worker.js', self).href };
  return { entry: new URL('./admission-worker.ts', self).href, tsx: import.meta.resolve('tsx/esm/api') };
}

interface Thread {
  worker: Worker;
  pending: Map<number, (checked: CheckedCredentials | undefined) => void>;
  ready: boolean;
  /** Requests of this turn of the loop, posted together: one message costs ~30 us whatever it holds. */
  outbox: AdmissionThreadRequest[];
}

export function startAdmissionThreads(opts: { threads: number; data: AdmissionThreadData; log: (line: string) => void; restartMs?: number }): AdmissionThreads {
  if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 64) throw new RangeError('admission threads must be an integer from 1 to 64');
  const threads: Thread[] = [];
  const counts = { thread: 0, loop: 0 };
  let nextId = 0;
  let turn = 0;
  let closed = false;
  const restarts = new Set<NodeJS.Timeout>();

  const modules = workerModules();
  /** Threads that died before they were up, in a row. */
  let failedStarts = 0;
  const start = (): void => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { ...opts.data, ...modules } });
    // The broker's own listeners keep the process up; a thread alone must not.
    worker.unref();
    const thread: Thread = { worker, pending: new Map(), ready: false, outbox: [] };
    threads.push(thread);
    worker.on('message', (replies: AdmissionThreadReply[] | typeof READY) => {
      // Up once its code is loaded (not at 'online': a CONNECT must not wait for a thread's imports).
      if (replies === READY) {
        thread.ready = true;
        failedStarts = 0;
        return;
      }
      for (const reply of replies) thread.pending.get(reply.id)?.(reply.checked);
    });
    // A thread that fails (it should not) costs speed, never a CONNECT: what it held is decided on the loop.
    worker.on('error', (e) => opts.log(`broker: an admission thread failed (${String(e.message).slice(0, 80)}); its CONNECTs are checked on the event loop`));
    worker.once('exit', () => {
      threads.splice(threads.indexOf(thread), 1);
      for (const resolve of [...thread.pending.values()]) resolve(undefined);
      if (closed) return;
      if (!thread.ready && ++failedStarts >= MAX_FAILED_STARTS) {
        opts.log(`broker: admission threads could not start ${MAX_FAILED_STARTS} times in a row; CONNECTs are checked on the event loop from now on`);
        return;
      }
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!closed) startOrSay();
      }, (opts.restartMs ?? RESTART_MS) * 2 ** failedStarts);
      timer.unref();
      restarts.add(timer);
    });
  };
  // From a timer, a thread that cannot even be created is said, not thrown at the process.
  const startOrSay = (): void => {
    try {
      start();
    } catch (e) {
      opts.log(`broker: an admission thread could not be created (${String((e as Error).message).slice(0, 80)}); CONNECTs are checked on the event loop`);
    }
  };
  for (let i = 0; i < opts.threads; i++) start();

  return {
    check(clientId, password, purpose) {
      // Round robin over the threads that are up and not full.
      for (let tries = 0; tries < threads.length; tries++) {
        const thread = threads[turn++ % threads.length]!;
        if (!thread.ready || thread.pending.size >= MAX_IN_FLIGHT_PER_THREAD) continue;
        const id = nextId++;
        // A copy: a view would carry its whole backing buffer (other packets' bytes) across.
        const request: AdmissionThreadRequest = { id, clientId, password: password?.slice(), purpose };
        return new Promise((resolve) => {
          thread.pending.set(id, (checked) => {
            thread.pending.delete(id);
            if (checked) counts.thread++;
            else counts.loop++;
            resolve(checked);
          });
          if (thread.outbox.push(request) === 1) {
            queueMicrotask(() => {
              const batch = thread.outbox;
              thread.outbox = [];
              thread.worker.postMessage(batch);
              setTimeout(() => {
                for (const { id } of batch) thread.pending.get(id)?.(undefined);
              }, ANSWER_WAIT_MS).unref();
            });
          }
        });
      }
      counts.loop++;
      return Promise.resolve(undefined);
    },
    get running() {
      return threads.filter((t) => t.ready).length;
    },
    counts,
    async close() {
      closed = true;
      for (const timer of restarts) clearTimeout(timer);
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}
