/**
 * A UDP man in the middle for CoAP tests: listens on a port of its own, forwards each client
 * datagram to the target and the target's answers back, and keeps what the client sent, so a test
 * can replay a captured request (an attacker on the path, RFC 8613 §7.4) from a socket of its own.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface UdpProxy {
  readonly port: number;
  /** Every datagram a client sent through the proxy, in order. */
  readonly captured: Buffer[];
  /** Sends `datagram` to the target from a fresh socket and resolves with the first answer (or undefined after `ms`). */
  replay(datagram: Buffer, ms?: number): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/** `rewrite` changes each client datagram on its way to the target (an on-path rewriter); `captured` keeps them as sent. */
export async function startUdpProxy(targetPort: number, targetHost = '127.0.0.1', rewrite: (datagram: Buffer) => Buffer = (d) => d): Promise<UdpProxy> {
  const front = createSocket('udp4');
  const captured: Buffer[] = [];
  /** One back socket per client address, so answers find their way home. */
  const backs = new Map<string, Socket>();
  const extra = new Set<Socket>();
  front.on('message', (msg, rinfo) => {
    captured.push(Buffer.from(msg));
    const key = `${rinfo.address}:${rinfo.port}`;
    let back = backs.get(key);
    if (!back) {
      back = createSocket('udp4');
      back.on('message', (answer) => front.send(answer, rinfo.port, rinfo.address));
      backs.set(key, back);
    }
    back.send(rewrite(msg), targetPort, targetHost);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    captured,
    replay(datagram, ms = 2000) {
      const sock = createSocket('udp4');
      extra.add(sock);
      return new Promise((resolve) => {
        const t = setTimeout(() => (sock.close(), extra.delete(sock), resolve(undefined)), ms);
        sock.once('message', (answer) => {
          clearTimeout(t);
          sock.close();
          extra.delete(sock);
          resolve(Buffer.from(answer));
        });
        sock.send(datagram, targetPort, targetHost);
      });
    },
    async close() {
      for (const s of [...backs.values(), ...extra]) s.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
