/**
 * A fixture authorization service for device tests, built only from cose/: an Ed25519 signing
 * key, a key shared with each device (to seal symmetric PoP keys, RFC 8747 §3.3), and a token
 * endpoint speaking application/ace+cbor. It is a stand-in for authz/, not a mock of device/.
 */
import {
  createCwt,
  createRevocationList,
  decodeCbor,
  encodeCbor,
  encodeProvisioningBundle,
  coseKeyFromMap,
  coseKeyToMap,
  isMap,
  portableProvider,
  publicCoseKey,
  sealCoseKey,
  tokenHash,
  utf8,
  type CborValue,
  type CoseKey,
  type CwtClaims,
  exiCti,
} from '../../cose/index.js';

export const ISSUER = 'https://as.example';

export function ed25519Key(kid: string): CoseKey {
  const kp = portableProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8(kid) };
}

export function createFixtureIssuer(clock: () => number) {
  const signingKey = ed25519Key('as-1');
  const sharedKeys = new Map<string, CoseKey>();
  const exiSequence = new Map<string, number>();
  const revoked: Uint8Array[] = [];
  let trlSequence = 0;

  const sharedKeyFor = (audience: string): CoseKey => {
    let key = sharedKeys.get(audience);
    if (!key) {
      key = { kty: 'Symmetric', k: portableProvider.randomBytes(16), kid: utf8(`${audience}-shared`), alg: 10 };
      sharedKeys.set(audience, key);
    }
    return key;
  };

  return {
    signingKey,
    sharedKeyFor,
    /** The provisioning bundle the device gets at manufacture. */
    bundleFor(audience: string, extra: { notAfter?: number; anchors?: CoseKey[] } = {}): Uint8Array {
      const { anchors = [], ...rest } = extra;
      return encodeProvisioningBundle({
        version: 1,
        deviceId: audience,
        audience,
        issuer: ISSUER,
        trustAnchors: [publicCoseKey(signingKey), sharedKeyFor(audience), ...anchors],
        asUrl: `${ISSUER}/token`,
        ...rest,
      });
    },
    /** A token straight from claims (for the negative cases). */
    token(claims: CwtClaims, key: CoseKey = signingKey): Uint8Array {
      return createCwt({ iss: ISSUER, iat: clock(), ...claims }, key);
    },
    /** A symmetric PoP key sealed for `audience`, as a cnf. */
    symmetricCnf(audience: string): { popKey: CoseKey; cnf: CwtClaims['cnf'] } {
      const popKey: CoseKey = { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: portableProvider.randomBytes(4) };
      const shared = sharedKeyFor(audience);
      return { popKey, cnf: sealCoseKey(popKey, shared, { kid: shared.kid! }) };
    },
    nextExiCti(audience: string): Uint8Array {
      const seq = (exiSequence.get(audience) ?? 0) + 1;
      exiSequence.set(audience, seq);
      return exiCti(audience, seq);
    },
    revoke(token: Uint8Array, audience: string): Uint8Array {
      revoked.push(tokenHash(token));
      return createRevocationList({ audience, sequence: ++trlSequence, fullSet: [...revoked] }, signingKey);
    },
    /** The token endpoint (RFC 9200 §5.8) over ace+cbor: client_credentials and token exchange. */
    async tokenEndpoint(body: Uint8Array): Promise<Uint8Array> {
      const req = decodeCbor(body, { maxBytes: 8192, maxDepth: 6 });
      if (!isMap(req)) return encodeCbor(new Map([[30, 1]]));
      const grant = req.get(33);
      const clientId = req.get(24);
      const authed = req.get(25) === 'secret-ekg' || (grant !== 2 && req.get('subject_token') instanceof Uint8Array);
      if (typeof clientId !== 'string' || !authed) return encodeCbor(new Map<CborValue, CborValue>([[30, 'invalid_client']]));
      const audience = req.get(5) as string;
      const reqCnf = req.get(4);
      let cnf: CwtClaims['cnf'];
      let popKey: CoseKey | undefined;
      if (isMap(reqCnf)) cnf = { coseKey: coseKeyFromMap(reqCnf.get(1)!) };
      else ({ popKey, cnf } = this.symmetricCnf(audience));
      const token = createCwt(
        { iss: ISSUER, sub: clientId, aud: audience, iat: clock(), exp: clock() + 3600, cnf, scope: req.get(9) ?? [['/temp', 1]] },
        signingKey,
      );
      const res = new Map<CborValue, CborValue>([[1, token], [2, 3600], [34, 2]]);
      if (popKey) res.set(8, new Map([[1, coseKeyToMap(popKey)]]));
      return encodeCbor(res);
    },
  };
}
