/**
 * `keybound` argv dispatch. The CLI is a thin shell: every command is a function
 * `(args, io) => exit code` that a test can call without spawning a process.
 */
import { inspect, INSPECT_USAGE } from './inspect.js';
import { authzCommand, AUTHZ_USAGE } from './authz.js';
import { simCommand, SIM_USAGE } from './sim.js';
import { brokerCommand, BROKER_USAGE } from './broker.js';
import { demoCommand, DEMO_USAGE } from './demo.js';
import { EXIT, type CliIo } from './io.js';

export type Command = (args: string[], io: CliIo) => Promise<number>;

export const COMMANDS: Readonly<Record<string, { run: Command; usage: string }>> = {
  inspect: { run: inspect, usage: INSPECT_USAGE },
  authz: { run: authzCommand, usage: AUTHZ_USAGE },
  broker: { run: brokerCommand, usage: BROKER_USAGE },
  sim: { run: simCommand, usage: SIM_USAGE },
  demo: { run: demoCommand, usage: DEMO_USAGE },
};

export const HELP = `keybound: proof-of-possession CWT/COSE tokens for IoT

Usage: keybound <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join('\n')}

  keybound --help     this text
`;

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr.write(`keybound: unknown command ${JSON.stringify(name.slice(0, 40))} (try keybound --help)\n`);
    return EXIT.usage;
  }
  return command.run(args, io);
}
