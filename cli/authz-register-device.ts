/** `keybound authz register-device ID`: a device audience and how its tokens are protected. */
import { registerDevice, TOKEN_FORMATS, type TokenFormat } from '../authz/index.js';
import { ACE_PROFILE } from '../cose/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { readKeyFile } from './key-file.js';
import { EXIT } from './io.js';
import { DATA_DIR_OPTIONS, dataDirOf } from './data-dir-options.js';

export const authzRegisterDeviceCommand = defineCommand(
  {
    name: 'authz register-device',
    summary: 'Register a device (an audience): its token protection, scopes and optional own key.',
    positionals: ['DEVICE-ID'],
    config: true,
    options: {
      ...DATA_DIR_OPTIONS,
      protection: { type: 'string', value: 'sign1|mac0|encrypt0', help: 'how its tokens are protected (mac0/encrypt0: a key shared with the device); default sign1, encrypt0 with --profile coap_oscore' },
      clockless: { type: 'boolean', help: 'the device has no clock: tokens carry exi (RFC 9200 §5.10.3) instead of exp' },
      'reference-tokens': { type: 'boolean', help: 'issue short reference tokens the device introspects' },
      // RFC 9068 JWT access tokens for HTTP resource servers (and the gateway); reference = --reference-tokens.
      'token-format': { type: 'string', value: 'cwt|jwt|reference', help: 'its access tokens: CWT (default), JWT (RFC 9068, for HTTP APIs) or reference handles' },
      'split-token': { type: 'boolean', help: 'with --token-format jwt: the client gets header.payload, the signature goes to the service\'s --split-token-redis (the gateway joins them)' },
      // Tokens without CWT tag 61 (RFC 8392 §6), for peers that cannot read it (e.g. ruby-cose).
      'untagged-tokens': { type: 'boolean', help: 'omit CWT tag 61 (for peers that cannot read it)' },
      scope: { type: 'string', multiple: true, value: 'S', help: 'a scope the device serves (AIF-REST "/path:GET,PUT" or a name)' },
      'exchange-from': { type: 'string', multiple: true, value: 'AUD', help: 'accept token exchange from tokens of this audience' },
      // The device's own public key, returned to clients as rs_cnf (RFC 9201) so they can authenticate it.
      'rs-key': { type: 'string', value: 'KEY-FILE', help: "the device's public key (COSE_Key or JWK), given to clients as rs_cnf" },
      // RFC 9203: tokens carry OSCORE_Input_Material (cnf osc) and are encrypted for the device.
      profile: { type: 'string', value: 'coap_oscore', help: 'the ACE profile it speaks: coap_oscore (RFC 9203) gives its clients OSCORE material' },
    },
    examples: ['keybound authz register-device tube-123 --data-dir ./authz-data --scope "/result:GET"'],
  },
  async ({ values, positionals }, io) => {
    const protection = values.protection;
    if (protection && !['sign1', 'mac0', 'encrypt0'].includes(protection)) throw new UsageError('--protection is sign1, mac0 or encrypt0');
    const tokenFormat = values['token-format'];
    if (tokenFormat !== undefined && !TOKEN_FORMATS.includes(tokenFormat as TokenFormat)) throw new UsageError('--token-format is cwt, jwt or reference');
    if (tokenFormat !== undefined && values['reference-tokens'] && tokenFormat !== 'reference') throw new UsageError('--reference-tokens is --token-format reference');
    const profile = values.profile;
    if (profile !== undefined && profile !== 'coap_oscore') throw new UsageError('--profile is coap_oscore');
    // RFC 9203 §3.2: the OSCORE material rides in an encrypted CWT; a JWT or a handle has no place for it here.
    if (profile !== undefined && tokenFormat !== undefined && tokenFormat !== 'cwt') throw new UsageError('--profile coap_oscore takes CWT access tokens (--token-format cwt)');
    const { id, updated, droppedScopes } = await registerDevice({
      ...dataDirOf(values),
      id: positionals[0]!,
      ...(protection ? { protection: protection as 'sign1' } : {}),
      ...(values.clockless ? { clockless: true } : {}),
      ...(values['reference-tokens'] ? { referenceTokens: true } : {}),
      ...(tokenFormat !== undefined ? { tokenFormat: tokenFormat as TokenFormat } : {}),
      ...(values['untagged-tokens'] ? { untaggedTokens: true } : {}),
      ...(values['split-token'] ? { splitToken: true } : {}),
      ...(values.scope ? { scopes: values.scope } : {}),
      ...(values['exchange-from'] ? { exchangeFrom: values['exchange-from'] } : {}),
      ...(values['rs-key'] ? { rsKey: readKeyFile(values['rs-key']) } : {}),
      ...(profile ? { aceProfile: ACE_PROFILE.coap_oscore } : {}),
    });
    if (!updated) {
      io.stdout.write(`registered device ${id}\n`);
      return EXIT.ok;
    }
    io.stdout.write(`updated device ${id} (it was registered: what was given replaced, the rest and its keys stay)\n`);
    if (droppedScopes.length > 0) {
      io.stderr.write(`keybound authz register-device: warning: ${id} no longer serves ${droppedScopes.map((s) => `'${s}'`).join(', ')}: clients asking for ${droppedScopes.length === 1 ? 'it' : 'them'} are refused\n`);
    }
    return EXIT.ok;
  },
);
