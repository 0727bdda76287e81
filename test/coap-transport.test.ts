/**
 * The device's CoAP transport (device/adapters/coap-transport.ts, issue 12) against libcoap 4.3.5's
 * coap-client, the independent peer: block-wise both ways (RFC 7959; libcoap changes the token
 * between blocks, which node-coap's own Block1 reassembly cannot follow), Observe (RFC 7641) and
 * its deregistration; and against hostile datagrams: oversized bodies (4.13 + Size1), blocks out
 * of order (4.08), a flood of reassemblies (bounded overall and per peer), a handler that throws.
 * The resources here are the test's own; the transport is the real one on a real UDP port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createBlock1Reassembler,
  encodeBlockOption,
  parseBlockOption,
  startCoapTransport,
  DEFAULT_BLOCK1_LIMITS,
  type CoapExchange,
  type CoapTransport,
} from '../device/adapters/index.js';
import { findLibcoap, LIBCOAP_MISSING } from './support/libcoap.js';
import { main } from '../cli/index.js';

/** `keybound request ...` in process: its exit code, stdout and stderr. */
async function keybound(args: string[]) {
  const out: Buffer[] = [];
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string | Uint8Array) => out.push(Buffer.from(t)) }, stderr: { write: (t: string) => (stderr += t) } });
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString('utf8'), stdoutBytes: new Uint8Array(bytes), stderr };
}

const libcoap = findLibcoap();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// node-coap's own packet codec, to write the hostile datagrams libcoap would never send.
const coapRequire = createRequire(createRequire(import.meta.url).resolve('coap'));
interface RawPacket {
  code: string;
  messageId?: number;
  token?: Buffer;
  confirmable?: boolean;
  ack?: boolean;
  options?: { name: string; value: Buffer }[];
  payload?: Buffer;
}
const { generate, parse } = coapRequire('coap-packet') as {
  generate(p: RawPacket, maxLength?: number): Buffer;
  parse(b: Buffer): Required<RawPacket> & { options: { name: string; value: Buffer }[] };
};

describe('Block1 reassembly (RFC 7959 §2.5), keyed on the body, not the token', () => {
  const limits = { ...DEFAULT_BLOCK1_LIMITS, maxBodyBytes: 256, maxReassemblies: 3, maxPerPeer: 2, timeoutMs: 1000 };
  const block = (num: number, more: boolean, szx = 2) => ({ num, more, szx }); // 64-byte blocks
  const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

  it('parses and writes the option value (SZX 7 is reserved)', () => {
    for (const b of [block(0, false, 0), block(1, true, 6), block(4095, true, 2), block(1048575, false, 6)]) {
      expect(parseBlockOption(encodeBlockOption(b))).toEqual(b);
    }
    expect(parseBlockOption(Uint8Array.of(0x0f))).toBeUndefined();
    expect(parseBlockOption(Uint8Array.of(1, 2, 3, 4))).toBeUndefined();
  });

  it('joins blocks in order, acknowledges a retransmitted one, refuses gaps with 4.08', () => {
    let now = 0;
    const r = createBlock1Reassembler(limits, () => now);
    expect(r.take('p', 'k', block(0, true), bytes(64, 1), undefined)).toMatchObject({ kind: 'continue', block1: block(0, true) });
    expect(r.take('p', 'k', block(0, true), bytes(64, 1), undefined)).toMatchObject({ kind: 'continue' }); // retransmission
    expect(r.take('p', 'k', block(1, true), bytes(64, 2), undefined)).toMatchObject({ kind: 'continue' });
    const done = r.take('p', 'k', block(2, false), bytes(10, 3), undefined);
    expect(done.kind).toBe('complete');
    if (done.kind === 'complete') expect(Array.from(done.body)).toEqual([...bytes(64, 1), ...bytes(64, 2), ...bytes(10, 3)]);
    expect(r.size).toBe(0);
    expect(r.take('p', 'k', block(3, false), bytes(1), undefined)).toMatchObject({ kind: 'refuse', code: '4.08' }); // no body in progress
    r.take('p', 'k', block(0, true), bytes(64), undefined);
    expect(r.take('p', 'k', block(2, true), bytes(64), undefined)).toMatchObject({ kind: 'refuse', code: '4.08' }); // skipped block 1
    expect(r.size).toBe(0);
  });

  it('refuses a body over the bound with 4.13 and Size1, from Size1 or from the block number, before storing it', () => {
    const r = createBlock1Reassembler(limits, () => 0);
    expect(r.take('p', 'k', block(0, true), bytes(64), 100_000)).toEqual({ kind: 'refuse', code: '4.13', reason: 'body too large', size1: 256 });
    // A block number far out: refused without allocating the offset (node-coap would Buffer.alloc it).
    expect(r.take('p', 'k', block(1_000_000, false), bytes(8), undefined)).toMatchObject({ code: '4.13' });
    r.take('p', 'k', block(0, true), bytes(64), undefined);
    for (const n of [1, 2, 3]) r.take('p', 'k', block(n, true), bytes(64), undefined);
    expect(r.take('p', 'k', block(4, false), bytes(1), undefined)).toMatchObject({ code: '4.13' });
    expect(r.size).toBe(0);
    expect(r.take('p', 'k', block(0, true), bytes(63), undefined)).toMatchObject({ code: '4.00' }); // a middle block must be full
  });

  it('holds a bounded number of bodies: per peer and overall the oldest goes, and old ones time out', () => {
    let now = 0;
    const r = createBlock1Reassembler(limits, () => now);
    for (const k of ['a', 'b', 'c']) r.take('p1', k, block(0, true), bytes(64), undefined);
    expect(r.size).toBe(2); // per peer: 'a' dropped for 'c'
    expect(r.take('p1', 'a', block(1, false), bytes(1), undefined)).toMatchObject({ code: '4.08' });
    for (const k of ['d', 'e']) r.take('p2', k, block(0, true), bytes(64), undefined);
    expect(r.size).toBe(3); // overall
    now = 2000;
    r.sweep();
    expect(r.size).toBe(0);
  });
});

