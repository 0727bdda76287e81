/**
 * An authorization service inside the simulator: issuance as authz/ does it (DESIGN.md "Access
 * token": Sign1 or Mac0 CWTs, sealed symmetric PoP keys or the client's key in cnf, exi tokens
 * with an audience-sequence cti for clock-less devices, signed revocation lists), built from cose/
 * with seeded keys and randomness so that a seed reproduces every byte. It runs on the virtual
 * clock and costs the devices nothing: it is a server.
 */
import {
  ALG,
  createRevocationList,
  encodeProvisioningBundle,
  mintAccessToken,
  publicCoseKey,
  toHex,
  tokenHash,
  utf8,
  aifMqtt,
  scopeToCbor,
  type CoseKey,
  type CryptoProvider,
} from '../cose/index.js';
import { seededKeyPair, seededProvider } from './metered-provider.js';
import type { Prng } from './prng.js';
import { BROKER_TOKEN_LIFETIME_S, type DeviceRegistration, type FleetIssuer, type IssuedToken, type IssueRequest } from './fleet-issuer.js';

export const SIM_ISSUER = 'https://as.sim.keybound.invalid';
/** One hour: authz/'s DEFAULT_TOKEN_LIFETIME. */
export const SIM_TOKEN_LIFETIME = 3600;
const REFERENCE_BYTES = 32;

interface AudienceKeys {
  reg: DeviceRegistration;
  macKey: CoseKey;
  encKey: CoseKey;
  exiSeq: number;
  revoked: Uint8Array[];
  trlSeq: number;
}

/**
 * `signingKeys`: the stream the AS's signing keys come from (default `prng`). A fleet run in shards
 * (fleet-run.ts) gives every shard the same one, so one AS signs for the whole fleet, and its own
 * `prng` for everything else (audience keys, sealed PoP keys, reference tokens).
 */
export function createSimIssuer(prng: Prng, clock: () => number, opts: { lifetime?: number; provider?: CryptoProvider; signingKeys?: Prng } = {}): FleetIssuer {
  const provider = opts.provider ?? seededProvider(prng);
  const lifetime = opts.lifetime ?? SIM_TOKEN_LIFETIME;
  const keys = opts.signingKeys ?? prng;
  const ed = seededKeyPair('Ed25519', keys);
  const edKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: ed.x, d: ed.d, kid: utf8('sim-as-ed25519') };
  const ec = seededKeyPair('P-256', keys);
  const ecKey: CoseKey = { kty: 'EC2', crv: 'P-256', x: ec.x, y: ec.y!, d: ec.d, kid: utf8('sim-as-p256') };
  const audiences = new Map<string, AudienceKeys>();
  /** Live reference tokens and their expiry (seconds since the epoch). */
  const references = new Map<string, number>();

  const audienceOf = (id: string): AudienceKeys => {
    const a = audiences.get(id);
    if (!a) throw new RangeError(`audience ${JSON.stringify(id.slice(0, 40))} is not registered`);
    return a;
  };

  return {
    name: 'in-simulator issuer (cose/ issuance, seeded keys)',
    async register(devices) {
      for (const reg of devices) {
        audiences.set(reg.id, {
          reg,
          macKey: { kty: 'Symmetric', alg: ALG.HMAC_256_64, kid: prng.bytes(8), k: prng.bytes(32) },
          encKey: { kty: 'Symmetric', alg: ALG.AES_CCM_16_64_128, kid: prng.bytes(8), k: prng.bytes(16) },
          exiSeq: 0,
          revoked: [],
          trlSeq: 0,
        });
      }
    },
    async bundleFor(deviceId) {
      const a = audienceOf(deviceId);
      // The audience's AES key opens sealed PoP keys (RFC 8747 §3.3): device/ resolves it among the anchors by kid.
      const anchors = [publicCoseKey(edKey), publicCoseKey(ecKey), a.encKey];
      if (a.reg.protection === 'mac0') anchors.push(a.macKey);
      return encodeProvisioningBundle({
        version: 1,
        deviceId,
        audience: deviceId,
        issuer: SIM_ISSUER,
        trustAnchors: anchors,
        asUrl: `${SIM_ISSUER}/token`,
      });
    },
    async issue(req: IssueRequest): Promise<IssuedToken> {
      const a = audienceOf(req.audience);
      const key = a.reg.protection === 'mac0' ? { key: a.macKey, alg: ALG.HMAC_256_64 } : { key: a.reg.protection === 'sign1-es256' ? ecKey : edKey };
      const minted = mintAccessToken(
        {
          issuer: SIM_ISSUER,
          subject: req.clientId,
          audience: req.audience,
          scope: req.scope,
          lifetime,
          ...(a.reg.clockless ? { exiSequence: ++a.exiSeq } : {}),
          // The client's own key, or (RFC 9201 §5) a symmetric one the service makes and seals for the audience.
          cnf: req.clientKey ? { coseKey: req.clientKey } : { sealFor: a.encKey },
        },
        { ...key, clock, provider },
      );
      return { token: minted.token, popKey: req.clientKey ?? minted.popKey! };
    },
    async issueReference() {
      const handle = provider.randomBytes(REFERENCE_BYTES);
      references.set(toHex(handle), Math.floor(clock()) + lifetime);
      return handle;
    },
    async introspect(token) {
      const exp = references.get(toHex(token));
      return exp !== undefined && exp > clock() ? { active: true, exp } : { active: false };
    },
    async revokeReference(token) {
      references.delete(toHex(token));
    },
    async revoke(token, audience) {
      const a = audienceOf(audience);
      a.revoked.push(tokenHash(token, provider));
      references.delete(toHex(token));
      return createRevocationList({ audience, sequence: ++a.trlSeq, fullSet: [...a.revoked] }, edKey, { provider });
    },
    async brokerAccess(audience) {
      return {
        trust: [publicCoseKey(edKey)],
        async issue(req) {
          return mintAccessToken(
            {
              issuer: SIM_ISSUER,
              subject: req.clientId,
              audience,
              scope: scopeToCbor(aifMqtt(req.scope)),
              lifetime: BROKER_TOKEN_LIFETIME_S,
              cnf: { coseKey: req.key },
            },
            { key: edKey, clock, provider },
          ).token;
        },
      };
    },
    async close() {},
  };
}
