/**
 * A static OSCORE security context from a file in libcoap's format (coap-oscore-conf(5): what
 * `coap-client -E` and `coap-server -E` read), so one file configures both ends without ACE:
 *
 *   master_secret,hex,"0102030405060708090a0b0c0d0e0f10"
 *   master_salt,hex,"9e7ca92223786340"
 *   sender_id,hex,"01"
 *   recipient_id,hex,""
 *   replay_window,integer,32
 *
 * Read strictly: `keyword,encoding,value` a line, `#` comments; an unknown keyword, a repeated one
 * (one recipient here), an encoding the keyword does not take or a value out of range is a usage
 * error naming the line, never the value (the master secret must not reach a terminal or a log).
 * Only what RFC 8613's mandatory profile needs: AES-CCM-16-64-128 (10) and HKDF SHA-256 (-10)
 * (RFC 8613 §3.2 defaults). libcoap's diagnostic keywords (break_*_key) are refused.
 */
import { OSCORE_DEFAULT_REPLAY_WINDOW } from '../cose/index.js';
import { UsageError } from './command-line.js';
import { readableByOthers, readSecretFile } from './option-file.js';
import type { CliIo } from './io.js';

export interface OscoreConf {
  masterSecret: Uint8Array;
  masterSalt?: Uint8Array;
  idContext?: Uint8Array;
  senderId: Uint8Array;
  recipientId: Uint8Array;
  /** COSE algorithm numbers (RFC 8152 / RFC 9053). */
  aeadAlg: number;
  hkdfAlg: number;
  replayWindow: number;
  /** RFC 8613 §B.1.1: how many sequence numbers are reserved ahead in storage (libcoap's ssn_freq). */
  ssnFreq?: number;
}

const MAX_CONF_CHARS = 4096;
/** RFC 8613 §3.3: an ID is at most the nonce length - 6 bytes (7 for AES-CCM-16-64-128). */
const MAX_ID_BYTES = 7;
const MAX_SECRET_BYTES = 64;

const TEXT_ALGS: Record<string, number> = { 'AES-CCM-16-64-128': 10, 'direct+HKDF-SHA-256': -10 };
type Kind = 'bytes' | 'integer' | 'alg' | 'bool';
const KEYWORDS: Record<string, Kind> = {
  master_secret: 'bytes',
  master_salt: 'bytes',
  id_context: 'bytes',
  sender_id: 'bytes',
  recipient_id: 'bytes',
  replay_window: 'integer',
  aead_alg: 'alg',
  hkdf_alg: 'alg',
  ssn_freq: 'integer',
  rfc8613_b_1_2: 'bool',
  rfc8613_b_2: 'bool',
};

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

