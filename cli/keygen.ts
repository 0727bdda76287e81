/** `keybound keygen --alg EdDSA|ES256 --out key.json`: a new key pair for a client. */
import { existsSync, writeFileSync } from 'node:fs';
import { coseKeyThumbprintUri, coseKeyToJwk, fromUtf8, publicCoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';
import { FileExistsError } from './private-file.js';
import { generateSigningKey, KEY_ALGORITHMS, keyFileContent, writePrivateKeyFile, type KeyAlgorithm } from './key-generation.js';

export const keygenCommand = defineCommand(
  {
    name: 'keygen',
    summary: 'Make a key pair (a PoP key or a client-assertion key); prints only the public part.',
    options: {
      alg: { type: 'string', value: 'EdDSA|ES256', default: 'EdDSA', help: 'the signature algorithm (Ed25519 or P-256)' },
      out: { type: 'string', value: 'key.json|key.cose', required: true, help: 'where to write the private key (.json: JWK, else COSE_Key); mode 0600, never over an existing file' },
      'public-out': { type: 'string', value: 'FILE', help: 'also write the public key there (for register-client --public-key)' },
      kid: { type: 'string', value: 'TEXT', help: "the key's id (default: the start of its RFC 9679 thumbprint)" },
    },
    examples: ['keybound keygen --alg EdDSA --out pop-key.json', 'keybound keygen --alg ES256 --out client.cose --public-out client.pub.cose'],
  },
  async ({ values }, io) => {
    const alg = (values.alg ?? 'EdDSA') as KeyAlgorithm;
    if (!KEY_ALGORITHMS.includes(alg)) throw new UsageError('--alg is EdDSA or ES256');
    if (values.kid !== undefined && (values.kid.length === 0 || values.kid.length > 64)) throw new UsageError('--kid is 1 to 64 characters');
    // Checked before anything is written: no private key without the public file asked for.
    if (values['public-out'] && existsSync(values['public-out'])) throw new FileExistsError(`${values['public-out']} exists: not overwritten`);
    const key = generateSigningKey(alg, values.kid);
    const pub = publicCoseKey(key);
    writePrivateKeyFile(values.out!, key);
    if (values['public-out']) writeFileSync(values['public-out'], keyFileContent(values['public-out'], pub), { flag: 'wx', mode: 0o644 });
    io.stdout.write(`wrote the private ${alg} key to ${values.out} (mode 0600: it proves possession; never share or commit it)\n`);
    if (values['public-out']) io.stdout.write(`wrote the public key to ${values['public-out']}\n`);
    io.stdout.write(`kid: ${fromUtf8(key.kid!)}\n`);
    io.stdout.write(`thumbprint: ${coseKeyThumbprintUri(pub, { provider: nativeProvider })}\n`);
    io.stdout.write(`public JWK: ${JSON.stringify(coseKeyToJwk(pub))}\n`);
    return EXIT.ok;
  },
);
