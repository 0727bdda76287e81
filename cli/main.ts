/**
 * `keybound` argv dispatch. The CLI is a thin shell: every command is a function
 * `(args, io) => exit code` that a test can call without spawning a process.
 */
import { inspect, INSPECT_USAGE } from './inspect.js';
import { authzCommand, AUTHZ_USAGE } from './authz.js';
import { simCommand, SIM_USAGE } from './sim.js';
import { brokerCommand, BROKER_USAGE } from './broker.js';
import { gatewayCommand, GATEWAY_USAGE } from './gateway.js';
import { deviceCommand, DEVICE_USAGE } from './device.js';
import { demoCommand, DEMO_USAGE } from './demo.js';
import { keygenCommand } from './keygen.js';
import { tokenCommand } from './token.js';
import { mqttPasswordCommand } from './mqtt-password.js';
import { requestCommand } from './request.js';
import { EXIT, type CliIo } from './io.js';
import { packageVersion } from './version.js';

export type Command = (args: string[], io: CliIo) => Promise<number>;

export const COMMANDS: Readonly<Record<string, { run: Command; usage: string; summary: string }>> = {
  demo: { run: demoCommand, usage: DEMO_USAGE, summary: 'the whole story in one process (what npm start runs)' },
  authz: { run: authzCommand, usage: AUTHZ_USAGE, summary: 'the authorization service (ACE, DPoP, mTLS, PAR, FAPI 2.0): serve, register devices and clients, provision' },
  broker: { run: brokerCommand, usage: BROKER_USAGE, summary: 'the MQTT broker sidecar that admits clients by PoP token' },
  gateway: { run: gatewayCommand, usage: GATEWAY_USAGE, summary: 'the HTTP gateway that lets through only sender-constrained tokens (DPoP, mTLS) and phantom tokens' },
  device: { run: deviceCommand, usage: DEVICE_USAGE, summary: 'run the device runtime on a device (tokens, requests, revocation, trust updates) over the broker relay or CoAP/OSCORE' },
  inspect: { run: inspect, usage: INSPECT_USAGE, summary: 'decode and verify a token' },
  sim: { run: simCommand, usage: SIM_USAGE, summary: 'simulate a fleet of constrained devices and report' },
  keygen: { run: (a, io) => keygenCommand.run(a, io), usage: 'keybound keygen --alg EdDSA|ES256 --out FILE', summary: 'make a key pair (PoP or client-assertion key)' },
  token: { run: (a, io) => tokenCommand.run(a, io), usage: 'keybound token --as-url URL --client-id ID --secret-file F --audience AUD --pop-key FILE', summary: 'get a PoP access token from the service' },
  request: { run: (a, io) => requestCommand.run(a, io), usage: 'keybound request coap://HOST:PORT/PATH [--method M] [--payload-file F] [--token-response F | --oscore-conf F]', summary: 'send a CoAP request to a device, OSCORE-protected with --token-response or --oscore-conf' },
  'mqtt-password': { run: (a, io) => mqttPasswordCommand.run(a, io), usage: 'keybound mqtt-password --token T --pop-key K --audience AUD --client-id CID', summary: 'the MQTT CONNECT password for mosquitto -u ace -P' },
};

export const HELP = `keybound: proof-of-possession CWT/COSE tokens for IoT

Usage: keybound <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(15)}${c.summary}`)
  .join('\n')}

  keybound <command> --help     the command's options, each explained
  keybound --version            the keybound version
`;

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`keybound ${packageVersion()}\n`);
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr.write(`keybound: unknown command ${JSON.stringify(name.slice(0, 40))} (try keybound --help)\n`);
    return EXIT.usage;
  }
  return command.run(args, io);
}
