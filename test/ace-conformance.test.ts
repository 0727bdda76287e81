/**
 * Conformant ACE messages (issue 18): what RFC 9200 / RFC 9201 clients send, the running
 * authorization service accepts (and refuses what they forbid, with their error codes), and what
 * keybound writes, a conformant peer reads.
 *
 * - The figures (test/vectors/ace/, README there) are encoded from their diagnostic notation by an
 *   independent encoder (test/interop/ace_cbor_peer.py on Debian cbor2), or used as printed hex,
 *   posted over real HTTP as application/ace+cbor to `createAuthzServer` on SQLite on disk, and
 *   each answer is read back with the device client (device/token-client.ts).
 * - keybound's own writers (token responses, errors, creation hints, introspection) are decoded
 *   by that peer, and the CBOR major type of every parameter is asserted against RFC 9200 Table 5.
 * The figures assume a DTLS-authenticated client; here the client authenticates with HTTP Basic
 * (the body stays as printed). Identifiers are adapted only where a registration must match; each
 * such test says so.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  audienceFromSafeName,
  constantTimeEqual,
  decodeCbor,
  fromHex,
  fromUtf8,
  isValidTopicName,
  publicCoseKey,
  safeAudienceName,
  toHex,
  utf8,
  verifyCwt,
  type CborMap,
  type CborValue,
  type CoseKey,
  type ParsedHeaders,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, RegistryError, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { AuthorizationServiceError, DEVICE_ERR, DeviceError, decodeTokenResponse, encodeHints, encodeResponseBody, readCreationHints, requestToken } from '../device/index.js';
import { deviceTopics } from '../device/adapters/index.js';
import { publishRoute } from '../broker/index.js';
import { basic, loginAndConsent, trlHashes } from './support/authz-client.js';
import { PYTHON, pythonHas } from './support/python-peer.js';

const PEER = fileURLToPath(new URL('./interop/ace_cbor_peer.py', import.meta.url));
const VECTORS = fileURLToPath(new URL('./vectors/ace/rfc-figures.json', import.meta.url));

const available = pythonHas(['cbor2'], 'python3-cbor2');

interface Typed {
  t: 'uint' | 'nint' | 'bstr' | 'tstr' | 'bool' | 'null' | 'undefined' | 'float' | 'array' | 'map' | 'tag';
  v?: any;
  hex?: string;
  tag?: number;
}

function peer(request: object): any {
  const out = JSON.parse(execFileSync(PYTHON, [PEER], { input: JSON.stringify(request), encoding: 'utf8', timeout: 20_000 }));
  if (out.error) throw new Error(`peer: ${out.error}`);
  return out;
}
/** Diagnostic notation to bytes, by the independent encoder. */
const encodeDiag = (diag: string): Uint8Array => fromHex(peer({ op: 'encode', diag }).hex);
/** Bytes to the independent decoder's typed view: {label: typed value} of a top-level map. */
function peerMap(bytes: Uint8Array): { entries: Map<number | string, Typed>; deterministic: boolean } {
  const out = peer({ op: 'decode', hex: toHex(bytes) });
  expect(out.value.t).toBe('map');
  return { entries: new Map((out.value.v as [Typed, Typed][]).map(([k, v]) => [k.v as number | string, v])), deterministic: out.deterministic };
}
/** The major types of a map's entries, by label: what Table 5 is about. */
const majorTypes = (m: Map<number | string, Typed>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [String(k), v.t]));

interface Vector {
  name: string;
  source: string;
  kind: string;
  hex?: string;
  diag?: string;
  crossCheckHex?: string;
}
const vectors: Vector[] = JSON.parse(readFileSync(VECTORS, 'utf8')).vectors;
const vector = (name: string): Vector => vectors.find((v) => v.name === name)!;
/** A figure's bytes: printed hex where the RFC gives it, else its diagnostic notation through the peer. */
const figureBytes = (v: Vector): Uint8Array => (v.hex ? fromHex(v.hex) : encodeDiag(v.diag!));

const NOW = 1_800_000_000;
const clock = () => NOW;
const SECRET = 'myclient-secret';
/** Figure 6's kid (b64'6kg0dXJM13U'): the key registered for myclient carries it, so the figure needs no change. */
const FIGURE6_KID = fromHex('ea483475724cd775');
const myKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('P-256');
  return { kty: 'EC2', crv: 'P-256', x: p.x, y: p.y!, d: p.d, kid: FIGURE6_KID };
})();
const URI_AUDIENCE = 'coaps://rs.example.com';
/** RFC 9200 Figure 12's rs_cnf key (kid "some public key id"). */
const FIGURE12_RS_KEY: CoseKey = {
  kty: 'EC2',
  crv: 'P-256',
  kid: utf8('some public key id'),
  x: fromHex('30a0424cd21c2944838a2d75c92b37e76ea20d9f00893a3b4eee8a3c0aafec3e'),
  y: fromHex('e04b65e92456d9888b52b379bdfbd51ee869ef1f0fc65b6659695b6cce081723'),
};

