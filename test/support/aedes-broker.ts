/** A plain aedes broker (no keybound admission) on a real loopback port chosen by the OS. */
import net from 'node:net';

export interface AedesBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startAedes(): Promise<AedesBroker> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
