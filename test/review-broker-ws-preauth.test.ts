/**
 * Review of issue 9, finding 4 (bounded before authentication), over WebSocket: `ws` holds a whole
 * frame before the packet meter sees a byte of it, and its frame limit was the admitted clients'
 * (maxPacketBytes + 5, 256 KiB by default) from the first frame on. Each unauthenticated socket
 * could so make the broker hold ~256 KiB (on TCP: MAX_CONNECT_BYTES, ~10.7 KB) until aedes'
 * CONNECT timeout (30 s): 300 sockets that announce a 250 KB frame and send 240 KB of it grew the
 * broker's RSS by 74 MB. Now each is closed at the frame header (close code 1009). Raw node:net sockets (HTTP upgrade by hand) against `keybound broker serve
 * --ws-port` as its own process (bin/keybound.js).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createIssuer, inbox, password } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { stop } from './support/processes.js';

const issuer = createIssuer();
let broker: BrokerProcess;
let wsPort: number;
let wsUrl: string;

beforeAll(async () => {
  broker = await serveBroker(trustFile(issuer.trust), ['--ws-port', '0']);
  wsUrl = broker.wsUrl!;
  wsPort = broker.wsPort!;
}, 60_000);

afterAll(async () => stop(broker?.proc));

/** Resolves true when the broker closes `socket` within `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** RFC 6455 §4.1 by hand, then one masked binary frame announcing `announced` bytes, of which `sent` are sent. */
async function openFrame(announced: number, sent: number): Promise<Socket> {
  const socket = tcpConnect(wsPort, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.on('error', () => {});
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const header = Buffer.alloc(14);
  header[0] = 0x82; // FIN, binary
  header[1] = 0x80 | 127; // masked, 64-bit length (§5.2)
  header.writeBigUInt64BE(BigInt(announced), 2);
  socket.write(header); // mask key: the last 4 bytes, zero
  socket.write(Buffer.alloc(sent, 0x10));
  return socket;
}

describe('before CONNACK, a WebSocket frame is held to the CONNECT bound too', () => {
  it('300 sockets announcing a 256 KB frame are each closed at its header, not held until the CONNECT timeout', async () => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) sockets.push(await openFrame(250_000, 240_000));
      const closed = await Promise.all(sockets.map((s) => closedWithin(s, 3000)));
      // Held, each would keep ~240 KB in the broker for 30 s (72 MB for these 300).
      expect(closed.filter(Boolean).length).toBe(300);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 60_000);

  it('an admitted client still sends packets up to maxPacketBytes over WebSocket (the positive case)', async () => {
    const w = issuer.token({ scope: [['big/#', ['sub']]] });
    const watcher = await connect(wsUrl, 'big-w', password(w.token, w.key, 'big-w'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('big/#', { qos: 0 });
    const { token, key } = issuer.token({ scope: [['big/#', ['pub']]] });
    const c = await connect(wsUrl, 'big-ws', password(token, key, 'big-ws'));
    await c.publishAsync('big/1', Buffer.alloc(200_000, 1), { qos: 1 });
    expect((await box.next(1)).map((m) => m.payload.length)).toEqual([200_000]);
    await Promise.all([watcher.endAsync(), c.endAsync()]);
  });
});