interface Service {
  store: SqliteStore;
  server: AuthzServer;
  base: string;
}
let main: Service;
/** A second service where myclient reaches one audience: Figure 5 names none (RFC 9200 §5.8.1 lets it). */
let single: Service;

async function startService(register: (store: SqliteStore) => Promise<void>): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'ace-conf-'));
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  await register(store);
  const server = await createAuthzServer({ store, dataDir: dir, clock });
  const base = (await server.listen(0)).url;
  return { store, server, base };
}

interface Answer {
  status: number;
  ct: string;
  body: Uint8Array;
}
/** POSTs bytes exactly as given, as application/ace+cbor. */
async function postAce(base: string, path: string, body: Uint8Array, authorization?: string): Promise<Answer> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/ace+cbor', ...(authorization ? { authorization } : {}) }, body });
  return { status: res.status, ct: res.headers.get('content-type') ?? '', body: new Uint8Array(await res.arrayBuffer()) };
}
const asMyclient = basic('myclient', SECRET);

/** The device client's reading of a refusal: the typed error it throws. */
function refusalOf(a: Answer): AuthorizationServiceError {
  try {
    decodeTokenResponse(a.body);
  } catch (e) {
    expect(e).toBeInstanceOf(AuthorizationServiceError);
    expect((e as DeviceError).code).toBe(DEVICE_ERR.AS_ERROR);
    return e as AuthorizationServiceError;
  }
  throw new Error(`expected a refusal, got ${a.status}`);
}

function claimsOf(s: Service, token: Uint8Array, audience: string) {
  const keys = s.server.keys.publicKeys(NOW);
  const byKid = (h: ParsedHeaders) => keys.find((k) => k.kid && h.kid && constantTimeEqual(k.kid, h.kid));
  return verifyCwt(token, byKid, { audience, clock, provider: nativeProvider }).claims;
}

beforeAll(async () => {
  if (!available) return;
  main = await startService(async (store) => {
    await registerAudience(store, nativeProvider, { id: 'tempSensor4711', scopes: ['read', 'write'] });
    await registerAudience(store, nativeProvider, { id: 'valve424', scopes: ['read'] });
    await registerAudience(store, nativeProvider, { id: URI_AUDIENCE, scopes: ['rTempC'] });
    // An audience that speaks the DTLS profile (RFC 9202), not the default: responses must name it.
    await registerAudience(store, nativeProvider, { id: 'dtls-sensor', scopes: ['read'], aceProfile: 1 });
    const audiences = ['tempSensor4711', 'valve424', URI_AUDIENCE, 'dtls-sensor'];
    await registerClient(store, { id: 'myclient', secret: SECRET, publicKey: publicCoseKey(myKey), audiences, scopes: ['read', 'rTempC'] });
    await registerClient(store, { id: 'otherclient', secret: 'other-secret', audiences, scopes: ['read'] });
    await registerClient(store, { id: 'rs-valve', secret: 'rs-secret', audiences: ['valve424'], grantTypes: [] });
    // Appendix B.1 (Figures 12, 13): the RS key rs_cnf carries is Figure 12's; the scopes are Figure 13's.
    await registerAudience(store, nativeProvider, { id: 'tempSensorInLivingRoom', scopes: ['temperature_g', 'firmware_p'], rsKey: FIGURE12_RS_KEY });
    await registerClient(store, { id: 'myclient2', secret: SECRET, audiences: ['tempSensorInLivingRoom'], scopes: ['temperature_g', 'firmware_p'] });
    // Appendix B.2 (Figures 17, 19): a reference-token audience, the key fob and the door that introspects.
    await registerAudience(store, nativeProvider, { id: 'PACS1337', scopes: ['open', 'close'], referenceTokens: true });
    await registerClient(store, { id: 'keyfob', secret: 'keyfob-secret', audiences: ['PACS1337'], scopes: ['open', 'close'] });
    await registerClient(store, { id: 'FrontDoor', secret: 'door-secret', audiences: ['PACS1337'], grantTypes: [] });
    await registerUser(store, 'alice', 'correct horse');
    await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['tempSensor4711'], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: ['http://127.0.0.1:9/cb'] });
  });
  single = await startService(async (store) => {
    await registerAudience(store, nativeProvider, { id: 'tempSensor4711', scopes: ['read'] });
    await registerClient(store, { id: 'myclient', secret: SECRET, audiences: ['tempSensor4711'], scopes: ['read'] });
  });
}, 60_000);

afterAll(async () => {
  for (const s of [main, single]) {
    if (!s) continue;
    await s.server.close();
    s.store.close();
  }
});

