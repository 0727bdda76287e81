/**
 * `keybound inspect <hex | base64url | @file> [--key <file>] [--audience <aud>]`, and
 * `keybound inspect --sample`: shows a token to a person. The structure in CBOR diagnostic
 * notation (RFC 8949 §8, embedded CBOR expanded as RFC 8610 App. G), the claims by name, and,
 * given a key, whether it verifies and why not. Never prints a key from --key: only what the
 * token itself carries.
 */
import {
  CLAIM,
  CoseError,
  MAX_TOKEN_BYTES,
  algorithmName,
  createCwt,
  decodeCbor,
  fromBase64Url,
  fromHex,
  fromUtf8,
  portableProvider,
  publicCoseKey,
  toHex,
  utf8,
  readCwtUnverified,
  verifyCwt,
  type CborValue,
  type CoseKey,
  type CwtClaims,
  cborDiag,
  kidKeyResolver,
  verifyRevocationList,
  TRL_LABEL,
  type CborMap,
  type KeyInput,
} from '../cose/index.js';
import { EXIT, type CliIo } from './io.js';
import { KeyFileError, readBoundedFile, readVerificationKeys } from './key-file.js';
import { helpOrVersion } from './command-runner.js';

export const INSPECT_USAGE =
  'keybound inspect <hex | base64url | @file> [--key <COSE_Key, JWK, /keys, /jwks.json or bundle file>] [--audience <aud>]\n' +
  '  keybound inspect --sample      make a fresh sample PoP token and inspect it';

/** A token file holds a token (raw CBOR or its text form); anything larger is not one of ours. */
const MAX_INPUT_FILE_BYTES = 4 * MAX_TOKEN_BYTES;

/** A failure the user can act on: printed as one line, exit 1 (or 2 for usage). */
class InspectFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

interface InspectArgs {
  input?: string;
  keyFile?: string;
  audience?: string;
  sample: boolean;
}

function parseArgs(args: string[]): InspectArgs {
  const out: InspectArgs = { sample: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--sample') out.sample = true;
    else if (arg === '--key' || arg === '--audience') {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new InspectFailure(`${arg} needs a value`, EXIT.usage);
      if (arg === '--key') out.keyFile = value;
      else out.audience = value;
    } else if (arg.startsWith('--')) {
      throw new InspectFailure(`unknown option ${JSON.stringify(arg.slice(0, 40))}`, EXIT.usage);
    } else if (out.input !== undefined) {
      throw new InspectFailure('give one token only', EXIT.usage);
    } else out.input = arg;
  }
  if (out.sample === (out.input !== undefined)) {
    throw new InspectFailure('give a token (hex, base64url or @file) or --sample', EXIT.usage);
  }
  return out;
}

/** Hex or base64url text of a token; whitespace (line breaks from copying) is ignored. */
export function tokenFromText(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length === 0) throw new InspectFailure('the token is empty');
  if (clean.length > 2 * MAX_INPUT_FILE_BYTES) throw new InspectFailure('the token is too long');
  try {
    // Hex is tried first: a CWT in hex (d83d..., d2...) is also valid base64url, not the reverse.
    if (/^([0-9a-fA-F]{2})+$/.test(clean)) return fromHex(clean);
    return fromBase64Url(clean.replace(/=+$/, ''));
  } catch {
    throw new InspectFailure('the token is neither hex nor base64url');
  }
}

export function readToken(input: string): Uint8Array {
  if (!input.startsWith('@')) return tokenFromText(input);
  const bytes = readBoundedFile(input.slice(1), MAX_INPUT_FILE_BYTES, 'token file');
  // A file holds raw CBOR, or the token's hex/base64url text.
  let text: string | undefined;
  try {
    text = fromUtf8(bytes);
  } catch {
    text = undefined;
  }
  if (text !== undefined && /^[\s0-9A-Za-z_=-]+$/.test(text)) return tokenFromText(text);
  return bytes;
}

const NAME_BY_LABEL = new Map<number, string>(Object.entries(CLAIM).map(([n, l]) => [l, n]));

function isoDate(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? '' : ` (${d.toISOString().replace('.000Z', 'Z')})`;
}

