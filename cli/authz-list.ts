/** `keybound authz list`: what is registered (clients, devices, users), never a secret or key. */
import { listRegistrations } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { EXIT } from './io.js';
import { dataDirOf, EXISTING_DATA_DIR_OPTIONS } from './data-dir-options.js';

export const authzListCommand = defineCommand(
  {
    name: 'authz list',
    summary: 'List registered clients, devices and users (no secrets, no keys).',
    config: true,
    options: {
      ...EXISTING_DATA_DIR_OPTIONS,
      json: { type: 'boolean', help: 'print JSON instead of a table' },
    },
    examples: ['keybound authz list --data-dir ./authz-data'],
  },
  async ({ values }, io) => {
    const listing = await listRegistrations(dataDirOf(values));
    if (values.json) {
      io.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines: string[] = [];
    lines.push(`clients (${listing.clients.length})`);
    for (const c of listing.clients) {
      const role = c.resourceServer ? 'resource server' : c.grantTypes.join(',') || 'no grants';
      lines.push(`  ${c.id}  auth=${c.auth}${c.requirePar ? '  require-par' : ''}  ${role}  audiences=${c.audiences.join(',') || '-'}  scopes=${c.scopes.join(' ') || '-'}`);
    }
    lines.push(`devices (${listing.devices.length})`);
    for (const d of listing.devices) {
      lines.push(`  ${d.id}  ${d.protection}${d.clockless ? ' clockless' : ''}${d.referenceTokens ? ' reference-tokens' : ''}  scopes=${d.scopes.join(' ') || '-'}`);
    }
    lines.push(`users (${listing.users.length})`);
    for (const u of listing.users) lines.push(`  ${u}`);
    io.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
);
