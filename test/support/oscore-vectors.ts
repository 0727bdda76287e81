/**
 * Reads RFC 8613 Appendix C (test/vectors/oscore/rfc8613-appendix-c.txt, see its README) as
 * printed: each section's `Name: 0x… (N bytes)` values, hex that wraps lines joined and its
 * printed length checked, so that no vector is retyped by hand.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../../cose/index.js';

const TEXT = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'oscore', 'rfc8613-appendix-c.txt'), 'utf8');

/** Values by name of one section ("C.1.1", "C.4"), up to the next heading. */
export function appendixSection(id: string): Map<string, Uint8Array> {
  const start = TEXT.search(new RegExp(`^${id.replace(/\./g, '\\.')}\\.\\s`, 'm'));
  if (start < 0) throw new Error(`no section ${id}`);
  const rest = TEXT.slice(start + id.length + 1);
  const end = rest.search(/^(C\.\d+(\.\d+)?\.|Appendix D)\s/m);
  const body = end < 0 ? rest : rest.slice(0, end);
  const values = new Map<string, Uint8Array>();
  // "o  Sender Key: 0x…" or "Unprotected CoAP request:\n   0x…", hex possibly wrapped, then "(N bytes)".
  for (const m of body.matchAll(/(?:o {2})?([A-Za-z][A-Za-z ()]*?):\s+0x([0-9a-f\s]*?)\s*\((\d+)\s+bytes?\)/g)) {
    const bytes = fromHex(m[2]!.replace(/\s+/g, ''));
    if (bytes.length !== Number(m[3])) throw new Error(`${id} ${m[1]}: ${bytes.length} bytes, printed ${m[3]}`);
    values.set(m[1]!.trim(), bytes);
  }
  return values;
}

export function vector(section: Map<string, Uint8Array>, name: string): Uint8Array {
  const v = section.get(name);
  if (!v) throw new Error(`no value "${name}" (have: ${[...section.keys()].join(', ')})`);
  return v;
}

/** "Sender Sequence Number: 20" and such plain numbers. */
export function appendixNumber(id: string, name: string): number {
  const start = TEXT.search(new RegExp(`^${id.replace(/\./g, '\\.')}\\.\\s`, 'm'));
  const m = new RegExp(`${name}:\\s+(\\d+)`).exec(TEXT.slice(start));
  if (!m) throw new Error(`no ${name} in ${id}`);
  return Number(m[1]);
}
