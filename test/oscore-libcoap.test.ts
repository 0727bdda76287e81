/**
 * OSCORE (RFC 8613) against the independent peer, libcoap 4.3.5 (built from ../shared/peers, see
 * test/support/libcoap.ts): keybound's protection (cose/) as a client of libcoap's `coap-server -E`
 * and of its `oscore-interop-server` (with an ID Context sent as kid context),
 * and as the server behind a small UDP responder (test/support/oscore-udp.ts) for
 * `coap-client -E`: the right keys get 2.05, a wrong Master Secret is refused (4.00), a replayed
 * sequence number gets 4.01 "Replay detected", and after the responder restarts libcoap's next
 * request is accepted while an old one is still refused. Configuration files are written in
 * coap-oscore-conf(5) format (libcoap's man/coap-oscore-conf.txt.in).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COAP_OPTION,
  deriveOscoreContext,
  fromHex,
  fromUtf8,
  memoryOscoreStorage,
  OSCORE_ERR,
  OscoreState,
  portableProvider,
  utf8,
  type OscorePersistedState,
  type OscoreStateStorage,
} from '../cose/index.js';
import { findLibcoap, LIBCOAP_MISSING } from './support/libcoap.js';
import { exchange, freeUdpPort, oscoreGet, startResponder, type Responder } from './support/oscore-udp.js';
import { stop } from './support/processes.js';

const run = promisify(execFile);
const peer = findLibcoap();
const SECRET = '0102030405060708090a0b0c0d0e0f10';
const SALT = '9e7ca92223786340';
const BODY = 'result: 42';

function conf(sender: string, recipient: string, secret = SECRET): string {
  return [
    `master_secret,hex,"${secret}"`,
    `master_salt,hex,"${SALT}"`,
    `sender_id,ascii,"${sender}"`,
    `recipient_id,ascii,"${recipient}"`,
    'replay_window,integer,32',
    'aead_alg,integer,10',
    'hkdf_alg,integer,-10',
    '',
  ].join('\n');
}

function context(sender: string, recipient: string, secret = SECRET) {
  return deriveOscoreContext({ masterSecret: fromHex(secret), masterSalt: fromHex(SALT), senderId: utf8(sender), recipientId: utf8(recipient) }, portableProvider);
}

/** A file-backed state store, as a device keeps it across restarts. */
function fileStorage(path: string): OscoreStateStorage {
  return {
    load: () => {
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as OscorePersistedState;
      } catch {
        return undefined;
      }
    },
    save: (s) => writeFileSync(path, JSON.stringify(s)),
  };
}

