/**
 * A small HTTP client for the authorization service tests: one request in one of the three
 * encodings, and the answer decoded by its content type. Real fetch against a real server.
 */
import { aceErrorName, coseKeyFromMap, decodeCbor, encodeCbor, fromUtf8, toHex, verifyRevocationList, type CborMap } from '../../cose/index.js';
import { nativeProvider } from '../../cose/adapters/index.js';

export type Enc = 'json' | 'cbor' | 'form';

export interface Reply {
  status: number;
  data: any;
  ct: string;
}

export async function post(base: string, path: string, body: Record<string, unknown> | CborMap | string | Uint8Array, enc: Enc, headers: Record<string, string> = {}): Promise<Reply> {
  const type = enc === 'cbor' ? 'application/ace+cbor' : enc === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  const payload =
    body instanceof Uint8Array || typeof body === 'string'
      ? body
      : body instanceof Map
        ? encodeCbor(body)
        : enc === 'json'
          ? JSON.stringify(body)
          : new URLSearchParams(body as Record<string, string>).toString();
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': type, ...headers }, body: payload });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ct = res.headers.get('content-type') ?? '';
  const data: any = ct.includes('cbor') ? decodeCbor(bytes) : ct.includes('json') ? JSON.parse(fromUtf8(bytes)) : fromUtf8(bytes);
  return { status: res.status, data, ct };
}

export const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** error of a reply in either encoding. */
export function errorOf(r: Reply): string | undefined {
  return r.data instanceof Map ? aceErrorName(r.data.get(30)) : r.data?.error;
}

/** Signs in as `user` and approves the pending authorization request; returns the code. */
export async function loginAndConsent(base: string, query: URLSearchParams, user: string, password: string): Promise<string> {
  return (await loginAndConsentRedirect(base, query, user, password)).searchParams.get('code')!;
}

/** The same, returning the whole authorization response (the redirect's URL: code, state, iss). */
export async function loginAndConsentRedirect(base: string, query: URLSearchParams, user: string, password: string): Promise<URL> {
  let res = await fetch(`${base}/authorize?${query}`, { redirect: 'manual' });
  if (res.status !== 200) throw new Error(`authorize answered ${res.status} ${res.headers.get('location') ?? ''}`);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  let html = await res.text();
  let csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  // The forms name the authorization request they show; the POSTs carry that id back.
  const request = /name="request" value="([^"]+)"/.exec(html)![1]!;
  res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, next: '/consent', request, username: user, password }) });
  const cookie2 = res.headers.get('set-cookie')!.split(';')[0]!;
  html = await res.text();
  csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  res = await fetch(`${base}/consent`, { method: 'POST', redirect: 'manual', headers: { cookie: cookie2, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, request, decision: 'approve' }) });
  return new URL(res.headers.get('location')!);
}

/** Signs in as `user` on the verification page (RFC 8628 §3.3) and approves `userCode`; returns the page's status. */
export async function approveDeviceCode(base: string, userCode: string, user: string, password: string): Promise<number> {
  let res = await fetch(`${base}/device`);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  let csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, next: '/device', username: user, password }) });
  const signedIn = res.headers.get('set-cookie')!.split(';')[0]!;
  res = await fetch(`${base}/device`, { headers: { cookie: signedIn } });
  csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  res = await fetch(`${base}/device`, { method: 'POST', headers: { cookie: signedIn, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, user_code: userCode, decision: 'approve' }) });
  return res.status;
}

/** The token hashes (hex) on an audience's signed /trl, verified with the service's published key. */
export async function trlHashes(base: string, audience: string): Promise<string[]> {
  const keys = decodeCbor(new Uint8Array(await (await fetch(`${base}/keys`)).arrayBuffer())) as CborMap[];
  const res = await fetch(`${base}/trl/${encodeURIComponent(audience)}`);
  if (res.status !== 200) throw new Error(`/trl/${audience} answered ${res.status}`);
  const list = verifyRevocationList(new Uint8Array(await res.arrayBuffer()), coseKeyFromMap(keys[0]!), { audience, provider: nativeProvider });
  return list.fullSet!.map((h) => toHex(h));
}
