/**
 * Review (issue 15, the broker's JSON log lines), attacked as deployed: `keybound broker serve`
 * as a process, CONNECTs from a client that holds no token at all. A refused CONNECT leaves one
 * warn line, and its message says why, from the token decoder's error. The attack: put a few
 * kilobytes of chosen text where the decoder quotes it (a crit(2) label, RFC 9052 §3.1), so that
 * every unauthenticated CONNECT writes a line ten times the usual size (disk and log-shipping
 * cost, and attacker text in the operator's view). Each line must stay short however large the
 * token, with attacker text cut as client ids and topics are (device/logger.ts MAX_LOG_TEXT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCbor, type CborValue } from '../cose/index.js';
import { connect, createIssuer, refusal } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { jsonLines, stop } from './support/processes.js';

/** A usual connect_refused line is ~300 bytes; this leaves room for every field and a long reason. */
const MAX_LINE = 700;
const BIG = 3000;

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await serveBroker(trustFile(createIssuer().trust));
}, 90_000);
afterAll(async () => {
  await stop(broker?.proc);
});

/** A COSE_Sign1 (RFC 9052 §4.2) with this protected header and unprotected header, junk payload and signature. */
function sign1(protectedHeader: Array<[CborValue, CborValue]>, unprotected: Array<[CborValue, CborValue]> = []): Uint8Array {
  return encodeCbor([encodeCbor(new Map(protectedHeader)), new Map(unprotected), new Uint8Array(10), new Uint8Array(64)]);
}

describe('a refused CONNECT leaves a short line, whatever the token quotes', () => {
  const hostile: Array<[string, Uint8Array]> = [
    ['crit(2) naming a 3000-character text label', sign1([[1, -8], [2, ['X'.repeat(BIG)]]])],
    ['crit(2) naming a 3000-byte byte-string label', sign1([[1, -8], [2, [new Uint8Array(BIG).fill(0x58)]]])],
    ['alg(1) a 3000-character text', sign1([[1, 'A'.repeat(BIG)]])],
    ['a 3000-byte kid(4)', sign1([[1, -8]], [[4, new Uint8Array(BIG).fill(0x41)]])],
    ['an unknown 3000-character header label', sign1([[1, -8], ['Y'.repeat(BIG), 1]])],
  ];
  it.each(hostile)('%s: refused, and its line is under MAX_LINE bytes', async (what, token) => {
    const clientId = `c-${what.length}`;
    const before = broker.stderr.length;
    expect(await refusal(connect(broker.url, clientId, Buffer.from(encodeCbor([token, new Uint8Array(20)]))))).toBeGreaterThan(0);
    for (let i = 0; i < 100 && !broker.stderr.slice(before).includes('connect_refused'); i++) await new Promise((r) => setTimeout(r, 50));
    const lines = jsonLines(broker.stderr.slice(before)).filter((l) => l.event === 'connect_refused');
    expect(lines).toHaveLength(1);
    const raw = JSON.stringify(lines[0]);
    expect(raw.length).toBeLessThan(MAX_LINE);
    expect(raw).not.toMatch(/X{100}|Y{100}|A{100}/);
  });
});
