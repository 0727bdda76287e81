/**
 * `keybound request coap://HOST:PORT/PATH`: a CoAP client for devices (issue 12). The answer's
 * payload goes to stdout, its code to stderr ("2.05 Content" style, so scripts can read one and
 * log the other; a refusal's AS hints are described on stderr); the exit code is 0 for a 2.xx
 * answer and 1 otherwise. With `--oscore-conf` or
 * `--token-response` the request goes OSCORE-protected (cli/oscore-request.ts).
 */
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';
import { readOptionFile } from './option-file.js';
import { coapCall, type CoapCall, type RawOption } from './coap-call.js';
import { contextFromAce, contextFromConf, oscoreCall } from './oscore-request.js';
import { decodeCbor, toHex, type CborMap } from '../cose/index.js';
import { hintsFromMap, type RequestHints } from '../device/index.js';

/** A request body from a file: block-wise carries it, the device bounds what it takes. */
const MAX_PAYLOAD_FILE_BYTES = 1024 * 1024;
const MAX_ANSWER_BYTES = 1024 * 1024;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'FETCH'] as const;
const CONTENT_FORMAT = 12;

export function coapTarget(text: string): URL {
  if (!URL.canParse(text)) throw new UsageError('the target must be a coap:// URL');
  const url = new URL(text);
  if (url.protocol !== 'coap:') throw new UsageError('the target must be a coap:// URL (coaps:// and coap+tcp:// are not spoken here)');
  if (url.username || url.password) throw new UsageError('a coap:// URL carries no user or password');
  if (url.search) throw new UsageError('query strings are not supported here: put them in the path');
  return url;
}

function uintBytes(n: number): Uint8Array {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.from(out);
}

