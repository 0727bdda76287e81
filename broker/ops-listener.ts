/**
 * The broker's operator endpoints on a small HTTP listener of their own (the broker has no other
 * HTTP): `/healthz` (the process answers), `/readyz` (listening, trust loaded, Redis reachable:
 * 200 or 503 with each check), `/metrics` (Prometheus text format, prom-client).
 *
 * Why a separate port on loopback rather than a token: Prometheus scrapes from the same host or
 * through a forwarded port, and the metrics name audiences and rates an attacker would like to
 * watch; binding to loopback keeps them off the network with nothing to configure or leak. GET
 * and HEAD only, no body read, no query string consulted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsListenerOptions {
  port: number;
  host: string;
  registry: Registry;
  readiness(): { ready: boolean; checks: Record<string, boolean> };
}

export interface OpsListener {
  readonly url: string;
  close(): Promise<void>;
}

/** Small and slow-proof: a scrape needs no more than this (node's defaults allow 300 s). */
const OPS_REQUEST_TIMEOUT_MS = 10_000;

export async function listenOps(opts: OpsListenerOptions): Promise<OpsListener> {
  const server: Server = createServer({ requestTimeout: OPS_REQUEST_TIMEOUT_MS, headersTimeout: OPS_REQUEST_TIMEOUT_MS }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      const r = opts.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }));
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType, 'cache-control': 'no-store' }).end(text),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