describe.runIf(available)('the RFC figures, transcribed and encoded by an independent encoder', () => {
  for (const v of vectors.filter((x) => x.crossCheckHex)) {
    it(`${v.name}: the Python encoding decodes to the map dcaf-rs encoded from the same figure`, () => {
      expect(decodeCbor(encodeDiag(v.diag!))).toEqual(decodeCbor(fromHex(v.crossCheckHex!)));
    });
  }

  it('rfc9200-figure2-3-creation-hints: Figure 2 encoded by the peer is Figure 3 byte for byte, and keybound writes the same bytes', () => {
    const v = vector('rfc9200-figure2-3-creation-hints');
    expect(toHex(encodeDiag(v.diag!))).toBe(v.hex);
    // keybound's writer (device/request-hints.ts) reproduces the RFC's printed hex.
    const ours = encodeHints({ as: 'coaps://as.example.com/token', audience: URI_AUDIENCE, scope: 'rTempC', cnonce: fromHex('e0a156bb3f') });
    expect(toHex(ours)).toBe(v.hex);
  });
});

describe.runIf(available)('RFC 9200 §5.8 requests posted to the running service as printed, answers read by the device client', () => {
  it('Figure 4 (no grant_type, no req_cnf): client credentials implied; a symmetric PoP key comes back in cnf', async () => {
    const a = await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure4-symmetric')), asMyclient);
    expect(a.status).toBe(200);
    expect(a.ct).toBe('application/ace+cbor');
    const r = decodeTokenResponse(a.body);
    expect(r.tokenType).toBe(2); // PoP, RFC 9200 §8.7
    expect(r.expiresIn).toBe(3600);
    expect(r.popKey?.kty).toBe('Symmetric');
    expect(r.cnf && 'coseKey' in r.cnf).toBe(true);
    expect(r.aceProfile).toBeUndefined(); // not asked, and tempSensor4711 speaks the default profile
    const claims = claimsOf(main, r.accessToken, 'tempSensor4711');
    expect(claims.sub).toBe('myclient');
    expect(claims.scope).toBe('read');
  });

  it('Figure 5 (its decrypted payload: req_cnf COSE_Key, no audience): the token binds the figure’s EC2 key; the client keeps its own', async () => {
    const a = await postAce(single.base, '/token', figureBytes(vector('rfc9200-figure5-asymmetric')), asMyclient);
    expect(a.status).toBe(200);
    const r = decodeTokenResponse(a.body);
    expect(r.cnf).toBeUndefined(); // RFC 9201 §5: the client's own key, so no cnf is needed
    const claims = claimsOf(single, r.accessToken, 'tempSensor4711');
    const bound = claims.cnf as { coseKey: CoseKey };
    expect(toHex(bound.coseKey.x!)).toBe('bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff');
    expect(toHex(bound.coseKey.y!)).toBe('20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e');
  });

  it('Figure 6 (req_cnf kid): the kid is resolved to the key registered for myclient, and the device client binds its own key', async () => {
    const a = await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure6-key-reference')), asMyclient);
    expect(a.status).toBe(200);
    const r = decodeTokenResponse(a.body, myKey);
    expect(r.popKey).toBe(myKey);
    const claims = claimsOf(main, r.accessToken, 'valve424');
    expect(toHex((claims.cnf as { coseKey: CoseKey }).coseKey.x!)).toBe(toHex(myKey.x!));
    expect(claims.scope).toBe('read');
  });

  it('Figure 6 from a client that registered no such key (client_id adapted to otherclient): invalid_request (1)', async () => {
    const diag = vector('rfc9200-figure6-key-reference').diag!.replace('"myclient"', '"otherclient"');
    const a = await postAce(main.base, '/token', encodeDiag(diag), basic('otherclient', 'other-secret'));
    expect(a.status).toBe(400);
    const e = refusalOf(a);
    expect([e.error, e.errorValue]).toEqual(['invalid_request', 1]);
    expect(e.description).toContain('kid(3)');
  });

  it('ace_profile null (RFC 9200 §5.8.1, Figure 4 plus the parameter): the answer names the profile, coap_oscore (2) by default', async () => {
    const a = await postAce(main.base, '/token', encodeDiag('{ / client_id / 24: "myclient", / audience / 5: "tempSensor4711", / ace_profile / 38: null }'), asMyclient);
    expect(a.status).toBe(200);
    expect(decodeTokenResponse(a.body).aceProfile).toBe(2);
    expect(majorTypes(peerMap(a.body).entries)['38']).toBe('uint');
  });

  it('ace_profile null in JSON too: the JSON answer names the profile; a valued one is refused', async () => {
    const ask = (profile: unknown) => fetch(`${main.base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: asMyclient }, body: JSON.stringify({ audience: 'tempSensor4711', ace_profile: profile }) });
    const ok = await ask(null);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as Record<string, unknown>;
    expect([body.ace_profile, body.token_type]).toEqual([2, 'PoP']);
    const bad = await ask('coap_dtls');
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, 'invalid_request']);
    // Form encoding has no null: an empty value asks; the answer is JSON (RFC 6749 §5.1).
    const form = await fetch(`${main.base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: asMyclient }, body: 'audience=tempSensor4711&ace_profile=' });
    expect(((await form.json()) as { ace_profile: number }).ace_profile).toBe(2);
  });

  it('an audience registered with another profile (coap_dtls, audience adapted): ace_profile is in the answer and the token unasked', async () => {
    const a = await postAce(main.base, '/token', encodeDiag('{ / client_id / 24: "myclient", / audience / 5: "dtls-sensor" }'), asMyclient);
    expect(a.status).toBe(200);
    const r = decodeTokenResponse(a.body);
    expect(r.aceProfile).toBe(1);
    expect(claimsOf(main, r.accessToken, 'dtls-sensor').ace_profile).toBe(1);
  });

  it('Figure 9 (introspection, token_type_hint 33 : 2 / PoP /; token adapted to one this service issued): active, with Table 6 types and Figure 10’s', async () => {
    const issued = decodeTokenResponse((await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure6-key-reference')), asMyclient)).body, myKey);
    const diag = vector('rfc9200-figure9-introspection-request').diag!.replace("b64'7gj0dXJQ43U'", `h'${toHex(issued.accessToken)}'`);
    expect(diag).toContain('/ token_type_hint / 33 : 2 / PoP /');
    const a = await postAce(main.base, '/introspect', encodeDiag(diag), basic('rs-valve', 'rs-secret'));
    expect(a.status).toBe(200);
    const { entries, deterministic } = peerMap(a.body);
    expect(entries.get(10)).toEqual({ t: 'bool', v: true });
    // RFC 9200 §5.9.2: scope 9 text, aud 3 text, exp 4 / iat 6 uint, cti 7 bytes, client_id 24 text, token_type 34 int (PoP 2), cnf 8 map.
    expect(majorTypes(entries)).toMatchObject({ '9': 'tstr', '3': 'tstr', '4': 'uint', '6': 'uint', '7': 'bstr', '24': 'tstr', '34': 'uint', '8': 'map', '1': 'tstr', '2': 'tstr' });
    expect(entries.get(34)!.v).toBe(2);
    expect(deterministic).toBe(true);
    // Each parameter Figure 10 (and RFC 9201's Figure 4) shows has the same major type in keybound's answer.
    const figure10 = peerMap(figureBytes(vector('rfc9200-figure10-introspection-response'))).entries;
    for (const label of [10, 9, 8]) expect(entries.get(label)!.t, `label ${label}`).toBe(figure10.get(label)!.t);
    const rfc9201Figure4 = peerMap(figureBytes(vector('rfc9201-draft-figure4-introspection-response'))).entries;
    for (const label of rfc9201Figure4.keys()) expect(entries.get(label)?.t, `label ${String(label)}`).toBe(rfc9201Figure4.get(label)!.t);
  });

  it('Figure 12’s request (client_id adapted to myclient2, registered for that one audience): rs_cnf is the RS key, and the token is Figure 13’s', async () => {
    const diag = vector('rfc9200-figure12-request').diag!.replace('"myclient"', '"myclient2"');
    const a = await postAce(main.base, '/token', encodeDiag(diag), basic('myclient2', SECRET));
    expect(a.status).toBe(200);
    const r = decodeTokenResponse(a.body);
    expect(r.rsCnf && toHex(r.rsCnf.x!)).toBe(toHex(FIGURE12_RS_KEY.x!));
    expect(majorTypes(peerMap(a.body).entries)['41']).toBe('map');
    // Figure 13: aud, scope and cnf as the RFC shows them (iat and exp are this run's).
    const claims = claimsOf(main, r.accessToken, 'tempSensorInLivingRoom');
    const figure13 = decodeCbor(figureBytes(vector('rfc9200-figure13-token-claims'))) as CborMap;
    expect(claims.aud).toBe(figure13.get(3));
    expect(claims.scope).toBe(figure13.get(9));
    const key = (figure13.get(8) as CborMap).get(1) as CborMap;
    const bound = (claims.cnf as { coseKey: CoseKey }).coseKey;
    expect([toHex(bound.kid!), toHex(bound.x!), toHex(bound.y!)]).toEqual([toHex(key.get(2) as Uint8Array), toHex(key.get(-2) as Uint8Array), toHex(key.get(-3) as Uint8Array)]);
  });

  it('Figures 17 and 19: the key fob gets an opaque reference token and a symmetric key; the door introspects it (token adapted)', async () => {
    const a = await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure17-request')), basic('keyfob', 'keyfob-secret'));
    expect(a.status).toBe(200);
    const r = decodeTokenResponse(a.body);
    expect(r.popKey?.kty).toBe('Symmetric');
    expect(r.accessToken.length).toBe(32); // a reference, not a CWT: nothing to verify offline
    const diag = vector('rfc9200-figure19-introspection-request').diag!.replace("b64'VGVzdCB0b2tlbg=='", `h'${toHex(r.accessToken)}'`);
    const i = await postAce(main.base, '/introspect', encodeDiag(diag), basic('FrontDoor', 'door-secret'));
    expect(i.status).toBe(200);
    const ours = peerMap(i.body).entries;
    const figure19 = peerMap(figureBytes(vector('rfc9200-figure19-introspection-response'))).entries;
    // Every parameter Figure 19's answer has, keybound's has too, with the same major type.
    for (const label of figure19.keys()) expect(ours.get(label)?.t, `label ${String(label)}`).toBe(figure19.get(label)!.t);
    expect(ours.get(10)).toEqual({ t: 'bool', v: true });
    expect(ours.get(9)).toEqual({ t: 'tstr', v: 'open close' });
  });

  it('RFC 9201 (draft) Figure 1: req_cnf COSE_Key alone, no client_id in the body (the client authenticates by HTTP Basic), at the one-audience service', async () => {
    const a = await postAce(single.base, '/token', figureBytes(vector('rfc9201-draft-figure1-request')), asMyclient);
    expect(a.status).toBe(200);
    const claims = claimsOf(single, decodeTokenResponse(a.body).accessToken, 'tempSensor4711');
    expect(toHex((claims.cnf as { coseKey: CoseKey }).coseKey.x!)).toBe('bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff');
  });

  it('dcaf-rs’ Encrypted_COSE_Key req_cnf (RFC 8747 §3.3; no audience, so at the one-audience service): no key shared with the client to open it, unsupported_pop_key (7)', async () => {
    const a = await postAce(single.base, '/token', figureBytes(vector('dcaf-rs-request-encrypted-req-cnf')), asMyclient);
    expect(a.status).toBe(400);
    const e = refusalOf(a);
    expect([e.error, e.errorValue]).toEqual(['unsupported_pop_key', 7]);
  });
});

describe.runIf(available)('responses from conformant peers, read by the device client', () => {
  it('Figure 7 with erratum 8232 (ace_profile 1): access_token, profile, expires_in, cnf with a symmetric COSE_Key', () => {
    const r = decodeTokenResponse(figureBytes(vector('rfc9200-figure7-response-erratum-8232')));
    expect(toHex(r.accessToken)).toBe('4a5015df6864');
    expect(r.aceProfile).toBe(1);
    expect(r.expiresIn).toBe(3600);
    expect(r.popKey?.kty).toBe('Symmetric');
    expect(toHex(r.popKey!.kid!)).toBe('dfd1aa97');
    expect(toHex(r.popKey!.k!)).toBe('849b5786457c1491be3a76dcea6c42');
  });

  it('Figure 7 as printed (ace_profile as the text "coap_dtls", which §5.8.4.3 forbids in CBOR): refused with that reason', () => {
    expect(() => decodeTokenResponse(figureBytes(vector('rfc9200-figure7-response-as-printed')))).toThrow(/ace_profile\(38\) must be an integer/);
  });

  it('RFC 9201 (draft) Figures 2 and 3: a symmetric cnf; an rs_cnf EC2 key next to the client’s own', () => {
    const sym = decodeTokenResponse(figureBytes(vector('rfc9201-draft-figure2-response')));
    expect([toHex(sym.popKey!.kid!), toHex(sym.popKey!.k!)]).toEqual(['dfd1aa97', '849b5786457c1491be3a76dcea6c427108']);
    const own = { ...myKey };
    const asym = decodeTokenResponse(figureBytes(vector('rfc9201-draft-figure3-response')), own);
    expect(asym.popKey).toBe(own); // no cnf: the key the client asked for is bound (RFC 9201 §5)
    expect([toHex(asym.rsCnf!.kid!), toHex(asym.rsCnf!.x!)]).toEqual(['12', 'bcee7eaac162f91e6f330f5771211e220b8b546c96589b0ac4ad0fd24c77e1f1']);
  });

  it('Figure 12’s response: rs_cnf with the resource server’s EC2 key', () => {
    const r = decodeTokenResponse(figureBytes(vector('rfc9200-figure12-response')));
    expect(r.rsCnf?.kty).toBe('EC2');
    expect(fromUtf8(r.rsCnf!.kid!)).toBe('some public key id');
    expect(r.rsCnfRef && 'coseKey' in r.rsCnfRef).toBe(true);
  });

  it('Figure 17’s response: an opaque reference token and a symmetric cnf', () => {
    const r = decodeTokenResponse(figureBytes(vector('rfc9200-figure17-response')));
    expect(fromUtf8(r.accessToken)).toBe('Test token');
    expect(r.popKey?.kty).toBe('Symmetric');
    expect(r.popKey!.k!.length).toBe(32);
  });

  it('RFC 9201 §3.2/§4: cnf and rs_cnf by kid; cnf must name the client’s own key', () => {
    const bytes = figureBytes(vector('rfc9201-s3.2-response-cnf-rs-cnf-by-kid'));
    const r = decodeTokenResponse(bytes, myKey);
    expect(r.popKey).toBe(myKey);
    expect(r.cnf).toEqual({ kid: FIGURE6_KID });
    expect(r.rsCnfRef).toEqual({ kid: fromHex('12') });
    expect(r.rsCnf).toBeUndefined();
    // A cnf kid the client does not hold: the token is bound to a key it cannot prove.
    const other: CoseKey = { ...myKey, kid: fromHex('01') };
    expect(() => decodeTokenResponse(bytes, other)).toThrow(/kid\(3\) names a key this client does not hold/);
  });

  it('dcaf-rs’ error response: error 4, description and error_uri as typed fields', () => {
    const e = refusalOf({ status: 400, ct: '', body: figureBytes(vector('dcaf-rs-error-unauthorized-client')) });
    expect(e.error).toBe('unauthorized_client');
    expect(e.errorValue).toBe(4);
    expect(e.description).toBe('You are not authorized to receive this token.');
    expect(e.errorUri).toBe('https://http.cat/401');
  });

  it('Figure 4: a bare RFC 9200 §5.3 hints payload and keybound’s envelope both give the hints', () => {
    const bare = readCreationHints(figureBytes(vector('rfc9200-figure2-3-creation-hints')))!;
    expect(bare).toEqual({ as: 'coaps://as.example.com/token', audience: URI_AUDIENCE, scope: 'rTempC', cnonce: fromHex('e0a156bb3f') });
    const envelope = encodeResponseBody({ code: 401, error: 'invalid_token', hints: bare });
    expect(readCreationHints(envelope)).toEqual(bare);
    expect(readCreationHints(encodeResponseBody({ code: 401, error: 'invalid_token' }))).toBeUndefined();
    expect(() => readCreationHints(new Uint8Array([0x81, 0x01]))).toThrow(/expected a map/);
  });

  it('the hints are followed: the device client asks for the hinted URI audience with the cnonce, and gets it', async () => {
    const hints = readCreationHints(figureBytes(vector('rfc9200-figure2-3-creation-hints')))!;
    const transport = async (body: Uint8Array) => (await postAce(main.base, '/token', body)).body;
    const r = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'myclient', clientSecret: SECRET }, audience: hints.audience!, scope: hints.scope!, cnonce: hints.cnonce!, popKeyId: FIGURE6_KID, popKey: myKey, askProfile: true });
    expect(r.popKey).toBe(myKey);
    expect(r.aceProfile).toBe(2);
    const claims = claimsOf(main, r.accessToken, URI_AUDIENCE);
    expect(claims.aud).toBe(URI_AUDIENCE);
    expect(claims.scope).toBe('rTempC');
    // RFC 9200 §5.10: the cnonce is copied into the token as claim 39.
    expect(claims.other?.get(39)).toEqual(fromHex('e0a156bb3f'));
  });
});

