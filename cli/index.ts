// The CLI's surface: `main` and one function per command, so that a test runs a command as a
// function call (STYLE.md rule 9). bin/keybound.js runs main.ts directly.
export { main } from './main.js';
export { authzCommand } from './authz.js';
export { brokerCommand, brokerServe } from './broker.js';
export { demoCommand } from './demo.js';
export { inspect, type InspectDeps } from './inspect.js';
export { simCommand, parseSimArgs, type SimArgs } from './sim.js';
export type { CliIo } from './io.js';
export { COMMANDS } from './main.js';
export { AUTHZ_COMMANDS } from './authz.js';
export { DEVICE_COMMANDS, deviceCommand } from './device.js';
export { deviceServeCommand } from './device-serve.js';
export { brokerServeCommand } from './broker.js';
export { gatewayCommand, gatewayServe, gatewayServeCommand } from './gateway.js';
export { parseCommandLine, commandHelp, commandSynopsis, UsageError, type CommandSpec, type OptionSpec } from './command-line.js';
export { defineCommand, commandGroup, type RunnableCommand } from './command-runner.js';
export { packageVersion } from './version.js';
export { keygenCommand } from './keygen.js';
export { tokenCommand } from './token.js';
export { mqttPasswordCommand } from './mqtt-password.js';
export { nonceSecretsFromFile, NONCE_SECRET_REREAD_MS } from './dpop-nonce-secret-file.js';
export { requestCommand } from './request.js';
export { oscoreContextInputOf, parseOscoreConf, type OscoreConf } from './oscore-conf.js';