async function coapClient(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(libcoap!.client, args, { timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error ? Number((error as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

/** One datagram out, the first answer back (or undefined after `ms`). */
async function exchange(sock: Socket, port: number, packet: RawPacket, ms = 2000) {
  return new Promise<ReturnType<typeof parse> | undefined>((resolve) => {
    const t = setTimeout(() => (sock.off('message', on), resolve(undefined)), ms);
    const token = packet.token ?? Buffer.from('0102', 'hex');
    const on = (msg: Buffer) => {
      const answer = parse(msg);
      if (!answer.token.equals(token)) return; // a notification of another exchange
      clearTimeout(t);
      sock.off('message', on);
      resolve(answer);
    };
    sock.on('message', on);
    sock.send(generate({ confirmable: true, messageId: Math.floor(Math.random() * 65535), ...packet, token }, 65_000), port, '127.0.0.1');
  });
}

const uriPath = (p: string) => ({ name: 'Uri-Path', value: Buffer.from(p) });
const block1 = (num: number, more: boolean, szx: number) => ({ name: 'Block1', value: Buffer.from(encodeBlockOption({ num, more, szx })) });

describe.skipIf(!libcoap)(`the CoAP transport against libcoap's coap-client${libcoap ? '' : ` (${LIBCOAP_MISSING})`}`, () => {
  let transport: CoapTransport;
  let dir: string;
  const received: CoapExchange[] = [];
  const refusals: string[] = [];
  const big = new Uint8Array(3000).map((_, i) => 65 + (i % 26));
  let ticks: ReturnType<typeof setInterval> | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-coap-'));
    transport = await startCoapTransport({
      block1: { maxBodyBytes: 8 * 1024, maxReassemblies: 8, maxPerPeer: 2 },
      maxObservers: 4,
      onRefusal: (reason) => refusals.push(reason),
      handler: (ex) => {
        received.push(ex);
        if (ex.path === '/upload' && ex.method === 'POST') return { code: '2.04', payload: new TextEncoder().encode(sha(ex.payload)) };
        if (ex.path === '/big') return { code: '2.05', payload: big };
        if (ex.path === '/boom') throw new Error('the resource failed');
        if (ex.path === '/counter') {
          let n = 0;
          return {
            code: '2.05',
            payload: new TextEncoder().encode('n0'),
            observe: (notify) => {
              ticks = setInterval(() => notify({ code: '2.05', payload: new TextEncoder().encode(`n${++n}`) }), 150);
              return () => (clearInterval(ticks), (ticks = undefined));
            },
          };
        }
        return { code: '4.04' };
      },
    });
  });

  afterAll(async () => {
    await transport?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a 2 KB body in 64-byte blocks from coap-client -b 64 -m post (a new token per block)', async () => {
    const body = new Uint8Array(2048).map((_, i) => (i * 7) % 251);
    const file = join(dir, 'body.bin');
    writeFileSync(file, body);
    const r = await coapClient(['-b', '64', '-m', 'post', '-f', file, `coap://127.0.0.1:${transport.port}/upload`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(sha(body)); // the handler saw exactly the bytes sent, once
    expect(received.filter((e) => e.path === '/upload')).toHaveLength(1);
    expect(transport.reassemblies).toBe(0);
  });

  it('serves a 3000-byte answer block by block (Block2) to coap-client -b 64', async () => {
    const r = await coapClient(['-b', '64', `coap://127.0.0.1:${transport.port}/big`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.replace(/\n$/, '')).toBe(new TextDecoder().decode(big));
  });

  it('refuses a body over the bound with 4.13 and Size1 (coap-client gets 4.13)', async () => {
    const file = join(dir, 'huge.bin');
    writeFileSync(file, new Uint8Array(20_000));
    const r = await coapClient(['-b', '1024', '-m', 'post', '-f', file, `coap://127.0.0.1:${transport.port}/upload`]);
    expect(r.stdout + r.stderr).toContain('4.13');
    expect(refusals).toContain('body_too_large');
    expect(received.filter((e) => e.path === '/upload')).toHaveLength(1); // the handler never saw it
  });

  it('notifies an observer (RFC 7641) and stops when coap-client deregisters', async () => {
    const r = await coapClient(['-s', '1', '-B', '3', `coap://127.0.0.1:${transport.port}/counter`]);
    expect(r.stdout).toMatch(/^n0n1n2/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(transport.observers).toBe(0);
    expect(ticks).toBeUndefined();
  });

  it('answers hostile datagrams without growing or crashing', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    try {
      // A block that continues no body: 4.08 Request Entity Incomplete (RFC 7959 §2.9.2).
      const gap = await exchange(sock, transport.port, { code: '0.02', options: [uriPath('upload'), block1(3, true, 2)], payload: Buffer.alloc(64) });
      expect(gap?.code).toBe('4.08');
      expect(gap?.ack).toBe(true);
      // SZX 7 is reserved: 4.00.
      const bad = await exchange(sock, transport.port, { code: '0.02', options: [uriPath('upload'), { name: 'Block1', value: Buffer.of(0x0f) }], payload: Buffer.alloc(8) });
      expect(bad?.code).toBe('4.00');
      // A flood of first blocks to many targets from one peer: at most maxPerPeer kept.
      for (let i = 0; i < 20; i++) {
        const cont = await exchange(sock, transport.port, { code: '0.02', options: [uriPath(`f${i}`), block1(0, true, 2)], payload: Buffer.alloc(64) });
        expect(cont?.code).toBe('2.31');
      }
      expect(transport.reassemblies).toBeLessThanOrEqual(2);
      // A single datagram over the bound: 4.13 with Size1 = the bound.
      const whole = await exchange(sock, transport.port, { code: '0.02', options: [uriPath('upload')], payload: Buffer.alloc(9000) });
      expect(whole?.code).toBe('4.13');
      expect(whole?.options.find((o) => o.name === 'Size1')?.value.readUIntBE(0, 2)).toBe(8 * 1024);
      // A flood of first-block GETs of a large answer, each with a fresh token: the bodies held
      // between blocks stay bounded (node-coap alone keeps each for 247 s).
      for (let i = 0; i < 60; i++) {
        const first = await exchange(sock, transport.port, { code: '0.01', token: Buffer.from([i, 1, 2, 3]), options: [uriPath('big')] });
        expect(first?.code).toBe('2.05');
      }
      expect(transport.block2Bodies).toBeLessThanOrEqual(32);
      // Observers are budgeted per address (a quarter of 4 here): a second registration from the
      // same host gets a plain answer (RFC 7641 §4.1), and a GET with Observe 1 ends the first.
      const observe = (n: number) => ({ name: 'Observe', value: n === 0 ? Buffer.alloc(0) : Buffer.of(n) });
      const a = await exchange(sock, transport.port, { code: '0.01', token: Buffer.from('aa', 'hex'), options: [observe(0), uriPath('counter')] });
      expect(a?.options.some((o) => o.name === 'Observe')).toBe(true);
      const b = await exchange(sock, transport.port, { code: '0.01', token: Buffer.from('bb', 'hex'), options: [observe(0), uriPath('counter')] });
      expect([b?.code, b?.options.some((o) => o.name === 'Observe')]).toEqual(['2.05', false]);
      expect(transport.observers).toBe(1);
      const stop = await exchange(sock, transport.port, { code: '0.01', token: Buffer.from('aa', 'hex'), options: [observe(1), uriPath('counter')] });
      expect(stop?.code).toBe('2.05');
      expect(transport.observers).toBe(0);
      // A resource that throws: 5.00, and the transport still serves.
      const boom = await exchange(sock, transport.port, { code: '0.01', options: [uriPath('boom')] });
      expect(boom?.code).toBe('5.00');
    } finally {
      sock.close();
    }
    const after = await coapClient([`coap://127.0.0.1:${transport.port}/big`]);
    expect(after.stdout.length).toBeGreaterThanOrEqual(3000);
  });
});

describe('keybound request coap://', () => {
  let transport: CoapTransport;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybound-coap-cli-'));
    transport = await startCoapTransport({
      handler: (ex) =>
        ex.path === '/upload'
          ? { code: '2.04', payload: new TextEncoder().encode(sha(ex.payload)) }
          : ex.path === '/echo'
            ? { code: '2.05', payload: ex.payload }
            : { code: '4.04', payload: new TextEncoder().encode('no such resource') },
    });
  });
  afterAll(async () => {
    await transport?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts a 5000-byte file block-wise and prints the answer (code on stderr, exit 0)', async () => {
    const body = new Uint8Array(5000).map((_, i) => (i * 13) % 256);
    writeFileSync(join(dir, 'b.bin'), body);
    const r = await keybound(['request', `coap://127.0.0.1:${transport.port}/upload`, '--method', 'POST', '--payload-file', join(dir, 'b.bin')]);
    expect([r.code, r.stderr.trim(), r.stdout.trim()]).toEqual([0, '2.04', sha(body)]);
  });

  it('prints a binary answer (CBOR) as its bytes, unchanged and with no line end added (README walkthrough, stop 35)', async () => {
    const cbor = Uint8Array.of(0xa2, 0x01, 0x58, 0x03, 0xff, 0xfe, 0x00, 0x02, 0x19, 0x80, 0x00);
    writeFileSync(join(dir, 'c.cbor'), cbor);
    const r = await keybound(['request', `coap://127.0.0.1:${transport.port}/echo`, '--method', 'POST', '--payload-file', join(dir, 'c.cbor')]);
    expect(r.code).toBe(0);
    expect([...r.stdoutBytes]).toEqual([...cbor]);
  });

  it('exits 1 on a 4.xx answer, and on no answer within --timeout', async () => {
    const r = await keybound(['request', `coap://127.0.0.1:${transport.port}/nothing`]);
    expect([r.code, r.stderr.trim(), r.stdout.trim()]).toEqual([1, '4.04', 'no such resource']);
    const sock = createSocket('udp4'); // bound and silent: nobody answers there
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    try {
      const t = await keybound(['request', `coap://127.0.0.1:${sock.address().port}/x`, '--timeout', '500']);
      expect([t.code, t.stderr]).toEqual([1, expect.stringContaining('no answer within 500 ms')]);
    } finally {
      sock.close();
    }
  });

  it('refuses targets that are not coap:// URLs', async () => {
    for (const target of ['http://127.0.0.1/x', 'coaps://127.0.0.1/x', 'not a url', 'coap://u:p@127.0.0.1/x']) {
      expect((await keybound(['request', target])).code, target).toBe(2);
    }
  });
});