export const requestCommand = defineCommand(
  {
    name: 'request',
    summary: 'Send a CoAP request to a device (coap://HOST:PORT/PATH) and print the answer.',
    positionals: ['URL'],
    options: {
      method: { type: 'string', value: 'GET|POST|PUT|DELETE|FETCH', default: 'GET', help: 'the request method' },
      payload: { type: 'string', value: 'TEXT', help: 'the request body as UTF-8 text' },
      'payload-file': { type: 'string', value: 'FILE', help: 'the request body from a file (sent block-wise when it is large, RFC 7959)' },
      'content-format': { type: 'string', value: 'N', help: 'the Content-Format number of the body (0 text/plain, 50 application/json, 60 application/cbor)' },
      'oscore-conf': { type: 'string', value: 'FILE', help: "protect the request with OSCORE under this context (libcoap's coap-oscore-conf format, the client's side)" },
      'oscore-seq-file': { type: 'string', value: 'FILE', help: "where --oscore-conf's sender sequence number is kept between runs (default: the conf's name + .seq)" },
      'token-response': { type: 'string', value: 'FILE', help: "the ACE-OSCORE flow: the service's token answer (CBOR); its token goes to /authz-info, the request under the context derived from it" },
      timeout: { type: 'string', value: 'MS', default: '20000', help: 'give up after this long (retransmissions included)' },
    },
    examples: [
      'keybound request coap://127.0.0.1:5683/result',
      'keybound request coap://127.0.0.1:5683/result --oscore-conf client.conf',
      'keybound request coap://127.0.0.1:5683/result --token-response token.cbor',
      'keybound request coap://[::1]:5683/upload --method POST --payload-file reading.cbor --content-format 60',
    ],
  },
  async ({ values, positionals }, io) => {
    const url = coapTarget(positionals[0]!);
    const method = (values.method ?? 'GET').toUpperCase() as CoapCall['method'];
    if (!METHODS.includes(method)) throw new UsageError(`--method is one of ${METHODS.join(', ')}`);
    if (values.payload !== undefined && values['payload-file'] !== undefined) throw new UsageError('--payload and --payload-file exclude each other');
    const payload = values['payload-file'] !== undefined ? readOptionFile(values['payload-file'], '--payload-file', MAX_PAYLOAD_FILE_BYTES) : new TextEncoder().encode(values.payload ?? '');
    const options: RawOption[] = [];
    if (values['content-format'] !== undefined) {
      const cf = Number(values['content-format']);
      if (!Number.isInteger(cf) || cf < 0 || cf > 65535) throw new UsageError('--content-format takes a number from 0 to 65535');
      options.push({ number: CONTENT_FORMAT, value: uintBytes(cf) });
    }
    const timeoutMs = Number(values.timeout ?? 20000);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw new UsageError('--timeout takes milliseconds from 100 to 600000');
    if (values['oscore-conf'] && values['token-response']) throw new UsageError('--oscore-conf and --token-response exclude each other');
    if (values['oscore-seq-file'] && !values['oscore-conf']) throw new UsageError('--oscore-seq-file goes with --oscore-conf');
    const context = values['oscore-conf']
      ? contextFromConf(values['oscore-conf'], values['oscore-seq-file'], io)
      : values['token-response']
        ? await contextFromAce(url, values['token-response'], timeoutMs, io)
        : undefined;
    const call = { method, options, payload };
    const answer = context
      ? await oscoreCall(url, context, call, timeoutMs, MAX_ANSWER_BYTES)
      : { ...(await coapCall(url, { ...call, path: decodeURIComponent(url.pathname) }, { timeoutMs, maxAnswerBytes: MAX_ANSWER_BYTES })), authenticated: false };
    // An unprotected answer to an OSCORE request is a refusal nobody vouches for (RFC 8613 §8.2).
    io.stderr.write(`${answer.code}${context && !answer.authenticated ? ' (unprotected)' : ''}\n`);
    if (context && !answer.authenticated && answer.code.startsWith('2.')) return EXIT.failed;
    const hints = answer.code.startsWith('2.') ? undefined : readableHints(answer.payload);
    // A refusal's AS Request Creation Hints are for the person at the terminal: described on
    // stderr, not CBOR bytes on stdout (walkthrough, stop 36).
    if (hints !== undefined) io.stderr.write(`${hints}\n`);
    else if (answer.payload.length > 0) io.stdout.write(printable(answer.payload) ?? answer.payload);
    return answer.code.startsWith('2.') ? EXIT.ok : EXIT.failed;
  },
);

/**
 * A payload that is UTF-8 text (no control characters but tab and line ends) is printed with a
 * line end; anything else (CBOR, Content-Format 60, AS hints) goes out as its bytes, unchanged:
 * decoding it as text replaced bytes with U+FFFD (README walkthrough, stop 35).
 */
function printable(payload: Uint8Array): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return undefined;
  }
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text) ? undefined : `${text}\n`;
}

/** RFC 9200 §5.3: a refusal's payload may be the AS Request Creation Hints (a CBOR map); described, or undefined. */
function readableHints(payload: Uint8Array): string | undefined {
  if (payload.length === 0) return undefined;
  let hints: RequestHints;
  try {
    const m = decodeCbor(payload, { maxBytes: MAX_ANSWER_BYTES, maxDepth: 4 });
    if (!(m instanceof Map)) return undefined;
    hints = hintsFromMap(m as CborMap);
  } catch {
    return undefined;
  }
  const parts = [
    hints.as !== undefined ? `AS ${hints.as}` : undefined,
    hints.audience !== undefined ? `audience ${hints.audience}` : undefined,
    hints.scope !== undefined ? `scope ${typeof hints.scope === 'string' ? hints.scope : JSON.stringify(hints.scope, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))}` : undefined,
    hints.cnonce !== undefined ? `cnonce ${toHex(hints.cnonce)} (ask for a token carrying it)` : undefined,
    hints.kid !== undefined ? `kid ${toHex(hints.kid)}` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length > 0 ? `AS Request Creation Hints (RFC 9200 §5.3): ${parts.join(', ')}` : undefined;
}
