/**
 * `keybound mqtt-password`: the CONNECT password for `mosquitto_pub -u ace -P "$(...)"`: base64url
 * of CBOR [token, proof] (DESIGN.md "MQTT"), the proof signed by the PoP key and bound to the
 * broker's audience, the MQTT client id and the token's hash, fresh by iat and a random jti. Run it
 * for every connection: the broker refuses a proof it has seen.
 *
 * Before signing it checks what the broker would refuse anyway, to say why in words: the key is
 * the one the token is bound to (cnf), the token is for this audience, and it has not expired.
 */
import { coseKeyThumbprint, constantTimeEqual, publicCoseKey, readCwtUnverified, toBase64Url, type CwtClaims } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createConnectPassword } from '../device/index.js';
import { defineCommand } from './command-runner.js';
import { EXIT } from './io.js';
import { readPrivateKeyFile } from './key-file.js';
import { readToken } from './inspect.js';

export class ConnectPasswordError extends Error {
  constructor(
    message: string,
    readonly code: 'wrong_key' | 'wrong_audience' | 'expired' | 'invalid_token',
  ) {
    super(message);
  }
}

function audiences(claims: CwtClaims): string[] {
  return claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
}

export const mqttPasswordCommand = defineCommand(
  {
    name: 'mqtt-password',
    summary: 'Print the MQTT CONNECT password (base64url [token, proof]) for mosquitto_pub -u ace -P; a fresh proof each run.',
    options: {
      token: { type: 'string', value: 'TOKEN|@FILE', required: true, help: 'the access token (base64url or hex, or @file), as `keybound token` printed it' },
      'pop-key': { type: 'string', value: 'FILE', required: true, help: 'the private key the token is bound to (mode 0600)' },
      audience: { type: 'string', value: 'AUD', required: true, help: "the broker's audience (as registered, e.g. broker-1)" },
      'client-id': { type: 'string', value: 'CID', required: true, help: 'the MQTT client id you connect with (mosquitto_pub -i)' },
    },
    examples: ['mosquitto_pub -h 127.0.0.1 -p 1883 -i sensor-1 -u ace -P "$(keybound mqtt-password --token @app.token --pop-key app-pop.json --audience broker-1 --client-id sensor-1)" -t sensors/1/temp -m 21.5'],
  },
  async ({ values }, io) => {
    const token = readToken(values.token!);
    const key = readPrivateKeyFile(values['pop-key']!, '--pop-key');
    let claims: CwtClaims;
    try {
      claims = readCwtUnverified(token).claims;
    } catch {
      throw new ConnectPasswordError('--token is not a readable CWT (an encrypted token cannot be checked here; the broker will decide)', 'invalid_token');
    }
    const aud = audiences(claims);
    if (!aud.includes(values.audience!)) {
      throw new ConnectPasswordError(`the token is for ${aud.map((a) => JSON.stringify(a)).join(', ') || 'no audience'}, not ${JSON.stringify(values.audience)}: get one with keybound token --audience ${values.audience}`, 'wrong_audience');
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp !== undefined && claims.exp <= now) throw new ConnectPasswordError(`the token expired ${now - claims.exp} s ago: get a new one with keybound token`, 'expired');
    const cnf = claims.cnf;
    if (cnf && 'coseKey' in cnf) {
      // RFC 9679 thumbprints compare the keys' required members only (kid, alg do not matter).
      const bound = coseKeyThumbprint(cnf.coseKey, { provider: nativeProvider });
      const mine = coseKeyThumbprint(key.kty === 'Symmetric' ? key : publicCoseKey(key), { provider: nativeProvider });
      if (!constantTimeEqual(bound, mine)) throw new ConnectPasswordError('--pop-key is not the key this token is bound to (cnf): use the key you asked the token with', 'wrong_key');
    }
    const password = createConnectPassword(token, key, { audience: values.audience!, clientId: values['client-id']!, clock: () => Date.now() / 1000, provider: nativeProvider });
    io.stdout.write(`${toBase64Url(password)}\n`);
    return EXIT.ok;
  },
);
