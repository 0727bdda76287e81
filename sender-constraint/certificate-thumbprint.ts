/**
 * The certificate a token is bound to (RFC 8705 §3.1): `cnf` carries `x5t#S256`, the base64url
 * (no padding) SHA-256 of the DER encoding of the client's X.509 certificate. The service computes
 * it from the certificate the client authenticated with at /token; a resource server or the
 * gateway computes it from the certificate presented to it and compares (§3.2). Nothing here
 * parses ASN.1: the thumbprint is over the raw DER bytes, as the RFC defines it, so two parsers can
 * never disagree about which certificate was meant.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { WireError, type ErrorCode } from '../cose/index.js';

/** The `cnf` member name of a certificate binding (RFC 8705 §3.1, IANA JWT Confirmation Methods). */
export const X5T_S256 = 'x5t#S256';

/**
 * An X.509 client certificate in DER. 16 KiB holds an RSA-8192 certificate with a long chain of
 * extensions; anything larger is not a client certificate we hash (bounded before hashing).
 */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

/** A PEM text of one such certificate: base64 of the DER (4/3) plus lines and armour. */
export const MAX_CERTIFICATE_PEM_CHARS = Math.ceil((MAX_CERTIFICATE_BYTES * 4) / 3) + 1024;

/** SHA-256 in base64url without padding is always 43 characters. */
const THUMBPRINT_CHARS = 43;
const B64URL = /^[A-Za-z0-9_-]+$/;

export const CERTIFICATE_ERR = {
  /** Not one DER certificate in PEM armour / not base64. */
  MALFORMED: 'malformed',
  TOO_LARGE: 'too_large',
  /** The presented certificate is not the one the token is bound to (RFC 8705 §3.2). */
  MISMATCH: 'bad_proof',
} as const satisfies Record<string, ErrorCode>;

export type CertificateErrorCode = (typeof CERTIFICATE_ERR)[keyof typeof CERTIFICATE_ERR];

/** A refused certificate or binding. Messages never carry the certificate. */
export class CertificateBindingError extends WireError<CertificateErrorCode> {}

function checkDer(der: Uint8Array): void {
  if (!(der instanceof Uint8Array)) throw new TypeError('certificate: expected DER bytes (Uint8Array)');
  if (der.length === 0) throw new CertificateBindingError('malformed', 'certificate: empty');
  if (der.length > MAX_CERTIFICATE_BYTES) throw new CertificateBindingError('too_large', `certificate: more than ${MAX_CERTIFICATE_BYTES} bytes`);
  // X.509 Certificate ::= SEQUENCE (DER tag 0x30): a cheap sanity check, not a parse.
  if (der[0] !== 0x30) throw new CertificateBindingError('malformed', 'certificate: DER does not start with a SEQUENCE');
}

/** RFC 8705 §3.1: `x5t#S256` = base64url(SHA-256(DER certificate)), no padding. */
export function certificateThumbprint(der: Uint8Array): string {
  checkDer(der);
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * The DER bytes of exactly one PEM `CERTIFICATE` block (RFC 7468 §5.1), strictly: no other
 * block, no text outside the armour except whitespace, base64 that re-encodes to itself.
 * Used for registered certificates and for a certificate a trusted TLS terminator forwards.
 */
export function certificateDerFromPem(pem: string): Uint8Array {
  if (typeof pem !== 'string') throw new TypeError('certificate: expected PEM text');
  if (pem.length > MAX_CERTIFICATE_PEM_CHARS) throw new CertificateBindingError('too_large', 'certificate: PEM too long');
  const m = /^\s*-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/.exec(pem);
  if (m === null) throw new CertificateBindingError('malformed', 'certificate: not one PEM CERTIFICATE block');
  const body = m[1]!.replace(/\r?\n/g, '');
  const der = Buffer.from(body, 'base64');
  if (der.length === 0 || der.toString('base64') !== body) throw new CertificateBindingError('malformed', 'certificate: bad base64 in PEM');
  const bytes = new Uint8Array(der.buffer, der.byteOffset, der.length);
  checkDer(bytes);
  return bytes;
}

/** Whether a string has the shape of an `x5t#S256` value (for `cnf` read from a token). */
export function isCertificateThumbprint(value: unknown): value is string {
  return typeof value === 'string' && value.length === THUMBPRINT_CHARS && B64URL.test(value);
}

/**
 * RFC 8705 §3.2: the certificate presented on this connection must be the one in `cnf`.
 * Compared in constant time over the digests; throws `bad_proof` on any difference (including a
 * malformed expected value, so a bad token never looks like a bad certificate to the caller).
 */
export function checkCertificateBinding(der: Uint8Array, expected: unknown): void {
  const actual = Buffer.from(certificateThumbprint(der), 'base64url');
  if (!isCertificateThumbprint(expected)) throw new CertificateBindingError('bad_proof', `cnf ${X5T_S256}: missing or malformed`);
  const want = Buffer.from(expected, 'base64url');
  if (want.length !== actual.length || !timingSafeEqual(want, actual)) {
    throw new CertificateBindingError('bad_proof', `cnf ${X5T_S256}: the presented certificate is not the bound one`);
  }
}
