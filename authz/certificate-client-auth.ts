/**
 * Client authentication by TLS certificate (RFC 8705 §2), given what the TLS layer saw:
 * - `tls_client_auth` (§2.1): the chain verified against the CA the operator configured
 *   (`authz serve --tls-client-ca`), and the certificate carries the one identity registered
 *   for the client (subject DN per RFC 4514, or a SAN of type DNS, URI, IP or email; §2.1.2);
 * - `self_signed_tls_client_auth` (§2.2): no chain; the certificate is one of those registered
 *   for the client, compared by x5t#S256 thumbprint (§2.2 allows the registered JWKS's certs).
 * The listener asks every peer for a certificate but never refuses the handshake for one
 * (rejectUnauthorized false): the decision is per client, here.
 */
import { X509Certificate, timingSafeEqual } from 'node:crypto';
import { certificateThumbprint } from '../sender-constraint/index.js';
import type { TlsClientAuth } from './store.js';

/** What the TLS listener saw of the peer's certificate on this connection. */
export interface TlsPeer {
  /** The client certificate's DER bytes. */
  der: Uint8Array;
  /** Whether its chain verified against the configured client CA (tls.TLSSocket#authorized). */
  chainTrusted: boolean;
}

/**
 * An RFC 4514 string, normalised for comparison: attribute types upper-cased, spaces around "="
 * and "," dropped, in RFC 4514 order (most specific RDN first). Escapes are kept as written.
 */
function normalizeDn(dn: string): string {
  return dn
    .split(/(?<!\\),/)
    .map((rdn) => {
      const i = rdn.indexOf('=');
      return i < 0 ? rdn.trim() : `${rdn.slice(0, i).trim().toUpperCase()}=${rdn.slice(i + 1).trim()}`;
    })
    .join(',');
}

/**
 * The certificate's subject as an RFC 4514 string. Node prints the subject one RDN a line, in
 * certificate order (least specific first); RFC 4514 §2.1 writes them in reverse, comma-separated.
 */
function subjectDn(cert: X509Certificate): string {
  const rdns = cert.subject.split('\n').filter((l) => l.length > 0).map((l) => l.replace(/,/g, '\\,'));
  return normalizeDn(rdns.reverse().join(','));
}

/** SAN entries as node prints them ("DNS:a, IP Address:1.2.3.4, URI:..., email:..."). */
function subjectAltNames(cert: X509Certificate): { type: string; value: string }[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  return text.split(', ').map((entry) => {
    const i = entry.indexOf(':');
    let value = entry.slice(i + 1);
    // Node quotes a value with characters that would break this list as a JSON string.
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        value = '';
      }
    }
    return { type: entry.slice(0, i), value };
  });
}

const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Whether the peer's certificate authenticates a client registered with `reg` (RFC 8705 §2).
 * Returns the certificate's x5t#S256 thumbprint (what its tokens are bound to) or undefined.
 */
export function certificateAuthenticates(peer: TlsPeer | undefined, reg: TlsClientAuth): string | undefined {
  if (!peer) return undefined;
  let thumbprint: string;
  let cert: X509Certificate;
  try {
    thumbprint = certificateThumbprint(peer.der);
    cert = new X509Certificate(peer.der);
  } catch {
    return undefined;
  }
  if (reg.method === 'self_signed_tls_client_auth') {
    // RFC 8705 §2.2: possession of the key (the handshake proved it) of a registered certificate.
    return reg.thumbprints.some((t) => sameText(t, thumbprint)) ? thumbprint : undefined;
  }
  // RFC 8705 §2.1: a PKI certificate from a CA this service trusts for clients, and only then its identity.
  if (!peer.chainTrusted) return undefined;
  let ok = false;
  if (reg.subjectDn !== undefined) ok = sameText(subjectDn(cert), normalizeDn(reg.subjectDn));
  else {
    const [type, want] =
      reg.sanDns !== undefined ? ['DNS', reg.sanDns] : reg.sanUri !== undefined ? ['URI', reg.sanUri] : reg.sanIp !== undefined ? ['IP Address', reg.sanIp] : ['email', reg.sanEmail ?? ''];
    ok = want !== '' && subjectAltNames(cert).some((san) => san.type === type && sameText(san.value, want));
  }
  return ok ? thumbprint : undefined;
}