function describeClaim(name: keyof CwtClaims, value: unknown): string {
  switch (name) {
    case 'exp':
    case 'nbf':
    case 'iat':
      return `${String(value)}${isoDate(value as number)}`;
    case 'exi':
      return `${String(value)} s after first receipt`;
    case 'cnf': {
      const cnf = value as NonNullable<CwtClaims['cnf']>;
      if ('coseKey' in cnf) {
        const k = cnf.coseKey;
        const kid = k.kid ? `, kid h'${toHex(k.kid)}'` : '';
        return `COSE_Key(1): ${k.kty}${k.crv ? ` ${k.crv}` : ''}${kid} (public key of the holder)`;
      }
      if ('kid' in cnf) return `kid(3): h'${toHex(cnf.kid)}'`;
      if ('osc' in cnf) {
        // RFC 9203 §3.2.1. The Master Secret is a key: its length only, never its bytes.
        const o = cnf.osc;
        const parts = [`id h'${toHex(o.id)}'`, o.ms ? `ms ${o.ms.length} bytes (not shown)` : 'no ms', o.salt ? `salt h'${toHex(o.salt)}'` : '', o.contextId ? `contextId h'${toHex(o.contextId)}'` : '', o.alg !== undefined ? `alg ${String(o.alg)}` : '', o.hkdf !== undefined ? `hkdf ${String(o.hkdf)}` : ''];
        return `osc(4) OSCORE_Input_Material: ${parts.filter(Boolean).join(', ')}`;
      }
      return 'Encrypted_COSE_Key(2): sealed for the audience';
    }
    default:
      return cborDiag(value as CborValue, { expandEmbedded: true });
  }
}

function claimLines(claims: CwtClaims): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(CLAIM) as Array<keyof typeof CLAIM>) {
    const value = claims[name];
    if (value !== undefined) lines.push(`  ${`${name}(${CLAIM[name]})`.padEnd(16)}${describeClaim(name, value)}`);
  }
  for (const [label, value] of claims.other ?? []) {
    const known = typeof label === 'number' ? NAME_BY_LABEL.get(label) : undefined;
    lines.push(`  ${(known ?? `claim ${cborDiag(label)}`).padEnd(16)}${cborDiag(value, { expandEmbedded: true })}`);
  }
  return lines;
}

interface TokenCheck {
  /** Candidate keys (one key file, a key set or a bundle's trust anchors), picked by the token's kid. */
  keys?: readonly CoseKey[];
  audience?: string;
  clock: () => number;
}

/** The service's signed list (cose/revocation-list.ts) read as claims: all its labels land in `other`. */
const TRL_NAME_BY_LABEL = new Map<number, string>([
  [TRL_LABEL.fullSet, 'full_set'],
  [TRL_LABEL.diffSet, 'diff_set'],
  [TRL_LABEL.cursor, 'cursor'],
  [TRL_LABEL.more, 'more'],
  [TRL_LABEL.audience, 'audience'],
  [TRL_LABEL.sequence, 'sequence'],
  [TRL_LABEL.exiFloor, 'exi_floor'],
  [TRL_LABEL.issuedBefore, 'issued_before'],
]);

function isRevocationList(claims: CwtClaims): boolean {
  const named = Object.keys(claims).filter((k) => k !== 'other');
  const other = claims.other;
  return named.length === 0 && other !== undefined && other.has(TRL_LABEL.audience) && other.has(TRL_LABEL.sequence) && [...other.keys()].every((k) => typeof k === 'number' && TRL_NAME_BY_LABEL.has(k));
}

function trlLines(map: CborMap): string[] {
  return [...map].map(([label, value]) => {
    const name = `${TRL_NAME_BY_LABEL.get(label as number)}(${String(label)})`;
    const text = label === TRL_LABEL.issuedBefore ? `${String(value)}${isoDate(value as number)}` : cborDiag(value, { expandEmbedded: true });
    return `  ${name.padEnd(18)}${text}`;
  });
}

function verifyTrl(list: Uint8Array, key: KeyInput, check: TokenCheck, io: CliIo): number {
  try {
    const audience = check.audience ?? String(readCwtUnverified(list).claims.other!.get(TRL_LABEL.audience));
    const verified = verifyRevocationList(list, key, { audience });
    io.stdout.write(`Verification: OK (revocation list for ${JSON.stringify(verified.audience)}, sequence ${verified.sequence}${check.audience === undefined ? ', audience not checked' : ''})\n`);
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof CoseError)) throw e;
    io.stdout.write(`Verification: FAILED ${e.code}: ${e.message}\n`);
    return EXIT.failed;
  }
}

