/**
 * JSON request bodies, parsed strictly. RFC 8259 §4 leaves repeated member names to the reader
 * ("names SHOULD be unique"), and JSON.parse keeps the last: `{"scope":"read","scope":"admin"}`
 * then means one thing to a proxy or log that keeps the first and another to us. We refuse it,
 * as I-JSON does (RFC 7493 §2.3: names MUST be unique). JSON.parse (and a reviver) only ever sees
 * the last value, so the raw text is scanned once: linear in its length, one Set per open object,
 * nesting bounded.
 */
import { invalidRequest } from './errors.js';

/** Request bodies are flat objects (an AIF scope adds two levels); deeper is not ours. */
export const MAX_JSON_DEPTH = 8;

/** JSON.parse, refusing repeated member names and nesting deeper than MAX_JSON_DEPTH (invalid_request). */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidRequest('malformed JSON');
  }
  // The text is valid JSON now, so the scan only needs to tell names from values.
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= MAX_JSON_DEPTH) throw invalidRequest(`JSON nested deeper than ${MAX_JSON_DEPTH}`);
      stack.push(c === 0x7b ? new Set() : null);
      expectName = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = stack[stack.length - 1] != null;
    } else if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      const names = stack[stack.length - 1];
      if (expectName && names) {
        // Compare decoded names: "a" and "\u0061" are the same member.
        const name = JSON.parse(text.slice(start, i + 1)) as string;
        if (names.has(name)) throw invalidRequest('a JSON object repeats a member name');
        names.add(name);
        expectName = false;
      }
    }
  }
  return value;
}