export function parseOscoreConf(text: string, what: string): OscoreConf {
  if (text.length > MAX_CONF_CHARS) throw new UsageError(`${what}: larger than ${MAX_CONF_CHARS} characters`);
  const seen = new Map<string, Uint8Array | number | boolean>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${what} line ${i + 1}`;
    const first = line.indexOf(',');
    const second = first < 0 ? -1 : line.indexOf(',', first + 1);
    if (second < 0) throw new UsageError(`${where}: expected keyword,encoding,value`);
    const keyword = line.slice(0, first).trim();
    const encoding = line.slice(first + 1, second).trim();
    const value = unquote(line.slice(second + 1).trim());
    const kind = Object.hasOwn(KEYWORDS, keyword) ? KEYWORDS[keyword] : undefined;
    if (!kind) throw new UsageError(`${where}: unknown keyword ${JSON.stringify(keyword.slice(0, 32))}`);
    if (seen.has(keyword)) throw new UsageError(`${where}: ${keyword} given twice (one context, one recipient)`);
    if (kind === 'bytes') {
      if (encoding === 'hex') {
        if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new UsageError(`${where}: ${keyword} is not an even number of hex digits`);
        seen.set(keyword, Uint8Array.from(value.match(/../g) ?? [], (h) => Number.parseInt(h, 16)));
      } else if (encoding === 'ascii') {
        if (!/^[\x20-\x7e]*$/.test(value)) throw new UsageError(`${where}: ${keyword} is not printable ASCII`);
        seen.set(keyword, Uint8Array.from(value, (c) => c.charCodeAt(0)));
      } else throw new UsageError(`${where}: ${keyword} takes hex or ascii`);
    } else if (kind === 'integer' || (kind === 'alg' && encoding === 'integer')) {
      if (encoding !== 'integer' || !/^-?\d{1,6}$/.test(value)) throw new UsageError(`${where}: ${keyword} takes an integer`);
      seen.set(keyword, Number(value));
    } else if (kind === 'alg') {
      if (encoding !== 'text' || !Object.hasOwn(TEXT_ALGS, value)) throw new UsageError(`${where}: ${keyword} takes ${Object.keys(TEXT_ALGS).join(' or ')} (text) or its number`);
      seen.set(keyword, TEXT_ALGS[value]!);
    } else {
      if (encoding !== 'bool' || (value !== 'true' && value !== 'false')) throw new UsageError(`${where}: ${keyword} takes bool true or false`);
      seen.set(keyword, value === 'true');
    }
  });
  const bytes = (k: string) => seen.get(k) as Uint8Array | undefined;
  const num = (k: string) => seen.get(k) as number | undefined;
  const masterSecret = bytes('master_secret');
  const senderId = bytes('sender_id');
  const recipientId = bytes('recipient_id');
  if (!masterSecret || masterSecret.length === 0) throw new UsageError(`${what}: master_secret is required`);
  if (masterSecret.length > MAX_SECRET_BYTES) throw new UsageError(`${what}: master_secret longer than ${MAX_SECRET_BYTES} bytes`);
  if (!senderId) throw new UsageError(`${what}: sender_id is required`);
  if (!recipientId) throw new UsageError(`${what}: recipient_id is required (the one peer this context talks to)`);
  for (const [k, v] of [['sender_id', senderId], ['recipient_id', recipientId]] as const) {
    if (v.length > MAX_ID_BYTES) throw new UsageError(`${what}: ${k} longer than ${MAX_ID_BYTES} bytes (RFC 8613 §3.3)`);
  }
  // RFC 8613 §3.3: the two IDs of one context must differ.
  if (senderId.length === recipientId.length && senderId.every((b, i) => b === recipientId[i])) throw new UsageError(`${what}: sender_id and recipient_id must differ`);
  const aeadAlg = num('aead_alg') ?? 10;
  const hkdfAlg = num('hkdf_alg') ?? -10;
  if (aeadAlg !== 10) throw new UsageError(`${what}: aead_alg ${aeadAlg} is not supported (10: AES-CCM-16-64-128)`);
  if (hkdfAlg !== -10) throw new UsageError(`${what}: hkdf_alg ${hkdfAlg} is not supported (-10: direct+HKDF-SHA-256)`);
  const replayWindow = num('replay_window') ?? 32;
  // libcoap's range: its own interop files (b_server.conf) say 30. See oscoreContextInputOf.
  if (replayWindow < 1 || replayWindow > 63) throw new UsageError(`${what}: replay_window takes 1 to 63`);
  const ssnFreq = num('ssn_freq');
  if (ssnFreq !== undefined && (ssnFreq < 1 || ssnFreq > 100_000)) throw new UsageError(`${what}: ssn_freq takes 1 to 100000`);
  if (seen.get('rfc8613_b_2') === true) throw new UsageError(`${what}: rfc8613_b_2 (Appendix B.2 context re-derivation) is not supported`);
  const salt = bytes('master_salt');
  const idContext = bytes('id_context');
  return {
    masterSecret,
    ...(salt ? { masterSalt: salt } : {}),
    ...(idContext ? { idContext } : {}),
    senderId,
    recipientId,
    aeadAlg,
    hkdfAlg,
    replayWindow,
    ...(ssnFreq !== undefined ? { ssnFreq } : {}),
  };
}

/** `--oscore-conf FILE`: read (bounded), parsed, and a warning when others may read the secret. */
export function readOscoreConf(file: string, what: string, io: CliIo): OscoreConf {
  const conf = parseOscoreConf(readSecretFile(file, what), what);
  if (readableByOthers(file)) io.stderr.write(`keybound: warning: ${what} ${file.slice(0, 200)} holds a Master Secret and others may read it (chmod 600)\n`);
  return conf;
}

/** The context input of cose/'s deriveOscoreContext (the store is the device's or the client's own). */
export function oscoreContextInputOf(conf: OscoreConf) {
  return {
    masterSecret: conf.masterSecret,
    ...(conf.masterSalt ? { masterSalt: conf.masterSalt } : {}),
    ...(conf.idContext ? { idContext: conf.idContext } : {}),
    senderId: conf.senderId,
    recipientId: conf.recipientId,
    aeadAlg: conf.aeadAlg,
    hkdfAlg: conf.hkdfAlg,
    // cose/'s window is never narrower than RFC 8613 §7.4's default (32) and deriveOscoreContext
    // refuses less: a libcoap file's 30 would stop the device at start. A wider window still
    // accepts each Partial IV once (§7.4), it only tolerates more reordering.
    replayWindow: Math.max(conf.replayWindow, OSCORE_DEFAULT_REPLAY_WINDOW),
  };
}
