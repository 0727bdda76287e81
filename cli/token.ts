/**
 * `keybound token`: a PoP access token from the service for a client, bound to a key the client
 * holds (an existing private key file, or a new one written with mode 0600), or, with
 * `--token-response-out`, to a key the service makes (RFC 9200 §5.8.1: no req_cnf; the ACE-OSCORE
 * profile's Master Secret, RFC 9203 §3.2), whose whole answer is written owner-only for
 * `keybound request --token-response`. The token alone goes to stdout, so `TOKEN=$(keybound token
 * ...)` works; what happened goes to stderr, never a key. The secret comes from a file (or the file
 * named by KEYBOUND_SECRET_FILE), never from argv.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { coseKeyThumbprintUri, publicCoseKey, toBase64Url, toHex, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { authzRequest, checkAuthzUrl, readBoundedBody } from '../broker/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';
import { readSecretFile, readBytesFile } from './secret-file.js';
import { readPrivateKeyFile } from './key-file.js';
import { generateSigningKey, KEY_ALGORITHMS, writePrivateKeyFile, type KeyAlgorithm } from './key-generation.js';
import { readToken } from './inspect.js';
import { basicAuthorization, CONTENT_TYPE, decodeCliTokenAnswer, encodeCliTokenRequest, TokenRequestError, type TokenEncoding, type TokenGrant } from './token-request.js';
import { writePrivateFile } from './private-file.js';

/** A token answer is a token and a few numbers. */
const MAX_ANSWER_BYTES = 16 * 1024;
const REQUEST_TIMEOUT_MS = 15_000;

