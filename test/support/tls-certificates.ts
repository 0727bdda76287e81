/**
 * Certificates made by Debian's openssl, as an operator would: a private CA, a server certificate
 * for 127.0.0.1 and localhost signed by it, and a second, unrelated CA (the wrong one to trust);
 * client certificates for RFC 8705 tests, and their x5t#S256 as openssl alone computes it.
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

/** A self-signed EC P-256 CA `name`.pem / `name`.key in `dir`. */
export function makeCa(dir: string, name: string, subj: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subj], { cwd: dir, stdio: 'pipe' });
}

/** An EC P-256 client certificate `name`.pem / `name`.key with `subj`, signed by CA `ca` (self-signed without one). */
export function makeClientCertificate(dir: string, name: string, subj: string, ca?: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  if (!ca) return makeCa(dir, name, subj);
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
  writeFileSync(join(dir, `${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

/** RFC 8705 §3.1 x5t#S256 by openssl alone: `openssl x509 -outform DER | openssl dgst -sha256`, base64url. */
export function opensslX5t(pemFile: string): string {
  const der = execFileSync('openssl', ['x509', '-in', pemFile, '-outform', 'DER']);
  const hex = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0]!;
  return Buffer.from(hex, 'hex').toString('base64url');
}
