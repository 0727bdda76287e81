/**
 * The Node hosts' logger (service, broker, a device on a Node host): pino, one JSON object per
 * line. Why pino: the standard structured logger for Node (fastify's), asynchronous and cheap
 * on the hot paths; fields named like secrets are censored (redactLogFields), a second guard behind
 * our rule of never passing a secret.
 *
 * Where lines go: stderr. stdout carries a command's result (the one "listening on URL" line
 * scripts read), stderr the diagnostics; each stream is then consistent: stderr is JSON lines
 * only, from the first log line on.
 */
import { pino, type DestinationStream, type Level } from 'pino';
import type { Logger } from '../index.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Field names that would hold a secret if anyone ever passed one: censored by pino, at any
 * depth we use (top level and one below). A guard behind the rule, never instead of it.
 */
const REDACTED = ['token', 'access_token', 'refresh_token', 'proof', 'password', 'secret', 'client_secret', 'authorization', 'key', 'privateKey', 'd', 'k', 'cookie'];

const REDACTED_FIELDS: ReadonlySet<string> = new Set(REDACTED);
const CENSOR = '[redacted]';

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer);
}

/**
 * The REDACTED fields censored at the top level and one below, as pino's `redact` with the paths
 * `f` and `*.f` does, at a fifth of its cost per line (a token, a CONNECT each log one or two:
 * bench/broker.ts): names are only looked up, and an object is copied only when it holds one;
 * the caller's object is never changed.
 */
export function redactLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  let out = fields;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (REDACTED_FIELDS.has(key)) {
      if (out === fields) out = { ...fields };
      out[key] = CENSOR;
      continue;
    }
    if (!isPlainRecord(value)) continue;
    let inner = value;
    for (const k of Object.keys(value)) {
      if (!REDACTED_FIELDS.has(k)) continue;
      if (inner === value) inner = { ...value };
      inner[k] = CENSOR;
    }
    if (inner !== value) {
      if (out === fields) out = { ...fields };
      out[key] = inner;
    }
  }
  return out;
}

export interface NodeLoggerOptions {
  level?: LogLevel;
  /** Component name on every line (`authz`, `broker`, `device`). */
  name: string;
  /** Default: stderr (fd 2), written synchronously so a crash loses no line. */
  destination?: DestinationStream;
}

export function createNodeLogger(opts: NodeLoggerOptions): Logger & { level: string } {
  return pino(
    {
      name: opts.name,
      level: (opts.level ?? 'info') as Level,
      formatters: { log: redactLogFields },
      base: { pid: process.pid },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