export const tokenCommand = defineCommand(
  {
    name: 'token',
    summary: 'Get a PoP access token from the service (client credentials or token exchange), bound to your key.',
    config: true,
    options: {
      'as-url': { type: 'string', value: 'URL', required: true, env: 'KEYBOUND_AS_URL', help: 'the service base URL: https, or http on loopback only' },
      ca: { type: 'string', value: 'CA.pem', env: 'KEYBOUND_CA', help: "trust this private CA for the service's certificate" },
      'client-id': { type: 'string', value: 'ID', required: true, env: 'KEYBOUND_CLIENT_ID', help: 'your registered client id' },
      'secret-file': { type: 'string', value: 'FILE', required: true, env: 'KEYBOUND_SECRET_FILE', help: 'file holding your client secret (never on the command line)' },
      audience: { type: 'string', value: 'AUD', required: true, help: 'the device or broker the token is for' },
      scope: { type: 'string', value: 'S', help: 'what to ask for: a text scope, or AIF JSON ([["/result",1]], [["sensors/#",["pub","sub"]]])' },
      'pop-key': { type: 'string', value: 'FILE', help: 'your private PoP key; if the file does not exist a new key is made and written there (mode 0600)' },
      'token-response-out': { type: 'string', value: 'FILE', help: "instead of --pop-key: the service makes the PoP key (the ACE-OSCORE profile's Master Secret) and its whole answer, key included, is written there (mode 0600) for keybound request --token-response" },
      alg: { type: 'string', value: 'EdDSA|ES256', default: 'EdDSA', help: 'the algorithm of a new --pop-key' },
      'grant-type': { type: 'string', value: 'client_credentials|token-exchange', default: 'client_credentials', help: 'client_credentials, or token-exchange of --subject-token (RFC 8693)' },
      'subject-token': { type: 'string', value: 'TOKEN|@FILE', help: 'token-exchange: the token to exchange (hex, base64url or @file)' },
      encoding: { type: 'string', value: 'cbor|json', default: 'cbor', help: 'request and answer encoding: application/ace+cbor or application/json' },
      format: { type: 'string', value: 'base64url|hex', default: 'base64url', help: 'how the token is printed' },
      out: { type: 'string', value: 'FILE', help: 'also write the token (raw CBOR) there, mode 0600' },
    },
    examples: [
      'keybound token --as-url http://127.0.0.1:8080 --client-id ekg-abc --secret-file ekg.secret --audience tube-123 --scope read_result --pop-key ekg-pop.json',
      'KEYBOUND_SECRET_FILE=app.secret keybound token --as-url https://as.example --ca ca.pem --client-id app --audience broker-1 --pop-key app-pop.cose --encoding json',
      "keybound token --as-url http://127.0.0.1:8080 --client-id ekg-7 --secret-file ekg-7.secret --audience tube-7 --scope '[[\"/result\",1]]' --token-response-out token.cbor",
    ],
  },
  async ({ values }, io) => {
    const encoding = (values.encoding ?? 'cbor') as TokenEncoding;
    if (encoding !== 'cbor' && encoding !== 'json') throw new UsageError('--encoding is cbor or json');
    const format = values.format ?? 'base64url';
    if (format !== 'base64url' && format !== 'hex') throw new UsageError('--format is base64url or hex');
    const grant = (values['grant-type'] ?? 'client_credentials') as TokenGrant;
    if (grant !== 'client_credentials' && grant !== 'token-exchange') throw new UsageError('--grant-type is client_credentials or token-exchange');
    if ((grant === 'token-exchange') !== (values['subject-token'] !== undefined)) throw new UsageError('--subject-token goes with --grant-type token-exchange, and only with it');
    const alg = (values.alg ?? 'EdDSA') as KeyAlgorithm;
    if (!KEY_ALGORITHMS.includes(alg)) throw new UsageError('--alg is EdDSA or ES256');
    if (values.out && existsSync(values.out)) throw new UsageError(`--out ${values.out} exists: not overwritten`);
    const answerFile = values['token-response-out'];
    if ((values['pop-key'] === undefined) === (answerFile === undefined)) throw new UsageError('give one of --pop-key (your key) and --token-response-out (a key the service makes)');
    if (answerFile !== undefined) {
      // The answer holds the key: a CBOR answer as `keybound request --token-response` reads it.
      if (encoding !== 'cbor') throw new UsageError('--token-response-out writes the CBOR answer: it goes with --encoding cbor');
      if (values.alg !== undefined && values.alg !== 'EdDSA') throw new UsageError('--alg is for a new --pop-key; with --token-response-out the service makes the key');
      if (existsSync(answerFile)) throw new UsageError(`--token-response-out ${answerFile} exists: not overwritten`);
    }
    let url: URL;
    try {
      url = checkAuthzUrl(values['as-url']!);
    } catch {
      if (!URL.canParse(values['as-url']!)) throw new UsageError('--as-url is not a URL');
      throw new UsageError('--as-url must be an https:// URL (http:// only on loopback): your secret and key binding cross the network');
    }
    const secret = readSecretFile(values['secret-file']!, '--secret-file', (line) => io.stderr.write(line));
    const popFile = values['pop-key'];
    const existing = popFile !== undefined && existsSync(popFile);
    const popKey: CoseKey | undefined = popFile === undefined ? undefined : existing ? readPrivateKeyFile(popFile, '--pop-key') : generateSigningKey(alg);

    const body = encodeCliTokenRequest(
      {
        grant,
        audience: values.audience!,
        ...(values.scope !== undefined ? { scope: values.scope } : {}),
        ...(popKey ? { popKey } : {}),
        ...(values['subject-token'] ? { subjectToken: readToken(values['subject-token']) } : {}),
      },
      encoding,
    );
    let res: Response;
    try {
      res = await authzRequest({ authzUrl: url.href, ...(values.ca ? { ca: readBytesFile(values.ca, '--ca') } : {}) }, 'token', {
        method: 'POST',
        headers: { 'content-type': CONTENT_TYPE[encoding], accept: CONTENT_TYPE[encoding], authorization: basicAuthorization(values['client-id']!, secret) },
        body,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    } catch (e) {
      const why = (e as { code?: string }).code ?? (e as Error).name;
      throw new TokenRequestError(`the service at ${url.origin} could not be reached (${why})`, 'unreachable');
    }
    const answerBody = await readBoundedBody(res, MAX_ANSWER_BYTES);
    const answer = decodeCliTokenAnswer(answerBody, res.headers.get('content-type') ?? '', res.status, popKey);
    // Keys are written only once the service bound a token to them: a refusal leaves no orphan key file.
    if (popFile !== undefined && popKey && !existing) writePrivateKeyFile(popFile, popKey);
    if (answerFile !== undefined) writePrivateFile(answerFile, answerBody);
    if (values.out) writePrivateFile(values.out, answer.accessToken);
    io.stdout.write(`${format === 'hex' ? toHex(answer.accessToken) : toBase64Url(answer.accessToken)}\n`);
    const boundTo =
      popKey && popFile !== undefined
        ? `bound to ${existing ? 'the key in' : 'a new key written to'} ${popFile}${existing ? '' : ' (mode 0600)'} (${coseKeyThumbprintUri(publicCoseKey(popKey), { provider: nativeProvider })})`
        : answer.serviceKey === 'osc'
          ? `bound to an OSCORE Master Secret the service made (RFC 9203), in ${answerFile} with the whole answer (mode 0600): keybound request --token-response ${answerFile}`
          : `bound to a symmetric key the service made, in ${answerFile} with the whole answer (mode 0600)`;
    io.stderr.write(
      `keybound token: ${answer.accessToken.length}-byte PoP token for ${values.audience}${answer.expiresIn !== undefined ? `, expires in ${answer.expiresIn} s` : ''}` +
        `${values.out ? `, also in ${values.out}` : ''}\n` +
        `keybound token: ${boundTo}\n`,
    );
    return EXIT.ok;
  },
);
