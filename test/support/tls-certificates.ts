/**
 * Certificates made by Debian's openssl, as an operator would: a private CA, a server certificate
 * for 127.0.0.1 and localhost signed by it, and a second, unrelated CA (the wrong one to trust).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** PEM of the CA that signed the server certificate. */
  ca: string;
  /** PEM of another CA, which signed nothing the server shows. */
  otherCa: string;
  cert: string;
  key: string;
  /** Paths of the same files in `dir`. */
  files: { ca: string; otherCa: string; cert: string; key: string };
}

export function makeCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=keybound test CA');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=another CA');
  const files = { ca: join(dir, 'ca.pem'), otherCa: join(dir, 'other.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  const read = (f: string) => readFileSync(f, 'utf8');
  return { ca: read(files.ca), otherCa: read(files.otherCa), cert: read(files.cert), key: read(files.key), files };
}