describe.runIf(available)('keybound writes the Table 5 types, as an independent decoder reads them', () => {
  it('token response: access_token bstr, expires_in uint, cnf map, scope text, token_type int; deterministic', async () => {
    const a = await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure4-symmetric')), asMyclient);
    const { entries, deterministic } = peerMap(a.body);
    // scope (9) is returned because Figure 5 asked for none (RFC 6749 §5.1).
    expect(majorTypes(entries)).toEqual({ '1': 'bstr', '2': 'uint', '8': 'map', '9': 'tstr', '34': 'uint' });
    expect(deterministic).toBe(true);
  });

  it('authorization code and refresh: code (29) and refresh_token (37) are byte strings both ways', async () => {
    const verifier = 'v'.repeat(50);
    const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: s256(verifier), code_challenge_method: 'S256', audience: 'tempSensor4711', scope: 'read' });
    const code = await loginAndConsent(main.base, q, 'alice', 'correct horse');
    const app = basic('app', 'app-secret');
    // The code as text, as keybound once took it: Table 5 says bytes, so it is refused.
    const asText = encodeDiag(`{ / grant_type / 33: 1, / code / 29: ${JSON.stringify(code)}, "code_verifier": "${verifier}", / redirect_uri / 27: "http://127.0.0.1:9/cb" }`);
    const refused = await postAce(main.base, '/token', asText, app);
    expect([refused.status, refusalOf(refused).errorValue]).toEqual([400, 1]);
    const asBytes = encodeDiag(`{ / grant_type / 33: 1, / code / 29: h'${toHex(utf8(code))}', "code_verifier": "${verifier}", / redirect_uri / 27: "http://127.0.0.1:9/cb" }`);
    const a = await postAce(main.base, '/token', asBytes, app);
    expect(a.status).toBe(200);
    const { entries } = peerMap(a.body);
    expect(majorTypes(entries)).toMatchObject({ '1': 'bstr', '2': 'uint', '8': 'map', '9': 'tstr', '34': 'uint', '37': 'bstr' });
    const r = decodeTokenResponse(a.body);
    expect(r.refreshToken).toBeInstanceOf(Uint8Array);
    expect(toHex(r.refreshToken!)).toBe(entries.get(37)!.hex);
    // The refresh token goes back as the bytes it came as.
    const again = await postAce(main.base, '/token', encodeDiag(`{ / grant_type / 33: 3, / refresh_token / 37: h'${toHex(r.refreshToken!)}' }`), app);
    expect(again.status).toBe(200);
    expect(peerMap(again.body).entries.get(37)!.t).toBe('bstr');
    // As text it is refused (wrong type), before any rotation.
    const rotated = decodeTokenResponse(again.body).refreshToken!;
    const textual = await postAce(main.base, '/token', encodeDiag(`{ / grant_type / 33: 3, / refresh_token / 37: ${JSON.stringify(fromUtf8(rotated))} }`), app);
    expect([textual.status, refusalOf(textual).errorValue]).toEqual([400, 1]);
  });

  it('error response: error (30) the §8.4 integer, error_description (31) text', async () => {
    const a = await postAce(main.base, '/token', figureBytes(vector('rfc9200-figure4-symmetric')), basic('myclient', 'wrong'));
    expect(a.status).toBe(401);
    const { entries } = peerMap(a.body);
    expect(majorTypes(entries)).toEqual({ '30': 'uint', '31': 'tstr' });
    expect(entries.get(30)!.v).toBe(2); // invalid_client
  });

  it('creation hints in a device refusal: AS and audience text, cnonce bytes', () => {
    const body = encodeResponseBody({ code: 401, error: 'invalid_token', hints: { as: 'coaps://as.example.com/token', audience: URI_AUDIENCE, scope: 'rTempC', cnonce: fromHex('e0a156bb3f') } });
    const hints = peerMap(body).entries.get(4)!;
    expect(hints.t).toBe('map');
    const types = Object.fromEntries((hints.v as [Typed, Typed][]).map(([k, v]) => [String(k.v), v.t]));
    expect(types).toEqual({ '1': 'tstr', '5': 'tstr', '9': 'tstr', '39': 'bstr' });
  });
});

