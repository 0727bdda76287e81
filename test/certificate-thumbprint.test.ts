/**
 * sender-constraint/certificate-thumbprint.ts (RFC 8705 §3.1): the `x5t#S256` we compute for a
 * certificate made by Debian's openssl equals base64url of `openssl x509 -outform DER | openssl
 * dgst -sha256`; PEM is decoded strictly and bounded; a binding to another certificate is refused.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CertificateBindingError,
  MAX_CERTIFICATE_BYTES,
  certificateDerFromPem,
  certificateThumbprint,
  checkCertificateBinding,
  isCertificateThumbprint,
} from '../sender-constraint/index.js';
import { makeCertificates } from './support/tls-certificates.js';

const dir = mkdtempSync(join(tmpdir(), 'x5t-'));
const certs = makeCertificates(dir);

/** What openssl says, without our code: DER out of x509, SHA-256 by dgst, then base64url. */
function opensslThumbprint(pemFile: string): string {
  const der = execFileSync('openssl', ['x509', '-in', pemFile, '-outform', 'DER']);
  const hex = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0]!;
  return Buffer.from(hex, 'hex').toString('base64url');
}

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof CertificateBindingError ? e.code : `not a CertificateBindingError: ${String(e)}`;
  }
  return 'no error';
};

describe('x5t#S256 (RFC 8705 §3.1)', () => {
  it('equals openssl x509 -outform DER | openssl dgst -sha256, base64url', () => {
    for (const f of [certs.files.cert, certs.files.ca, certs.files.otherCa]) {
      const ours = certificateThumbprint(certificateDerFromPem(readFileSync(f, 'utf8')));
      expect(ours).toBe(opensslThumbprint(f));
      expect(isCertificateThumbprint(ours)).toBe(true);
    }
  });

  it('checks a binding in constant time and refuses another certificate or a malformed cnf', () => {
    const der = certificateDerFromPem(certs.cert);
    const other = certificateDerFromPem(certs.otherCa);
    expect(() => checkCertificateBinding(der, certificateThumbprint(der))).not.toThrow();
    expect(codeOf(() => checkCertificateBinding(other, certificateThumbprint(der)))).toBe('bad_proof');
    expect(codeOf(() => checkCertificateBinding(der, undefined))).toBe('bad_proof');
    expect(codeOf(() => checkCertificateBinding(der, certificateThumbprint(der) + 'A'))).toBe('bad_proof');
    expect(codeOf(() => checkCertificateBinding(der, { 'x5t#S256': certificateThumbprint(der) }))).toBe('bad_proof');
  });
});

describe('PEM and DER at the door', () => {
  it('refuses two blocks, text around the armour, a key, bad base64 and non-DER', () => {
    expect(codeOf(() => certificateDerFromPem(certs.cert + certs.ca))).toBe('malformed');
    expect(codeOf(() => certificateDerFromPem(`junk\n${certs.cert}`))).toBe('malformed');
    expect(codeOf(() => certificateDerFromPem(certs.key))).toBe('malformed');
    expect(codeOf(() => certificateDerFromPem(certs.cert.replace(/\n([A-Za-z0-9+/]{4})/, '\n$1=')))).toBe('malformed');
    expect(codeOf(() => certificateDerFromPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'))).toBe('malformed');
    expect(codeOf(() => certificateThumbprint(new Uint8Array(0)))).toBe('malformed');
  });
  it('bounds size before decoding or hashing', () => {
    expect(codeOf(() => certificateThumbprint(new Uint8Array(MAX_CERTIFICATE_BYTES + 1).fill(0x30)))).toBe('too_large');
    expect(codeOf(() => certificateDerFromPem(`-----BEGIN CERTIFICATE-----\n${'A'.repeat(40_000)}\n-----END CERTIFICATE-----\n`))).toBe('too_large');
  });
});
