/**
 * CBOR diagnostic notation (RFC 8949 §8, with the RFC 8610 Appendix G extension for embedded
 * CBOR): how `keybound inspect` shows a token to a person. `h'..'` byte strings, `18(...)` tags,
 * `{1: -8}` maps, JSON-escaped text, floats always with a decimal point, and, on request, byte
 * strings that themselves hold CBOR (protected headers, payloads) expanded as `<< ... >>`.
 * Pure: it only reads the value it is given.
 */
import { Tag } from './cbor-value.js';
import { CborError, ERR } from './errors.js';
import { toHex } from './bytes.js';
import { decodeCbor } from './cbor-decode.js';
import type { CborValue } from './cbor-value.js';

/** Deeper than any structure we decode (limit 16) even with embedded CBOR expanded inside it. */
export const MAX_DIAG_DEPTH = 64;
/** An embedded byte string longer than this is shown as bytes: nothing we carry inside a token is bigger. */
const MAX_EMBEDDED_BYTES = 4096;
/** Containers whose one-line form is wider than this are broken over lines when indenting. */
const LINE_WIDTH = 72;

export interface DiagOptions {
  /**
   * RFC 8610 App. G: show a byte string that holds exactly one well-formed, strictly encoded
   * CBOR map, array or tag as `<<item>>`. Scalars are left as bytes: a 64-byte signature can
   * happen to parse as a long byte string, and guessing it is CBOR would mislead.
   */
  expandEmbedded?: boolean;
  /** Spaces per nesting level for containers too wide for one line; 0 (default) gives one line. */
  indent?: number;
}

/** The diagnostic notation of `value`. */
export function cborDiag(value: CborValue, options: DiagOptions = {}): string {
  return render(value, { expand: options.expandEmbedded ?? false, indent: options.indent ?? 0 }, 0, 0, 0);
}

interface Ctx {
  expand: boolean;
  indent: number;
}

/** `depth` bounds recursion; `level` is the indentation level (tags and << >> do not add one). */
function render(value: CborValue, ctx: Ctx, depth: number, level: number, column: number): string {
  if (depth > MAX_DIAG_DEPTH) throw new CborError(ERR.CBOR_TOO_DEEP, `CBOR diag: nested deeper than ${MAX_DIAG_DEPTH}`);
  switch (typeof value) {
    case 'number':
      return number(value);
    case 'bigint':
      return value.toString();
    case 'string':
      // RFC 8949 §8: text strings are shown as in JSON, with JSON's escapes.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'undefined';
    case 'object': {
      if (value === null) return 'null';
      if (value instanceof Uint8Array) return bytes(value, ctx, depth, level, column);
      if (value instanceof Tag) {
        const prefix = `${value.tag}(`;
        return `${prefix}${render(value.value as CborValue, ctx, depth + 1, level, column + prefix.length)})`;
      }
      if (Array.isArray(value)) {
        return container('[', ']', value.map((v) => (col: number, c: Ctx) => render(v, c, depth + 1, level + 1, col)), ctx, level, column);
      }
      if (value instanceof Map) {
        const items = [...value].map(([k, v]) => (col: number, c: Ctx) => {
          const key = `${render(k, c, depth + 1, level + 1, col)}: `;
          return key + render(v, c, depth + 1, level + 1, col + key.length);
        });
        return container('{', '}', items, ctx, level, column);
      }
      break;
    }
    default:
      break;
  }
  throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, `CBOR diag: a ${typeof value} is not a CBOR value`);
}

/** RFC 8949 §8: a float is written with a decimal point or exponent so it never reads as an integer. */
function number(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0.0';
  // Our decoder gives integers as safe numbers or bigints, so anything else came from a float.
  if (Number.isSafeInteger(n)) return String(n);
  const s = String(n);
  if (s.includes('.')) return s;
  const e = s.indexOf('e');
  return e < 0 ? `${s}.0` : `${s.slice(0, e)}.0${s.slice(e)}`;
}

function bytes(value: Uint8Array, ctx: Ctx, depth: number, level: number, column: number): string {
  if (ctx.expand && value.length > 0 && value.length <= MAX_EMBEDDED_BYTES) {
    const inner = embedded(value);
    if (inner !== undefined) return `<<${render(inner, ctx, depth + 1, level, column + 2)}>>`;
  }
  return `h'${toHex(value)}'`;
}

function embedded(value: Uint8Array): CborValue | undefined {
  try {
    const inner = decodeCbor(value, { maxBytes: MAX_EMBEDDED_BYTES, maxDepth: 16 });
    return inner instanceof Map || Array.isArray(inner) || inner instanceof Tag ? inner : undefined;
  } catch {
    return undefined; // not CBOR, or not strict CBOR: show the bytes as they are
  }
}

function container(
  open: string,
  close: string,
  items: Array<(column: number, ctx: Ctx) => string>,
  ctx: Ctx,
  level: number,
  column: number,
): string {
  if (items.length === 0) return open + close;
  // The one-line form is rendered with indenting off, so each level costs one linear pass
  // (rendering children both ways at every level would be exponential in the depth).
  const flatCtx = ctx.indent === 0 ? ctx : { ...ctx, indent: 0 };
  const flat = `${open}${items.map((item) => item(0, flatCtx)).join(', ')}${close}`;
  if (ctx.indent === 0 || column + flat.length <= LINE_WIDTH) return flat;
  const pad = ' '.repeat(ctx.indent * (level + 1));
  const lines = items.map((item) => pad + item(pad.length, ctx));
  return `${open}\n${lines.join(',\n')}\n${' '.repeat(ctx.indent * level)}${close}`;
}