describe.runIf(available)('what the RFCs forbid is refused with their error codes (RFC 9200 §5.8.3, §8.4)', () => {
  const fig5 = (extra: string) => `{ / client_id / 24: "myclient", / audience / 5: "tempSensor4711"${extra} }`;
  const cases: Array<[string, string, number | string, boolean?]> = [
    ['client_secret (25) as text, not bytes (Table 5)', `{ / client_id / 24: "myclient", / client_secret / 25: "${SECRET}", / audience / 5: "tempSensor4711" }`, 1, false],
    ['ace_profile (38) with a value in a request (§5.8.1: null only)', fig5(', / ace_profile / 38: 2'), 1],
    ['grant_type (33) spelled as text although §8.11 gives it an integer', fig5(', / grant_type / 33: "client_credentials"'), 1],
    ['grant_type (33) with an unknown integer', fig5(', / grant_type / 33: 99'), 5],
    ['audience (5) as bytes', `{ / client_id / 24: "myclient", / audience / 5: h'00' }`, 1],
    ['scope (9) as a map', fig5(', / scope / 9: { 1: 2 }'), 1],
    ['an unknown abbreviation (99)', fig5(', 99: 1'), 1],
    ['req_cnf (4) not a map', fig5(", / req_cnf / 4: h'11'"), 1],
    ['req_cnf (4) with an unknown confirmation method (RFC 8747 §3)', fig5(", / req_cnf / 4: { 5: h'11' }"), 1],
    ['req_cnf (4) with two confirmation methods at once', fig5(`, / req_cnf / 4: { 1: { 1: 2, -1: 1, -2: h'${'11'.repeat(32)}', -3: h'${'22'.repeat(32)}' }, 3: h'11' }`), 1],
    ['req_cnf (4) with a symmetric key in the clear (RFC 9201 §3.1)', fig5(`, / req_cnf / 4: { 1: { 1: 4, -1: h'${'00'.repeat(16)}' } }`), 1],
    ['req_cnf (4) COSE_Key without kty', fig5(", / req_cnf / 4: { 1: { -1: 1, -2: h'11' } }"), 1],
    ['req_cnf (4) with an RSA key the resource servers cannot check', fig5(", / req_cnf / 4: { 1: { 1: 3, -1: h'00c0ffee', -2: h'010001' } }"), 7],
    ['req_cnf (4) with an X25519 key (a key-agreement curve, no signatures to check)', fig5(`, / req_cnf / 4: { 1: { 1: 1, -1: 4, -2: h'${'09'.repeat(32)}' } }`), 7],
    ['req_cnf (4) kid naming no key of this client', fig5(", / req_cnf / 4: { 3: h'0102' }"), 1],
    ['an audience nobody registered', `{ / client_id / 24: "myclient", / audience / 5: "nowhere" }`, 'invalid_target'],
  ];
  for (const [what, diag, code, withBasic = true] of cases) {
    it(`${what}: ${typeof code === 'number' ? `error ${code}` : code}`, async () => {
      const a = await postAce(main.base, '/token', encodeDiag(diag), withBasic ? asMyclient : undefined);
      expect(a.status).toBe(400);
      expect(a.ct).toBe('application/ace+cbor');
      expect(refusalOf(a).errorValue).toBe(code);
    });
  }

  it('client_secret (25) as the byte string Table 5 gives it: accepted (the positive twin of the first case)', async () => {
    const a = await postAce(main.base, '/token', encodeDiag(`{ / client_id / 24: "myclient", / client_secret / 25: h'${toHex(utf8(SECRET))}', / audience / 5: "tempSensor4711" }`));
    expect(a.status).toBe(200);
    expect(decodeTokenResponse(a.body).accessToken.length).toBeGreaterThan(0);
  });

  it('an oversized body (17 KiB) is refused before it is parsed: 413, invalid_request (1)', async () => {
    const a = await postAce(main.base, '/token', encodeDiag(fig5(`, "padding": h'${'00'.repeat(17 * 1024)}'`)), asMyclient);
    expect(a.status).toBe(413);
    expect(refusalOf(a).errorValue).toBe(1);
  });

  it('a response the device client cannot trust is refused whole: wrong types, unknown cnf forms', () => {
    const bad: Array<[string, Record<string, CborValue>]> = [
      ['refresh_token(37) must be a byte string', { 1: new Uint8Array([1]), 37: 'text' }],
      ['expires_in(2) must be an unsigned integer', { 1: new Uint8Array([1]), 2: -5 }],
      ['ace_profile(38) must be an integer', { 1: new Uint8Array([1]), 38: 'coap_dtls' }],
      ['cnf(8) is not an RFC 8747 confirmation', { 1: new Uint8Array([1]), 8: new Map([[7, new Uint8Array([1])]]) }],
      ['cnf(8) must be a map with exactly one', { 1: new Uint8Array([1]), 8: new Map<CborValue, CborValue>([[3, new Uint8Array([1])], [2, new Uint8Array([1])]]) }],
      ['rs_cnf(41) is not an RFC 8747 confirmation', { 1: new Uint8Array([1]), 41: new Map([[3, 'not bytes']]) }],
    ];
    for (const [message, fields] of bad) {
      const m: CborMap = new Map(Object.entries(fields).map(([k, v]) => [Number(k), v]));
      const hex = toHex(encodeMapWithPeer(m));
      expect(() => decodeTokenResponse(fromHex(hex)), message).toThrow(message.split(' ')[0]!);
    }
  });
});

