/**
 * A fixture authorization service for device tests, built only from cose/: an Ed25519 signing
 * key, a key shared with each device (to seal symmetric PoP keys, RFC 8747 §3.3), and a token
 * endpoint speaking application/ace+cbor. It is a stand-in for authz/, not a mock of device/.
 */
import {
  fromUtf8,
  ACE_ERROR_CODE,
  ACE_GRANT_TYPE,
  ACE_PARAM,
  TOKEN_TYPE_POP,
  createCwt,
  exiCti,
  mintAccessToken,
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
      if (!isMap(req)) return encodeCbor(new Map([[ACE_PARAM.error, ACE_ERROR_CODE.invalid_request!]]));
      const grant = req.get(ACE_PARAM.grant_type);
      const clientId = req.get(ACE_PARAM.client_id);
      const secret = req.get(ACE_PARAM.client_secret);
      // RFC 9200 Table 5: client_secret(25) is a byte string (the secret's UTF-8).
      const authed = (secret instanceof Uint8Array && fromUtf8(secret) === 'secret-ekg') || (grant !== ACE_GRANT_TYPE.client_credentials && req.get('subject_token') instanceof Uint8Array);
      if (typeof clientId !== 'string' || !authed) return encodeCbor(new Map<CborValue, CborValue>([[ACE_PARAM.error, 'invalid_client']]));
      const audience = req.get(ACE_PARAM.audience) as string;
      const reqCnf = req.get(ACE_PARAM.req_cnf);
      const { token, popKey } = mintAccessToken(
        {
          issuer: ISSUER,
          subject: clientId,
          audience,
          scope: req.get(ACE_PARAM.scope) ?? [['/temp', 1]],
          lifetime: 3600,
          cnf: isMap(reqCnf) ? { coseKey: coseKeyFromMap(reqCnf.get(1)!) } : { sealFor: sharedKeyFor(audience) },
        },
        { key: signingKey, clock, provider: portableProvider },
      );
      const res = new Map<CborValue, CborValue>([[ACE_PARAM.access_token, token], [ACE_PARAM.expires_in, 3600], [ACE_PARAM.token_type, TOKEN_TYPE_POP]]);
      if (popKey) res.set(ACE_PARAM.cnf, new Map([[1, coseKeyToMap(popKey)]]));
      return encodeCbor(res);
    },
  };
}
