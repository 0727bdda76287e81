/**
 * Runs one command described by a CommandSpec: parses, answers --help/--version, and turns every
 * failure into one line on stderr with the exit code it deserves (2: fix the command line, 1: the
 * work failed). Never a stack trace.
 */
import { commandHelp, parseCommandLine, UsageError, type CommandSpec, type OptionSpec, type OptionValues } from './command-line.js';
import { EXIT, type CliIo } from './io.js';
import { packageVersion } from './version.js';

export type CommandBody<O extends Record<string, OptionSpec>> = (input: { values: OptionValues<O>; positionals: string[] }, io: CliIo) => Promise<number>;

export interface RunnableCommand {
  spec: CommandSpec;
  run(args: string[], io: CliIo, env?: Readonly<Record<string, string | undefined>>): Promise<number>;
}

export function defineCommand<const O extends Record<string, OptionSpec>>(spec: CommandSpec<O>, body: CommandBody<O>): RunnableCommand {
  return {
    spec: spec as unknown as CommandSpec,
    async run(args, io, env = process.env) {
      try {
        const parsed = parseCommandLine(spec, args, env);
        if (parsed.kind !== 'run') {
          io.stdout.write(parsed.text);
          return EXIT.ok;
        }
        return await body(parsed, io);
      } catch (e) {
        return reportFailure(spec.name, e, io);
      }
    },
  };
}

/** For commands that parse their own way: answers --help/--version (exit 0), else undefined. */
export function helpOrVersion(spec: CommandSpec, args: readonly string[], io: CliIo): number | undefined {
  if (!args.includes('--help') && !args.includes('-h') && !args.includes('--version')) return undefined;
  io.stdout.write(args.includes('--version') && !args.includes('--help') && !args.includes('-h') ? `keybound ${packageVersion()}\n` : commandHelp(spec));
  return EXIT.ok;
}

/** One line: what went wrong and, for a usage error, where to look. */
export function reportFailure(name: string, e: unknown, io: CliIo): number {
  const usage = e instanceof UsageError;
  const code = (e as { code?: string }).code;
  const message = (e as Error).message ?? String(e);
  io.stderr.write(`keybound ${name}: ${message}${usage ? ` (see keybound ${name} --help)` : code ? ` (${code})` : ''}\n`);
  return usage ? EXIT.usage : EXIT.failed;
}

/** `keybound authz <sub>`: dispatches to the component's commands, with a listing as its help. */
export function commandGroup(group: string, summary: string, commands: readonly RunnableCommand[]): { run(args: string[], io: CliIo): Promise<number>; usage: string } {
  const byName = new Map(commands.map((c) => [c.spec.name.slice(group.length + 1), c]));
  const listing = commands.map((c) => `  ${c.spec.name.slice(group.length + 1).padEnd(18)}${c.spec.summary}`).join('\n');
  const help = `${summary}\n\nUsage: keybound ${group} <command> [options]   (keybound ${group} <command> --help for its options)\n\nCommands:\n${listing}\n`;
  return {
    usage: `keybound ${group} ${[...byName.keys()].join('|')}`,
    async run(args, io) {
      const [sub, ...rest] = args;
      if (sub === '--help' || sub === '-h' || sub === 'help') {
        io.stdout.write(help);
        return EXIT.ok;
      }
      if (sub === '--version') {
        io.stdout.write(`keybound ${packageVersion()}\n`);
        return EXIT.ok;
      }
      const command = sub !== undefined ? byName.get(sub) : undefined;
      if (!command) {
        io.stderr.write(`keybound ${group}: ${sub === undefined ? 'which command?' : `unknown command ${JSON.stringify(sub.slice(0, 40))}`}\n\n${help}`);
        return EXIT.usage;
      }
      return command.run(rest, io);
    },
  };
}
