/**
 * URL options checked before anything starts or is written. An issuer that is not a URL (e.g.
 * `127.0.0.1:8080`, a URL without its scheme) went into every token's iss, the metadata and the
 * devices' bundles, and nothing it named could be reached (walkthrough, stop 36).
 */
import { UsageError } from './command-line.js';

/**
 * RFC 8414 §2: an issuer is an https URL (http on a test bench) with no query or fragment. The
 * text is kept as given: tokens compare iss byte for byte, so it is not normalized here.
 */
export function issuerUrlOption(text: string, option = '--issuer'): string {
  const url = httpUrl(text, option);
  if (url.search || url.hash || text.includes('?') || text.includes('#')) throw new UsageError(`${option} takes no query or fragment (RFC 8414 §2)`);
  if (text.endsWith('/')) throw new UsageError(`${option} ends without "/" (the service's iss has none; tokens compare it byte for byte)`);
  return text;
}

/** An http(s) URL option (a base URL a device or client is sent to). */
export function httpUrlOption(text: string, option: string): string {
  httpUrl(text, option);
  return text;
}

function httpUrl(text: string, option: string): URL {
  // The URL parser strips leading and trailing spaces and control characters; the option's text
  // is kept as given (an issuer goes byte for byte into iss), so " https://as" would become an iss
  // no client expects. Refused rather than trimmed: the operator sees the stray quote or space.
  if (/^[\s\x00-\x1f]|[\s\x00-\x1f]$/.test(text)) throw new UsageError(`${option} starts or ends with a space or control character (got ${JSON.stringify(text.slice(0, 80))})`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${option} must be a URL such as https://as.example.com (got ${JSON.stringify(text.slice(0, 80))})`);
  }
  // `new URL('127.0.0.1:8080')` parses, with "127.0.0.1:" as its scheme.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${option} must be an https:// (or http://) URL (got ${JSON.stringify(text.slice(0, 80))})`);
  if (url.username || url.password) throw new UsageError(`${option} takes no user or password`);
  return url;
}
