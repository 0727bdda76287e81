/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses wal_autocheckpoint pages: it copies the WAL back into the database file and, with
 * synchronous = NORMAL, fsyncs both, on the connection that serves requests (profiled: about a
 * third of a token's store time, every thousandth page). Here a worker thread with its own
 * connection to the same file runs PASSIVE checkpoints on a timer: they never block the writer
 * (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html) and the serving connection only appends.
 * Durability is the WAL's either way: a committed transaction is in the WAL before its caller
 * hears back; a checkpoint only moves it into the main file.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints: the WAL holds at most about this long's worth of writes. */
export const CHECKPOINT_EVERY_MS = 250;

// CommonJS, evaluated in the worker: better-sqlite3 is a CommonJS module, resolved here once.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
// A checkpoint that meets the writer's lock waits for it a little rather than failing.
db.pragma('busy_timeout = 100');
db.pragma('wal_autocheckpoint = 0');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.once('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage('closed');
});
`;

export interface WalCheckpointer {
  /** Stops the worker after a last checkpoint and closes its connection. */
  close(): void;
}

export function startWalCheckpointer(path: string, everyMs = CHECKPOINT_EVERY_MS): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, everyMs } });
  // Never what keeps a process alive (a CLI command that opened the store and is done).
  worker.unref();
  // A failing checkpointer costs WAL growth, never data: the serving connection checkpoints at close.
  worker.on('error', () => {});
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      worker.postMessage('close');
      worker.once('message', () => void worker.terminate());
    },
  };
}
