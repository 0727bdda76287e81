/** `keybound authz rotate-key`: a new signing key; the old one verifies its tokens until they expire. */
import { rotateKeyCommand } from '../authz/index.js';
import { DATABASE_OPTIONS, dataDirOf } from './data-dir-options.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';

export const authzRotateKeyCommand = defineCommand(
  {
    name: 'authz rotate-key',
    summary: 'Add a new signing key (new kid) that signs from now on; a running service picks it up without restart.',
    config: true,
    options: {
      'data-dir': { type: 'string', value: 'DIR', env: 'KEYBOUND_DATA_DIR', help: 'the service state directory' },
      ...DATABASE_OPTIONS,
      alg: { type: 'string', value: 'EdDSA|ES256', default: 'EdDSA', help: 'algorithm of the new key' },
      // After a leak: 0 stops publishing the old key at once, so its tokens stop verifying at the next refresh.
      'keep-old': { type: 'string', value: 'SECONDS', help: "publish the old key this long (default: the longest token lifetime)" },
    },
    examples: ['keybound authz rotate-key --data-dir ./authz-data --alg ES256'],
  },
  async ({ values }, io) => {
    const alg = values.alg ?? 'EdDSA';
    if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg is EdDSA or ES256');
    const keep = values['keep-old'];
    if (keep !== undefined && !/^\d{1,9}$/.test(keep)) throw new UsageError('--keep-old takes whole seconds');
    const r = await rotateKeyCommand({ ...dataDirOf(values), alg, ...(keep !== undefined ? { keepSeconds: Number(keep) } : {}) });
    const until = r.previousPublishedUntil === undefined ? '' : `; the old key ${r.previousKid} stays published until ${new Date(r.previousPublishedUntil * 1000).toISOString()}`;
    io.stdout.write(`new signing key ${r.kid} (${alg})${until}\n`);
    // Tokens the old key signed are refused once it is no longer published, expired or not.
    if (r.previousKid !== undefined && keep !== undefined && Number(keep) < r.longestLifetime) {
      io.stderr.write(`keybound authz rotate-key: warning: --keep-old ${keep} is shorter than the longest token lifetime (${r.longestLifetime} s): tokens ${r.previousKid} signed are refused before they expire, from ${new Date(r.previousPublishedUntil! * 1000).toISOString()} (as after a compromise, which is when a short --keep-old is right)\n`);
    }
    return EXIT.ok;
  },
);
