/**
 * RFC 9200 §8.4 (IANA "OAuth Error Code CBOR Mappings"): in application/ace+cbor the `error`
 * parameter (30) carries these integers; JSON and form keep the RFC 6749 §5.2 strings. Codes
 * without a mapping (invalid_target, authorization_pending, slow_down, expired_token,
 * access_denied ...) travel as text in CBOR too, as RFC 9200 §5.8.3 allows. Here (not in authz/
 * or device/) because the service writes them and the device's client role reads them.
 */
export const ACE_ERROR_CODE: Readonly<Record<string, number>> = /* @__PURE__ */ Object.freeze({
  invalid_request: 1,
  invalid_client: 2,
  invalid_grant: 3,
  unauthorized_client: 4,
  unsupported_grant_type: 5,
  invalid_scope: 6,
  unsupported_pop_key: 7,
  incompatible_ace_profiles: 8,
});

const NAME_BY_CODE = /* @__PURE__ */ new Map<number, string>(/* @__PURE__ */ Object.entries(ACE_ERROR_CODE).map(([name, code]) => [code, name]));

/** The CBOR value for an error name: its integer where RFC 9200 §8.4 has one, else the text. */
export function aceErrorValue(name: string): number | string {
  return ACE_ERROR_CODE[name] ?? name;
}

/** The error name of a CBOR `error` value (integer or text); undefined for anything else. */
export function aceErrorName(value: unknown): string | undefined {
  if (typeof value === 'number') return NAME_BY_CODE.get(value) ?? `error ${value}`;
  return typeof value === 'string' ? value : undefined;
}
