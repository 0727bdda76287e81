/**
 * Audience ids: which may be registered, and the one safe name an audience takes wherever its id
 * becomes a single MQTT topic level (`ace/<device>/authz-info`, `ace/trl/<audience>`) or a file
 * name. RFC 9200's own figures name resource servers by URI (`coaps://rs.example.com`, §5.3
 * Figure 3), and RFC 8693 §2.1 makes `audience` an absolute URI or a logical name; a URI carries
 * `/` (a topic level separator, a directory separator) and may carry `+`, `#` (MQTT wildcards)
 * or `$` at the start (MQTT 3.1.1 §4.7.2: the broker's own topics). Here one rule maps every id to
 * a name free of all of them, and back.
 */
import { utf8 } from './bytes.js';

/** A logical name, as keybound always took: short, printable, unchanged in topics and files. */
const PLAIN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/**
 * An absolute URI (RFC 3986 §4.3: scheme ":" hier-part [ "?" query ], no fragment) in printable
 * ASCII only: an IRI with other characters must be registered in its URI form (RFC 3987 §3.1).
 */
const URI_ID = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]+$/;
/** Characters kept as they are in the safe name; everything else is percent-encoded (RFC 3986 §2.1). */
const KEPT = /[A-Za-z0-9._:-]/;
/**
 * A safe name is at most this long: a file name is at most 255 bytes on common file systems, and
 * the name gets a suffix (".cbor") and temporary-file prefixes around it.
 */
export const MAX_SAFE_AUDIENCE_NAME = 200;

/** Why `id` cannot be an audience id, or undefined if it can. */
export function audienceIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return 'an audience id is text';
  if (PLAIN_ID.test(id)) return undefined;
  if (!URI_ID.test(id)) return `an audience id is a name matching ${PLAIN_ID.source} or an absolute URI in printable ASCII without a fragment (RFC 3986 §4.3)`;
  if (/%(?![0-9A-Fa-f]{2})/.test(id)) return 'an audience URI has a % that is not a percent-encoding (RFC 3986 §2.1)';
  if (safeAudienceName(id).length > MAX_SAFE_AUDIENCE_NAME) return `an audience URI must fit ${MAX_SAFE_AUDIENCE_NAME} characters once made topic- and file-safe`;
  return undefined;
}

export function isAudienceId(id: unknown): id is string {
  return audienceIdProblem(id) === undefined;
}

/**
 * The topic- and file-safe name of an audience id: a plain id is itself, a URI has every character
 * outside [A-Za-z0-9._:-] percent-encoded (`coaps://rs.example.com` is `coaps:%2F%2Frs.example.com`).
 * Injective: a plain id has no `%`, and a URI's own `%` becomes `%25`.
 */
export function safeAudienceName(id: string): string {
  let out = '';
  for (const ch of id) {
    if (KEPT.test(ch)) out += ch;
    // Registered ids are ASCII (audienceIdProblem); anything else is still encoded (its UTF-8 bytes), never passed through.
    else for (const b of utf8(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The audience id a safe name stands for; undefined unless `name` is exactly some id's safe name. */
export function audienceFromSafeName(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_SAFE_AUDIENCE_NAME * 3) return undefined;
  if (!/^(?:[A-Za-z0-9._:-]|%[0-9A-F]{2})+$/.test(name)) return undefined;
  const id = name.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  // Canonical form only: one audience, one topic; `%41` for `A` would be a second name for it.
  return isAudienceId(id) && safeAudienceName(id) === name ? id : undefined;
}
