/**
 * An authorization service inside the simulator: issuance as authz/ does it (DESIGN.md "Access
 * token": Sign1 or Mac0 CWTs, sealed symmetric PoP keys or the client's key in cnf, exi tokens
 * with an audience-sequence cti for clock-less devices, signed revocation lists), built from cose/
 * with seeded keys and randomness so that a seed reproduces every byte. It runs on the virtual
 * clock and costs the devices nothing: it is a server.
 */
import {
  ALG,
  createCwt,
  createRevocationList,
  encodeProvisioningBundle,
  publicCoseKey,
  sealCoseKey,
  toHex,
  tokenHash,
  utf8,
  aifMqtt,
  scopeToCbor,
  type CoseKey,
  type CryptoProvider,
  type CwtClaims,
  exiCti,
} from '../cose/index.js';
import { seededKeyPair, seededProvider } from './metered-provider.js';
import type { Prng } from './prng.js';
import { BROKER_TOKEN_LIFETIME_S, type DeviceRegistration, type FleetIssuer, type IssuedToken, type IssueRequest } from './fleet-issuer.js';

export const SIM_ISSUER = 'https://as.sim.keybound.invalid';
/** One hour: authz/'s DEFAULT_TOKEN_LIFETIME. */
export const SIM_TOKEN_LIFETIME = 3600;
const POP_KEY_BYTES = 32;
const REFERENCE_BYTES = 32;

interface AudienceKeys {
  reg: DeviceRegistration;
  macKey: CoseKey;
  encKey: CoseKey;
  exiSeq: number;
  revoked: Uint8Array[];
  trlSeq: number;
}

export function createSimIssuer(prng: Prng, clock: () => number, opts: { lifetime?: number; provider?: CryptoProvider } = {}): FleetIssuer {
  const provider = opts.provider ?? seededProvider(prng);
  const lifetime = opts.lifetime ?? SIM_TOKEN_LIFETIME;
  const ed = seededKeyPair('Ed25519', prng);
  const edKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: ed.x, d: ed.d, kid: utf8('sim-as-ed25519') };
  const ec = seededKeyPair('P-256', prng);
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
      const now = Math.floor(clock());
      const claims: CwtClaims = { iss: SIM_ISSUER, sub: req.clientId, aud: req.audience, iat: now, scope: req.scope };
      if (a.reg.clockless) {
        claims.cti = exiCti(req.audience, ++a.exiSeq);
        claims.exi = lifetime;
      } else {
        claims.cti = provider.randomBytes(16);
        claims.exp = now + lifetime;
      }
      let popKey: CoseKey;
      if (req.clientKey) {
        popKey = req.clientKey;
        claims.cnf = { coseKey: publicCoseKey(req.clientKey) };
      } else {
        // RFC 9201 §5: the service makes the symmetric PoP key and seals it for the audience (RFC 8747 §3.3).
        popKey = { kty: 'Symmetric', kid: provider.randomBytes(8), k: provider.randomBytes(POP_KEY_BYTES) };
        claims.cnf = sealCoseKey(popKey, a.encKey, { provider, kid: a.encKey.kid! });
      }
      const token =
        a.reg.protection === 'mac0'
          ? createCwt(claims, a.macKey, { provider, alg: ALG.HMAC_256_64 })
          : createCwt(claims, a.reg.protection === 'sign1-es256' ? ecKey : edKey, { provider });
      return { token, popKey };
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
          const now = Math.floor(clock());
          return createCwt(
            { iss: SIM_ISSUER, sub: req.clientId, aud: audience, iat: now, exp: now + BROKER_TOKEN_LIFETIME_S, cti: provider.randomBytes(16), cnf: { coseKey: publicCoseKey(req.key) }, scope: scopeToCbor(aifMqtt(req.scope)) },
            edKey,
            { provider },
          );
        },
      };
    },
    async close() {},
  };
}
