/** `keybound authz provision DEVICE-ID`: the bundle a device (or broker) is flashed with. */
import { provision } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { EXIT } from './io.js';
import { dataDirOf, EXISTING_DATA_DIR_OPTIONS } from './data-dir-options.js';
import { httpUrlOption, issuerUrlOption } from './url-option.js';

export const authzProvisionCommand = defineCommand(
  {
    name: 'authz provision',
    summary: 'Write the provisioning bundle of a device or broker: trust anchors, its keys, URLs.',
    positionals: ['DEVICE-ID'],
    config: true,
    options: {
      ...EXISTING_DATA_DIR_OPTIONS,
      out: { type: 'string', value: 'bundle.cbor|bundle.json', required: true, help: 'where to write the bundle (mode 0600: it holds keys)' },
      issuer: { type: 'string', value: 'URL', required: true, help: "the service's issuer, as in its tokens' iss" },
      'as-url': { type: 'string', value: 'URL', help: 'the token endpoint base URL the device tells clients about' },
      'broker-url': { type: 'string', value: 'URL', help: 'the broker the device connects to' },
    },
    examples: ['keybound authz provision tube-123 --data-dir ./authz-data --out tube-123.cbor --issuer https://as.example'],
  },
  async ({ values, positionals }, io) => {
    const { out, trustAnchors } = await provision({
      ...dataDirOf(values),
      deviceId: positionals[0]!,
      out: values.out!,
      issuer: issuerUrlOption(values.issuer!),
      ...(values['as-url'] ? { asUrl: httpUrlOption(values['as-url'], '--as-url') } : {}),
      ...(values['broker-url'] ? { brokerUrl: values['broker-url'] } : {}),
    });
    io.stdout.write(`wrote ${out} (${trustAnchors.length} trust anchors; the file holds keys: mode 0600)\n`);
    return EXIT.ok;
  },
);
