/**
 * curl as the independent HTTPS client of the service: trusting one CA file, optionally with a
 * TLS client certificate (RFC 8705), posting a form or getting a page; status and body back.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CurlOptions {
  /** The CA file the service's certificate chains to. */
  cacert: string;
  /** A client certificate and its key (PEM files). */
  cert?: { pem: string; key: string };
  /** Extra request headers (a DPoP proof). */
  headers?: Record<string, string>;
}

export interface CurlReply {
  status: number;
  body: string;
  /** The body as JSON, when it is. */
  json?: Record<string, unknown>;
}

/** GET (no form) or POST application/x-www-form-urlencoded (with one). */
export async function curl(url: string, opts: CurlOptions, form?: Record<string, string>): Promise<CurlReply> {
  const args = ['-sS', '--max-time', '10', '--cacert', opts.cacert, '-w', '\n%{http_code}'];
  if (opts.cert) args.push('--cert', opts.cert.pem, '--key', opts.cert.key);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  for (const [k, v] of Object.entries(form ?? {})) args.push('--data-urlencode', `${k}=${v}`);
  const { stdout } = await run('curl', [...args, url], { encoding: 'utf8' });
  const i = stdout.lastIndexOf('\n');
  const body = stdout.slice(0, i);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: Number(stdout.slice(i + 1)), body, ...(json ? { json } : {}) };
}
