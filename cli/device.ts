/** `keybound device <command>`: the device runtime on an embedded Node board. */
import { commandGroup } from './command-runner.js';
import { deviceServeCommand } from './device-serve.js';
import type { CliIo } from './io.js';

export const DEVICE_COMMANDS = [deviceServeCommand];

const group = commandGroup('device', 'The device runtime.', DEVICE_COMMANDS);

export const DEVICE_USAGE = group.usage;

export function deviceCommand(args: string[], io: CliIo): Promise<number> {
  return group.run(args, io);
}
