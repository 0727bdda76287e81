/**
 * The ACE wire constants, defined once for both sides of the token endpoint: the service
 * (authz/) writes and reads them, the device's client role (device/) and the simulator speak
 * them too. A label written twice drifts; here it has one home.
 */
import { CLAIM_CNONCE } from './cwt-claims.js';

/**
 * RFC 9200 §8.10 (IANA "OAuth Parameters CBOR Mappings"), with RFC 9201 §9 for rs_cnf: the
 * application/ace+cbor integer abbreviations of the token, introspection and revocation
 * parameters. Parameters without one (subject_token, client_assertion ...) go by name.
 * (The tables here are marked pure: a bundle that reads none of them, the verify-only device,
 * then drops them; a bundler keeps a call it cannot prove free of side effects, Object.freeze too.)
 */
export const ACE_PARAM = /* @__PURE__ */ Object.freeze({
  access_token: 1,
  expires_in: 2,
  req_cnf: 4,
  audience: 5,
  cnf: 8,
  scope: 9,
  active: 10,
  token: 11,
  client_id: 24,
  client_secret: 25,
  response_type: 26,
  redirect_uri: 27,
  state: 28,
  code: 29,
  error: 30,
  error_description: 31,
  error_uri: 32,
  grant_type: 33,
  token_type: 34,
  username: 35,
  password: 36,
  refresh_token: 37,
  ace_profile: 38,
  // RFC 9200 gives the client nonce label 39 everywhere: as a creation hint (§5.3), as this
  // token request parameter (§5.8.4.4) and as the CWT claim the AS copies it into (§5.10).
  cnonce: CLAIM_CNONCE,
  rs_cnf: 41,
} as const);

/**
 * RFC 9200 §5.8.4.3 Table 5 ("CBOR Mappings Used in Token Requests and Responses"), with RFC 9201
 * §3.1/§3.2 for req_cnf, cnf and rs_cnf and RFC 9200 §5.9.2 for the introspection parameters: the
 * CBOR type each abbreviated parameter has on the wire. Both sides read and write by this table,
 * so a byte string (client_secret 25, code 29, refresh_token 37) never leaves as text again.
 * `scope` is text or bytes in Table 5; keybound also carries AIF (RFC 9237) there, an array.
 */
export type AceWireType = 'bstr' | 'tstr' | 'uint' | 'int' | 'map' | 'bool' | 'scope' | 'profile';
export const ACE_PARAM_TYPE: Readonly<Record<keyof typeof ACE_PARAM, AceWireType>> = /* @__PURE__ */ Object.freeze({
  access_token: 'bstr',
  expires_in: 'uint',
  req_cnf: 'map',
  audience: 'tstr',
  cnf: 'map',
  scope: 'scope',
  active: 'bool',
  token: 'bstr',
  client_id: 'tstr',
  client_secret: 'bstr',
  response_type: 'tstr',
  redirect_uri: 'tstr',
  state: 'tstr',
  code: 'bstr',
  error: 'int',
  error_description: 'tstr',
  error_uri: 'tstr',
  grant_type: 'uint',
  token_type: 'int',
  username: 'tstr',
  password: 'tstr',
  refresh_token: 'bstr',
  // RFC 9200 §5.8.1: null in a request ("which profile?"), §5.8.4.3: an integer in a response.
  ace_profile: 'profile',
  cnonce: 'bstr',
  rs_cnf: 'map',
} as const);

/**
 * IANA "ACE Profile" registry (RFC 9200 §8.8): coap_dtls 1 (RFC 9202), coap_oscore 2 (RFC 9203),
 * mqtt_tls 3 (RFC 9431). The ace_profile parameter and claim carry these integers.
 */
const PROFILE_IDS = { coap_dtls: 1, coap_oscore: 2, mqtt_tls: 3 } as const;
export const ACE_PROFILE = /* @__PURE__ */ Object.freeze(PROFILE_IDS);
/**
 * The profile an audience speaks unless registered otherwise: keybound devices set up their
 * protected sessions with the ACE-OSCORE exchange at /authz-info (RFC 9203 §4.1, DESIGN.md). The
 * service names the profile in a token response when asked and whenever it is not this one
 * (RFC 9200 §5.8.4.3).
 */
export const DEFAULT_ACE_PROFILE: number = PROFILE_IDS.coap_oscore; // not ACE_PROFILE's: reading it would keep that table

/** RFC 9200 §5.3 Figure 3: AS Request Creation Hints labels. */
export const CREATION_HINT = /* @__PURE__ */ Object.freeze({ as: 1, kid: 2, audience: 5, scope: 9, cnonce: CLAIM_CNONCE } as const);

/** RFC 9200 §8.11 (IANA "OAuth Grant Type CBOR Mappings"): grant_type values in CBOR. */
export const ACE_GRANT_TYPE = /* @__PURE__ */ Object.freeze({
  password: 0,
  authorization_code: 1,
  client_credentials: 2,
  refresh_token: 3,
} as const);

/** RFC 9200 §8.7 (IANA "OAuth Token Type CBOR Mappings"): token_type values in CBOR. */
export const ACE_TOKEN_TYPE: Readonly<Record<string, number>> = /* @__PURE__ */ Object.freeze({ Bearer: 1, PoP: 2 });
/** RFC 9200 §5.8.4.2: every token keybound issues is a proof-of-possession token. */
export const TOKEN_TYPE_POP = 2;

/** RFC 8693 §2.1: token exchange; it has no CBOR abbreviation and travels as text. */
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8628 §3.4: the device authorization grant. */
export const GRANT_DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8693 §3: token type identifiers for subject_token_type and issued_token_type. */
export const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
/** A CWT (RFC 8392) as an RFC 8693 token type: what the service issues by exchange. */
export const TOKEN_TYPE_CWT = 'urn:ietf:params:oauth:token-type:cwt';
