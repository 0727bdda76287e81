/**
 * The OSCORE side of `keybound request` (RFC 8613 §8.1/§8.4): a context from a libcoap-format
 * conf (`--oscore-conf`, its sender sequence number kept in a file next to it so that a second
 * run never reuses a nonce, §B.1.1), or from the ACE-OSCORE flow (`--token-response`: the
 * service's token answer; the token is posted to /authz-info with a fresh nonce1 and id, RFC 9203
 * §4.1, and the context derived from the device's nonce2 and id, §4.3). The request is protected
 * with cose/'s OSCORE, the answer opened, or reported as the unprotected refusal it is.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  COAP_OPTION,
  deriveOscoreContext,
  memoryOscoreStorage,
  OscoreState,
  protectRequest,
  unprotectResponse,
  type CoapOption,
  type OscoreContext,
  type OscorePersistedState,
  type OscoreStateStorage,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { beginAceOscore, decodeTokenResponse, CONTENT_FORMAT_ACE_CBOR } from '../device/index.js';
import { UsageError } from './command-line.js';
import { coapCall, type CoapAnswer, type CoapCall, type RawOption } from './coap-call.js';
import { oscoreContextInputOf, readOscoreConf } from './oscore-conf.js';
import { readableByOthers, readOptionFile } from './option-file.js';
import type { CliIo } from './io.js';

const URI_PATH = 11;
const CONTENT_FORMAT = 12;
const METHOD_CODES: Record<string, number> = { GET: 1, POST: 2, PUT: 3, DELETE: 4, FETCH: 5 };
const codeText = (b: number) => `${b >> 5}.${String(b & 0x1f).padStart(2, '0')}`;
const codeByte = (t: string) => {
  const [c, d] = t.split('.').map(Number);
  return ((c ?? 0) << 5) | (d ?? 0);
};
/** A token answer is a token and its material (RFC 9200 §5.8.2). */
const MAX_TOKEN_RESPONSE_BYTES = 16 * 1024;

/** A client's OSCORE context and its sequence/replay state (cose/oscore-state.ts). */
export interface OscoreClient {
  ctx: OscoreContext;
  state: OscoreState;
}

/**
 * The context's state in a file (§B.1.1: the reservation is written, atomically, before a number
 * in it is used), so a second `keybound request` run never reuses a nonce.
 */
export function fileOscoreStorage(file: string): OscoreStateStorage {
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
      if (text.length > 1024) throw new UsageError(`the OSCORE sequence file ${file.slice(0, 200)} is not one of ours`);
      try {
        return JSON.parse(text) as OscorePersistedState; // OscoreState.open checks every field
      } catch {
        throw new UsageError(`the OSCORE sequence file ${file.slice(0, 200)} is not one of ours`);
      }
    },
    save(state) {
      writeFileSync(`${file}.tmp`, `${JSON.stringify(state)}\n`, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    },
  };
}

export function contextFromConf(file: string, seqFile: string | undefined, io: CliIo): OscoreClient {
  const conf = readOscoreConf(file, '--oscore-conf', io);
  const ctx = deriveOscoreContext(oscoreContextInputOf(conf), nativeProvider);
  return { ctx, state: OscoreState.open(ctx, fileOscoreStorage(seqFile ?? `${file}.seq`)) };
}

/** RFC 9203 §4.1–4.3 over CoAP: the token to /authz-info, the context from the answer. */
export async function contextFromAce(url: URL, tokenResponseFile: string, timeoutMs: number, io: CliIo): Promise<OscoreClient> {
  // RFC 9203 §3.2.1: the answer's osc carries the Master Secret; whoever reads it speaks as this client.
  if (readableByOthers(tokenResponseFile)) io.stderr.write(`keybound: warning: --token-response ${tokenResponseFile.slice(0, 200)} holds a Master Secret and others may read it (chmod 600)\n`);
  const answer = decodeTokenResponse(readOptionFile(tokenResponseFile, '--token-response', MAX_TOKEN_RESPONSE_BYTES));
  if (!answer.cnf || !('osc' in answer.cnf)) throw new UsageError('--token-response: the token is not for the ACE-OSCORE profile (its cnf has no osc material)');
  const begun = beginAceOscore(answer.accessToken, answer.cnf.osc, nativeProvider);
  const posted = await coapCall(
    url,
    { method: 'POST', path: '/authz-info', options: [{ number: CONTENT_FORMAT, value: Uint8Array.of(CONTENT_FORMAT_ACE_CBOR) }], payload: begun.payload },
    { timeoutMs, maxAnswerBytes: 1024 },
  );
  if (posted.code !== '2.01') throw new UsageError(`/authz-info answered ${posted.code}: ${new TextDecoder().decode(posted.payload.slice(0, 120)).replace(/[^\x20-\x7e]/g, '?')}`);
  const ctx = deriveOscoreContext(begun.finish(posted.payload), nativeProvider);
  // A fresh context per run (new nonces, RFC 9203 §4.3): nothing to keep past the process.
  return { ctx, state: OscoreState.open(ctx, memoryOscoreStorage()) };
}

/** RFC 9175 §2: Echo, which a server sends with 4.01 to check that a request is fresh. */
const ECHO = 252;

/**
 * One OSCORE-protected request; the answer as the device meant it (or its unprotected refusal).
 * A protected 4.01 with Echo (RFC 8613 §B.1.2, RFC 9175 §2.4: a server that lost its replay
 * window, as libcoap's after a start) is answered once by the same request carrying the Echo.
 */
export async function oscoreCall(url: URL, ctx: OscoreClient, call: CoapCall, timeoutMs: number, maxAnswerBytes: number): Promise<CoapAnswer & { authenticated: boolean }> {
  const first = await oscoreCallOnce(url, ctx, call, timeoutMs, maxAnswerBytes);
  const echo = first.authenticated && first.code === '4.01' ? first.options.find((o) => o.number === ECHO) : undefined;
  if (!echo || echo.value.length > 40) return first;
  return oscoreCallOnce(url, ctx, { ...call, options: [...call.options, { number: ECHO, value: echo.value }] }, timeoutMs, maxAnswerBytes);
}

async function oscoreCallOnce(url: URL, { ctx, state }: OscoreClient, call: CoapCall, timeoutMs: number, maxAnswerBytes: number): Promise<CoapAnswer & { authenticated: boolean }> {
  const method = METHOD_CODES[call.method]!;
  const path = decodeURIComponent(url.pathname)
    .split('/')
    .filter((s) => s.length > 0)
    .map((s): CoapOption => ({ number: URI_PATH, value: new TextEncoder().encode(s) }));
  const { message, binding } = protectRequest(ctx, state, { code: method, options: [...path, ...call.options], payload: call.payload }, nativeProvider);
  // RFC 8613 §4.2: the outer request is a POST; the path and the rest travel inside.
  const outer = await coapCall(url, { method: 'POST', options: message.options as RawOption[], payload: message.payload }, { timeoutMs, maxAnswerBytes });
  if (!outer.options.some((o) => o.number === COAP_OPTION.OSCORE)) return { ...outer, authenticated: false };
  const inner = unprotectResponse(ctx, state, { code: codeByte(outer.code), options: outer.options, payload: outer.payload }, binding, nativeProvider);
  return { code: codeText(inner.code), options: inner.options, payload: inner.payload, authenticated: true };
}
