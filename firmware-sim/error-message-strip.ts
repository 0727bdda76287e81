/**
 * The codes-only build of a device bundle (issue 13: the verify-only bundle's size). Error
 * message text was ~3.7 KB of that bundle's 32.6 KB gzipped. Every error keybound throws carries
 * a stable `code`, and callers branch on the code, never on the text (cose/errors.ts,
 * device/errors.ts); a device answers every refusal with codes only (device/device-messages.ts).
 * So the flashed verify-only bundle leaves the text out, and an error's message is then its code
 * (CoseError and DeviceError fall back to it). `npm run build:device -- --messages` keeps the
 * text, for a development build.
 *
 * What counts as message text, found on the bundle's JavaScript with acorn (a parser, not a
 * pattern over source text) before it is minified:
 *  - a string or template literal with white space in its text, a `+` concatenation with one
 *    in it, or a choice on a name between two of these (`full ? '...' : '...'`), passed straight
 *    to the call or `new` that a `throw` throws (or may throw: a branch of
 *    `throw c ? f(...) : e`): `throw bad('...')`, `throw new CoseError(ERR.X, \`...\`)`;
 *  - the same, passed to `new <Name>Error(...)` anywhere (helpers that make an error to throw).
 * Codes, labels and claim names have no white space, so they stay; the engine's own errors
 * (Error, TypeError, RangeError...: a caller's misuse of an API, which has no code to fall back
 * on) keep their text; nothing else is touched. Each such literal becomes `""`: the output is the
 * input with those literals emptied.
 */
import type { Node as AcornNode } from 'acorn';

export interface StrippedSource {
  code: string;
  /** How many literals were emptied. */
  stripped: number;
}

type AnyNode = AcornNode & Record<string, unknown>;

function isNode(value: unknown): value is AnyNode {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/**
 * What an error's message is made of: text with white space (a code or a label has none), as a
 * string, a template, or a concatenation with such text in it (esbuild writes short templates as
 * `a + " (" + b + ")"`).
 */
function isMessageText(node: AnyNode, source: string): boolean {
  if (node.type === 'Literal') return typeof node.value === 'string' && /\s/.test(node.value);
  if (node.type === 'TemplateLiteral') return (node.quasis as AnyNode[]).some((q) => /\s/.test(source.slice(q.start, q.end)));
  if (node.type === 'BinaryExpression' && node.operator === '+') return isMessageText(node.left as AnyNode, source) || isMessageText(node.right as AnyNode, source);
  // `full ? 'text' : 'other text'`: a choice between two messages on a name (reading it does
  // nothing, so the whole choice can go with the text).
  if (node.type === 'ConditionalExpression') return (node.test as AnyNode).type === 'Identifier' && isMessageText(node.consequent as AnyNode, source) && isMessageText(node.alternate as AnyNode, source);
  return false;
}

/** The engine's own errors have no code to stand in for their text: theirs stays. */
const BUILT_IN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError']);

function calleeName(node: AnyNode): string | undefined {
  const callee = node.callee;
  return isNode(callee) && callee.type === 'Identifier' ? (callee.name as string) : undefined;
}

/** `new <Name>Error(...)`: the engine's own are left out where arguments are taken (takeArguments). */
function isErrorConstructor(node: AnyNode): boolean {
  return node.type === 'NewExpression' && /Error$/.test(calleeName(node) ?? '');
}

/**
 * The calls whose result a `throw` may throw: the thrown expression itself, or any branch of it
 * (esbuild writes `if (c) throw f(...); throw e;` as `throw c ? f(...) : e`).
 */
function thrownCalls(node: AnyNode): AnyNode[] {
  switch (node.type) {
    case 'CallExpression':
    case 'NewExpression':
      return [node];
    case 'ConditionalExpression':
      return [...thrownCalls(node.consequent as AnyNode), ...thrownCalls(node.alternate as AnyNode)];
    case 'LogicalExpression':
      return [...thrownCalls(node.left as AnyNode), ...thrownCalls(node.right as AnyNode)];
    case 'SequenceExpression': {
      const expressions = node.expressions as AnyNode[];
      return thrownCalls(expressions[expressions.length - 1]!);
    }
    default:
      return [];
  }
}

export async function stripErrorMessages(source: string): Promise<StrippedSource> {
  let acorn: typeof import('acorn');
  try {
    acorn = await import('acorn');
  } catch {
    throw new Error('a codes-only device bundle needs the dev dependency acorn (npm install --include=dev)');
  }
  const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module' }) as unknown as AnyNode;
  /** Where each literal to empty starts, and where it ends. */
  const spans = new Map<number, number>();
  const takeArguments = (call: AnyNode): void => {
    if (BUILT_IN_ERRORS.has(calleeName(call) ?? '')) return;
    for (const arg of call.arguments as AnyNode[]) if (isMessageText(arg, source)) spans.set(arg.start, arg.end);
  };
  // An explicit stack, not recursion: a bundle's AST is deep enough to matter on a small stack.
  const stack: AnyNode[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === 'ThrowStatement' && isNode(node.argument)) for (const call of thrownCalls(node.argument)) takeArguments(call);
    if (isErrorConstructor(node)) takeArguments(node);
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const child of value) if (isNode(child)) stack.push(child);
      } else if (isNode(value)) stack.push(value);
    }
  }
  // In source order; a literal inside one already emptied (a template's \${...}) went with it.
  const ordered = [...spans].sort((a, b) => a[0] - b[0]);
  const parts: string[] = [];
  let at = 0;
  let stripped = 0;
  for (const [start, end] of ordered) {
    if (start < at) continue;
    parts.push(source.slice(at, start), '""');
    at = end;
    stripped++;
  }
  parts.push(source.slice(at));
  return { code: parts.join(''), stripped };
}