/** Prints one token; returns the exit code. */
function inspectToken(token: Uint8Array, check: TokenCheck, io: CliIo): number {
  let structure: CborValue;
  try {
    structure = decodeCbor(token, { maxBytes: MAX_TOKEN_BYTES });
  } catch (e) {
    throw new InspectFailure(`not a token: ${e instanceof CoseError ? `${e.code}: ${e.message}` : 'unreadable CBOR'}`);
  }
  io.stdout.write(`Token: ${token.length} bytes\n\nStructure (CBOR diagnostic notation, RFC 8949 §8; << >> is embedded CBOR):\n`);
  io.stdout.write(`${cborDiag(structure, { expandEmbedded: true, indent: 2 })}\n\n`);

  let unverified: ReturnType<typeof readCwtUnverified>;
  try {
    unverified = readCwtUnverified(token);
  } catch (e) {
    throw new InspectFailure(`not a readable CWT: ${e instanceof CoseError ? `${e.code}: ${e.message}` : 'unreadable'}`);
  }
  const trl = isRevocationList(unverified.claims);
  if (trl) {
    io.stdout.write(`Revocation list in a COSE_${unverified.type} (as sent, before any verification):\n`);
    io.stdout.write(`${trlLines(unverified.claims.other!).join('\n')}\n\n`);
  } else {
    io.stdout.write(`Claims of the COSE_${unverified.type} (as sent, before any verification):\n`);
    io.stdout.write(`${claimLines(unverified.claims).join('\n')}\n\n`);
  }

  if (!check.keys) {
    io.stdout.write('Verification: not checked (give --key <COSE_Key, JWK, /keys, /jwks.json or bundle file>)\n');
    return EXIT.ok;
  }
  // One key is used as given (its kid need not match); among several, the token's kid picks.
  const keyInput = check.keys.length === 1 ? check.keys[0]! : kidKeyResolver(check.keys);
  if (trl) return verifyTrl(token, keyInput, check, io);
  try {
    const result = verifyCwt(token, keyInput, {
      // inspect is a tool: the audience is checked only when the user names one.
      ...(check.audience !== undefined ? { audience: check.audience } : { anyAudience: true }),
      allowNoCnf: true,
      clock: check.clock,
    });
    const kid = result.header.kid ? `, kid h'${toHex(result.header.kid)}'` : '';
    const aud = check.audience !== undefined ? `, audience ${JSON.stringify(check.audience)}` : ', audience not checked';
    io.stdout.write(`Verification: OK (COSE_${result.protection.type}, alg ${algorithmName(result.header.alg.id)}${kid}${aud})\n`);
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof CoseError)) throw e;
    io.stdout.write(`Verification: FAILED ${e.code}: ${e.message}\n`);
    return EXIT.failed;
  }
}

/** Typical PoP access token of the README and the bench: AS kid "as-1", EdDSA, cnf an Ed25519 key. */
export function makeSampleToken(now: number): { token: Uint8Array; asPublicKey: CoseKey } {
  const as = portableProvider.generateKeyPair('Ed25519');
  const client = portableProvider.generateKeyPair('Ed25519');
  const asKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', kid: utf8('as-1'), x: as.x, d: as.d };
  const claims: CwtClaims = {
    iss: 'https://as.example',
    sub: 'ekg-abc',
    aud: 'tube-123',
    exp: now + 3600,
    iat: now,
    cti: portableProvider.randomBytes(8),
    cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: client.x } },
    scope: 'read_result',
  };
  return { token: createCwt(claims, asKey), asPublicKey: publicCoseKey(asKey) };
}

export interface InspectDeps {
  /** Seconds since the epoch; the real clock by default (this is the outermost wiring layer). */
  clock?: () => number;
}

const INSPECT_SPEC = {
  name: 'inspect',
  summary: 'Decode a token (hex, base64url or @file) claim by claim; with --key, verify it too.',
  positionals: ['TOKEN'],
  options: {
    key: { type: 'string', value: 'KEY-FILE', help: "the issuer's key: a COSE_Key or JWK, the service's /keys or /jwks.json, or a provisioning bundle (picked by kid)" },
    audience: { type: 'string', value: 'AUD', help: 'check the token is for this audience' },
    sample: { type: 'boolean', help: 'make a fresh sample PoP token and inspect it (no TOKEN)' },
  },
  examples: ['keybound inspect @token.cbor --key as-key.json --audience tube-123', 'keybound inspect --sample'],
} as const;

export async function inspect(args: string[], io: CliIo, deps: InspectDeps = {}): Promise<number> {
  const early = helpOrVersion(INSPECT_SPEC, args, io);
  if (early !== undefined) return early;
  const clock = deps.clock ?? (() => Math.floor(Date.now() / 1000));
  try {
    const parsed = parseArgs(args);
    if (parsed.sample) {
      const { token, asPublicKey } = makeSampleToken(clock());
      io.stdout.write(`Sample PoP access token (fresh keys; AS kid "as-1"), hex:\n${toHex(token)}\n\n`);
      return inspectToken(token, { keys: parsed.keyFile ? readVerificationKeys(parsed.keyFile, clock()) : [asPublicKey], audience: parsed.audience ?? 'tube-123', clock }, io);
    }
    const token = readToken(parsed.input!);
    const keys = parsed.keyFile !== undefined ? readVerificationKeys(parsed.keyFile, clock()) : undefined;
    return inspectToken(token, { ...(keys ? { keys } : {}), ...(parsed.audience !== undefined ? { audience: parsed.audience } : {}), clock }, io);
  } catch (e) {
    if (e instanceof InspectFailure || e instanceof KeyFileError) {
      io.stderr.write(`keybound inspect: ${e.message}\n`);
      return e instanceof InspectFailure ? e.exitCode : EXIT.failed;
    }
    if (e instanceof CoseError) {
      io.stderr.write(`keybound inspect: ${e.code}: ${e.message}\n`);
      return EXIT.failed;
    }
    throw e;
  }
}