/** Encodes a small response map through the peer, so the device client reads bytes keybound did not write. */
function encodeMapWithPeer(m: CborMap): Uint8Array {
  const diag = (v: CborValue): string => {
    if (v instanceof Uint8Array) return `h'${toHex(v)}'`;
    if (typeof v === 'string') return JSON.stringify(v);
    if (v instanceof Map) return `{ ${[...v].map(([k, x]) => `${diag(k)}: ${diag(x)}`).join(', ')} }`;
    return String(v);
  };
  return encodeDiag(diag(m));
}

describe.runIf(available)('URI audiences: registrable, and one safe name wherever an id becomes a topic level or a file name', () => {
  it('the service serves a URI audience’s revocation list under its percent-encoded path', async () => {
    expect(await trlHashes(main.base, URI_AUDIENCE)).toEqual([]);
  });

  it('what cannot be an audience id is refused at registration with the reason', async () => {
    const bad = ['coaps://rs.example.com/#frag', 'coaps://rs example.com', 'a/b', '$SYS', `coaps://${'r'.repeat(300)}`, 'coaps://rs/%zz'];
    for (const id of bad) await expect(registerAudience(main.store, nativeProvider, { id }), id).rejects.toThrow(RegistryError);
    await expect(registerClient(main.store, { id: 'c2', secret: 's', audiences: ['a/b'] })).rejects.toThrow(RegistryError);
  });

  it('safe names: plain ids unchanged, URIs percent-encoded into one level, canonical only, and back', () => {
    expect(safeAudienceName('tube-123')).toBe('tube-123');
    expect(safeAudienceName(URI_AUDIENCE)).toBe('coaps:%2F%2Frs.example.com');
    expect(safeAudienceName('coap://rs/+/#?x=$1')).toBe('coap:%2F%2Frs%2F%2B%2F%23%3Fx%3D%241');
    expect(audienceFromSafeName('coaps:%2F%2Frs.example.com')).toBe(URI_AUDIENCE);
    expect(audienceFromSafeName('tube-123')).toBe('tube-123');
    // A second spelling of the same audience, a lower-case escape, a stray '/', '+' or '%': no audience.
    for (const name of ['%74ube-123', 'coaps:%2f%2Frs.example.com', 'a/b', 'a+b', '50%', '']) expect(audienceFromSafeName(name), name).toBeUndefined();
  });

  it('the device’s MQTT topics for a URI audience are valid topic names with the id in exactly one level', () => {
    const t = deviceTopics(URI_AUDIENCE);
    for (const topic of [t.authzInfo, t.req, t.res('app'), t.trl]) {
      expect(isValidTopicName(topic), topic).toBe(true);
      expect(topic).not.toMatch(/[+#]/);
    }
    expect(t.authzInfo.split('/')).toEqual(['ace', 'coaps:%2F%2Frs.example.com', 'authz-info']);
    expect(t.trl.split('/')).toEqual(['ace', 'trl', 'coaps:%2F%2Frs.example.com']);
  });

  it('the broker reads a revocation list topic back to the URI audience, and refuses a level no audience has', () => {
    const who = { scope: { kind: 'text' as const, tokens: [] }, clientId: 'c', subject: 'c' };
    expect(publishRoute(who as never, deviceTopics(URI_AUDIENCE).trl)).toEqual({ kind: 'trl', audience: URI_AUDIENCE });
    expect(publishRoute(who as never, 'ace/trl/%74ube-123').kind).toBe('denied');
  });
});