describe.skipIf(!peer)(`OSCORE against libcoap 4.3.5${peer ? '' : ` (skipped: ${LIBCOAP_MISSING})`}`, () => {
  let dir: string;
  let server: ChildProcess;
  let serverPort: number;
  let responder: Responder;
  const serverCtx = context('server', 'client');
  let stateFile: string;

  async function coapClient(confName: string, seqFile: string, uri: string): Promise<string> {
    const { stdout, stderr } = await run(peer!.client, ['-B', '5', '-E', `${join(dir, confName)},${join(dir, seqFile)}`, uri], { timeout: 15_000 });
    return (stdout + stderr).trim();
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-oscore-'));
    writeFileSync(join(dir, 'server.conf'), conf('server', 'client'));
    writeFileSync(join(dir, 'client.conf'), conf('client', 'server'));
    writeFileSync(join(dir, 'wrong.conf'), conf('client', 'server', 'ff'.repeat(16)));
    serverPort = await freeUdpPort();
    server = spawn(peer!.server, ['-A', '127.0.0.1', '-p', String(serverPort), '-E', join(dir, 'server.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    server.stderr!.resume();
    stateFile = join(dir, 'responder-state.json');
    responder = await startResponder(serverCtx, OscoreState.open(serverCtx, fileStorage(stateFile)), BODY);
  });

  afterAll(async () => {
    await stop(server);
    await responder?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a keybound OSCORE client reads coap-server -E /time: 2.05 (after answering its Echo challenge, RFC 8613 §B.1.2)', async () => {
    const ctx = context('client', 'server');
    const { inner, outer, echoed } = await oscoreGet(ctx, OscoreState.open(ctx, memoryOscoreStorage()), serverPort, ['time']);
    expect(echoed).toBe(true);
    expect(outer.options.some((o) => o.number === COAP_OPTION.OSCORE)).toBe(true);
    expect(inner?.code).toBe(69);
    expect(fromUtf8(inner!.payload)).toMatch(/^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$/);
  });

  it("a keybound client with RFC 8613 C.3's context (kid context sent) reads libcoap's oscore-interop-server (examples/interop/d_server.conf)", async () => {
    const conf = readFileSync(join(peer!.sourceDir, 'examples', 'interop', 'd_server.conf'), 'utf8');
    writeFileSync(join(dir, 'd_server.conf'), conf);
    const port = await freeUdpPort();
    const interop = spawn(peer!.interopServer, ['-A', '127.0.0.1', '-p', String(port), '-E', join(dir, 'd_server.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    interop.stderr!.resume();
    try {
      const ctx = deriveOscoreContext(
        { masterSecret: fromHex(SECRET), masterSalt: fromHex(SALT), idContext: fromHex('37cbf3210017a2d3'), senderId: new Uint8Array(0), recipientId: fromHex('01') },
        portableProvider,
      );
      const { inner } = await oscoreGet(ctx, OscoreState.open(ctx, memoryOscoreStorage()), port, ['oscore', 'hello', '1'], [], { sendKidContext: true });
      expect([inner?.code, fromUtf8(inner!.payload)]).toEqual([69, 'Hello World!']);
    } finally {
      await stop(interop);
    }
  });

  it('coap-server refuses a keybound client with the wrong Master Secret: unprotected 4.00 (Decryption failed)', async () => {
    const ctx = context('client', 'server', 'ff'.repeat(16));
    // A sequence number libcoap's window has not seen, so that the refusal is the key's.
    const fresh = memoryOscoreStorage({ senderSequenceLimit: 1000, replayHighest: -1, replayBitmap: '0' });
    const { inner, outer } = await oscoreGet(ctx, OscoreState.open(ctx, fresh), serverPort, ['time']);
    expect(inner).toBeUndefined();
    expect([outer.code, fromUtf8(outer.payload)]).toEqual([128, 'Decryption failed']);
  });

  it('coap-client -E reads the keybound responder /result: 2.05 with the body', async () => {
    expect(await coapClient('client.conf', 'seq', `coap://127.0.0.1:${responder.port}/result`)).toBe(BODY);
    expect(responder.refusals).toEqual([]);
  });

  it('coap-client -E with the wrong Master Secret is refused: the responder answers 4.00 Decryption failed', async () => {
    // A number the window has not seen, so that the refusal is the key's, not the replay check's.
    writeFileSync(join(dir, 'seq-w'), '1000\n');
    const out = await coapClient('wrong.conf', 'seq-w', `coap://127.0.0.1:${responder.port}/result`);
    expect(out).not.toContain(BODY);
    expect(responder.refusals.at(-1)).toBe(OSCORE_ERR.DECRYPT_FAILED);
  });

  it('a replayed sequence number gets 4.01 Replay detected: a datagram sent again, and coap-client with its sequence file rewound', async () => {
    const before = responder.received.length;
    expect(await coapClient('client.conf', 'seq', `coap://127.0.0.1:${responder.port}/result`)).toBe(BODY);
    const captured = responder.received[before]!;
    const token = captured.subarray(4, 4 + (captured[0]! & 0x0f));
    const again = await exchange(captured, token, responder.port);
    expect([again.code, fromUtf8(again.payload)]).toEqual([129, 'Replay detected']);
    expect(again.options.some((o) => o.number === COAP_OPTION.OSCORE)).toBe(false);
    // libcoap keeps its next sequence number in the file: rewinding it makes it reuse one.
    writeFileSync(join(dir, 'seq-r'), '0\n');
    expect(await coapClient('client.conf', 'seq-r', `coap://127.0.0.1:${responder.port}/result`)).toContain('4.01 Replay detected');
    expect(responder.refusals.slice(-2)).toEqual([OSCORE_ERR.REPLAY, OSCORE_ERR.REPLAY]);
  });

  it("after the responder restarts (state from its storage), coap-client's next request is accepted and an old one still refused", async () => {
    const before = responder.received.length;
    expect(await coapClient('client.conf', 'seq', `coap://127.0.0.1:${responder.port}/result`)).toBe(BODY);
    const old = responder.received[before]!;
    await responder.close();
    responder = await startResponder(serverCtx, OscoreState.open(serverCtx, fileStorage(stateFile)), BODY);
    expect(await coapClient('client.conf', 'seq', `coap://127.0.0.1:${responder.port}/result`)).toBe(BODY);
    const again = await exchange(old, old.subarray(4, 4 + (old[0]! & 0x0f)), responder.port);
    expect([again.code, fromUtf8(again.payload)]).toEqual([129, 'Replay detected']);
  });
});
