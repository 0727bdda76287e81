/**
 * One declarative description per command (its options, each explained in one line), from which
 * come the parser, `--help`, `--version`, `--config FILE` and environment variables. Every command
 * of the CLI goes through `parseCommandLine`, so they all behave alike.
 *
 * Precedence: a flag on the command line, then the option's environment variable, then the
 * component's config file, then the command's default.
 */
import { parseArgs } from 'node:util';
import { readOptionFile } from './option-file.js';
import { UsageError } from './usage-error.js';
import { packageVersion } from './version.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given more than once (values collect into an array). */
  multiple?: boolean;
  /** What the option does, in one line (shown by --help). */
  help: string;
  /** The value's placeholder in --help, e.g. `DIR`. */
  value?: string;
  /** An environment variable that supplies the value when the flag is absent. */
  env?: string;
  /** Shown in --help; the command applies it. */
  default?: string;
  required?: boolean;
}

export interface CommandSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  /** `authz serve`. */
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** Positional arguments, each required, e.g. `['DEVICE-ID']`. */
  positionals?: readonly string[];
  options: O;
  /** Reads `--config FILE` (a JSON object of option names to values) for the component. */
  config?: boolean;
  /** Lines shown under "Examples" in --help. */
  examples?: readonly string[];
}

export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

export type ParsedCommand<O extends Record<string, OptionSpec>> =
  | { kind: 'run'; values: OptionValues<O>; positionals: string[] }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string };

export { UsageError };

/** A config file larger than this is not a config file. */
const MAX_CONFIG_BYTES = 64 * 1024;

export function parseCommandLine<const O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): ParsedCommand<O> {
  if (args.includes('--help') || args.includes('-h')) return { kind: 'help', text: commandHelp(spec) };
  if (args.includes('--version')) return { kind: 'version', text: `keybound ${packageVersion()}\n` };
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}) };
  if (spec.config) options.config = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(plainParseError(e as Error));
  }
  const positionals = parsed.positionals;
  const expected = spec.positionals ?? [];
  if (positionals.length > expected.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[expected.length]!.slice(0, 40))}`);
  }
  if (positionals.length < expected.length) throw new UsageError(`${expected[positionals.length]} is required`);
  const values: Record<string, unknown> = { ...parsed.values };
  const configFile = values.config as string | undefined;
  delete values.config;
  const fromConfig = configFile ? readConfig(configFile, spec) : {};
  for (const [name, o] of Object.entries(spec.options)) {
    if (values[name] !== undefined) continue;
    const fromEnv = o.env ? env[o.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') values[name] = o.type === 'boolean' ? parseBoolean(fromEnv, o.env!) : o.multiple ? fromEnv.split(',') : fromEnv;
    else if (fromConfig[name] !== undefined) values[name] = fromConfig[name];
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.required && values[name] === undefined) throw new UsageError(`--${name} is required${o.env ? ` (or set ${o.env})` : ''}`);
  }
  return { kind: 'run', values: values as OptionValues<O>, positionals };
}

/** node:util's messages name internals ("ERR_PARSE_ARGS_UNKNOWN_OPTION"); say it plainly. */
function plainParseError(e: Error): string {
  const code = (e as { code?: string }).code;
  const option = /'(-{1,2}[^' ]{1,40})/.exec(e.message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option ?? ''}`.trim();
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/argument missing/.test(e.message)) return `${option ?? 'an option'} needs a value`;
    // "--n -1": node reads -1 as another option; a value that starts with a dash goes after "=".
    if (/ambiguous/.test(e.message)) return `${option ?? 'an option'} needs a value (one that starts with "-" is written ${option ?? '--option'}=-…)`;
    return `${option ?? 'an option'} takes no value`;
  }
  return e.message.split('\n')[0]!.slice(0, 200);
}

function parseBoolean(value: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new UsageError(`${name} must be true or false`);
}

/**
 * The component's config file: a JSON object whose keys are long option names. Keys the command
 * does not know are refused (a typo must not silently fall back to a default); a value of the
 * wrong type likewise.
 */
function readConfig(file: string, spec: CommandSpec): Record<string, unknown> {
  // A regular file of bounded size only: /dev/zero or a FIFO would hang the start (option-file.ts).
  const text = new TextDecoder().decode(readOptionFile(file, 'config file', MAX_CONFIG_BYTES));
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // Never the parser's message: it quotes the file's text, and a config option mistakenly
    // pointed at a key or token file would print its start to a terminal or a log.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new UsageError(`config file ${file} is not JSON${at ? ` (at byte ${at})` : ''}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UsageError(`config file ${file} must hold a JSON object of option names to values`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    const o = Object.hasOwn(spec.options, key) ? spec.options[key] : undefined;
    if (!o) throw new UsageError(`config file ${file}: "${key.slice(0, 40)}" is not an option of ${spec.name} (see --help)`);
    out[key] = configValue(value, o, `config file ${file}: "${key}"`);
  }
  return out;
}

function configValue(value: unknown, o: OptionSpec, where: string): unknown {
  const scalar = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    throw new UsageError(`${where} must be a string or a number`);
  };
  if (o.type === 'boolean') {
    if (typeof value !== 'boolean') throw new UsageError(`${where} must be true or false`);
    return value;
  }
  if (o.multiple) return (Array.isArray(value) ? value : [value]).map(scalar);
  return scalar(value);
}

/** `keybound authz serve --data-dir DIR [--port PORT] ...`: the synopsis line. */
export function commandSynopsis(spec: CommandSpec): string {
  const parts = [`keybound ${spec.name}`, ...(spec.positionals ?? [])];
  for (const [name, o] of Object.entries(spec.options)) {
    const flag = o.type === 'boolean' ? `--${name}` : `--${name} ${o.value ?? 'VALUE'}`;
    parts.push(o.required ? flag : `[${flag}${o.multiple ? ' ...' : ''}]`);
  }
  if (spec.config) parts.push('[--config FILE]');
  return parts.join(' ');
}

export function commandHelp(spec: CommandSpec): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, o]) => {
    const flag = o.type === 'boolean' ? `--${name}` : `--${name} ${o.value ?? 'VALUE'}`;
    const notes = [o.required ? 'required' : '', o.default !== undefined ? `default ${o.default}` : '', o.multiple ? 'repeatable' : '', o.env ? `env ${o.env}` : '']
      .filter(Boolean)
      .join('; ');
    return [flag, `${o.help}${notes ? ` (${notes})` : ''}`];
  });
  if (spec.config) rows.push(['--config FILE', 'read options from a JSON file {"option-name": value}; flags and environment override it']);
  rows.push(['--help', 'this text'], ['--version', 'the keybound version']);
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = rows.map(([f, h]) => (f.length + 2 > width ? `  ${f}\n  ${' '.repeat(width)}${h}` : `  ${f.padEnd(width)}${h}`));
  return [
    `${spec.summary}`,
    '',
    `Usage: ${commandSynopsis(spec)}`,
    '',
    'Options:',
    ...lines,
    ...(spec.examples?.length ? ['', 'Examples:', ...spec.examples.map((e) => `  ${e}`)] : []),
    '',
  ].join('\n');
}
