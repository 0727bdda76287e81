/**
 * The ACE-OSCORE role of a resource server (RFC 9203 with RFC 8613): its context table, the
 * /authz-info exchange and the CoAP endpoint, made from what the core lends it. Apart from
 * resource-server-core.ts, as the home-made sessions were, so that a verify-only device
 * (device/verify-only.ts) carries none of it: no context table, no AEAD, no CoAP codec.
 */
import { OscoreState, constantTimeEqual, deriveOscoreContext, memoryOscoreStorage, toHex, type CoapMessage, type CryptoProvider, type OscoreInputMaterial } from '../cose/index.js';
import type { DeviceErrorCode } from './errors.js';
import type { DeviceProfile } from './device-profile.js';
import type { Logger } from './logger.js';
import { logText } from './logger.js';
import type { RequestHints } from './request-hints.js';
import type { AcceptedToken } from './token-acceptance.js';
import type { StoredToken } from './token-store.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { DeviceResponseBody } from './device-messages.js';
import { decodeAuthzInfoPayload, handleAuthzInfo, oscoreMaterialOf, type AuthzInfoAnswer } from './authz-info.js';
import { createOscoreContextTable, type OscoreContextEntry, type OscoreContextTable } from './oscore-contexts.js';
import { serveCoap, serveCoapMessage, type DeviceOscoreContext, type OscoreEndpoint } from './oscore-endpoint.js';

/** What the core lends the role. */
export interface OscoreRoleContext {
  audience: string;
  provider: CryptoProvider;
  profile: DeviceProfile;
  log: Logger;
  /** The acceptance core: verify and store a token (DeviceError otherwise); `bound`: see TokenAcceptance.accept. */
  ingest(token: Uint8Array, bound?: OscoreInputMaterial): AcceptedToken;
  /** Drops a held token (one an update of access rights replaced). */
  forgetToken(hash: Uint8Array): void;
  hints(): RequestHints;
  /** A held token by its hash; DeviceError when it has died (expired, revoked, evicted). */
  findToken(hash: Uint8Array): StoredToken;
  /** The scope check (DeviceError insufficient_scope). */
  authorize(entry: StoredToken, method: string, resource: string): void;
  serve(method: string, resource: string, payload: Uint8Array, subject: string | undefined): DeviceResponseBody;
}

export interface OscoreRole {
  readonly contexts: OscoreContextTable<DeviceOscoreContext>;
  authzInfoExchange(payload: Uint8Array, contentFormat?: number): AuthzInfoAnswer;
  handleCoap(message: CoapMessage): CoapMessage;
  serveCoap(bytes: Uint8Array): Uint8Array;
}

export type OscoreRoleFactory = (ctx: OscoreRoleContext) => OscoreRole;

export function createOscoreRole(ctx: OscoreRoleContext): OscoreRole {
  const { audience, provider, profile, log } = ctx;
  /** Why a context's token no longer holds (none: it holds): a context dies with its token. */
  function tokenRefusal(hash: Uint8Array): DeviceErrorCode | undefined {
    try {
      ctx.findToken(hash);
      return undefined;
    } catch (error) {
      return error instanceof DeviceError ? error.code : DEVICE_ERR.INVALID_TOKEN;
    }
  }
  const contexts = createOscoreContextTable<DeviceOscoreContext>({
    provider,
    maxContexts: profile.maxSessions,
    maxUnprovenPerToken: profile.maxUnprovenSessionsPerToken,
    tokenRefusal,
  });
  const authzInfoExchange = (payload: Uint8Array, contentFormat?: number): AuthzInfoAnswer => {
    // RFC 9203 §4.3 then RFC 8613 §3.2. The device answers with the request's nonce (§5.2), so it
    // spends no sender sequence numbers; its contexts live in RAM and a client re-posts after a reboot.
    const derive = (input: Parameters<typeof deriveOscoreContext>[0]): DeviceOscoreContext => {
      const oscore = deriveOscoreContext(input, provider);
      // In RAM, as the context itself: the device answers with the request's nonce (§5.2) and a
      // context does not outlive a reboot, so there is nothing for flash to keep.
      return { ctx: oscore, state: OscoreState.open(oscore, memoryOscoreStorage()), provider };
    };
    // The wire carries only the CoAP code (5.03 for a full token store and a busy table alike): the
    // log names the acceptance core's refusal when it was one.
    let refused: string | undefined;
    const accept = (token: Uint8Array): AcceptedToken => {
      try {
        return ctx.ingest(token);
      } catch (e) {
        if (e instanceof DeviceError) refused = e.code;
        throw e;
      }
    };
    const answer = handleAuthzInfo({ accept, contexts, derive, provider, hints: ctx.hints }, payload, contentFormat);
    if (answer.code === 201) log.info({ event: 'token_accepted', audience, oscore: answer.payload.length > 0 }, 'device: token accepted');
    else log.warn({ event: 'token_refused', audience, code: refused ?? String(answer.code) }, `device: token refused: ${refused ?? answer.code}`);
    return answer;
  };
  /**
   * RFC 9203 §4.4: a token POSTed to /authz-info under an OSCORE context updates the access rights
   * of that context. Its cnf kid(3) must name the context's OSCORE_Input_Material, for the same
   * client (subject); then it replaces the old token for every context of that material, and the
   * old token is dropped. Any failure is 4.01 (protected by the caller, as the answer is).
   */
  const updateAccessRights = (entry: OscoreContextEntry<DeviceOscoreContext>, payload: Uint8Array): number => {
    let refused: string | undefined;
    try {
      const material = oscoreMaterialOf(ctx.findToken(entry.tokenHash));
      if (!material) throw new DeviceError(DEVICE_ERR.INVALID_TOKEN, 'the context has no OSCORE input material');
      // §4.4: nonce and identifiers, if sent, are ignored.
      const accepted = ctx.ingest(decodeAuthzInfoPayload(payload).token, material);
      const key = accepted.popKey;
      if (key.kty !== 'Symmetric' || !key.k || !key.kid || !material.ms || toHex(key.kid) !== toHex(material.id) || !constantTimeEqual(key.k, material.ms)) {
        throw new DeviceError(DEVICE_ERR.UNKNOWN_KEY, "the token's cnf does not name this context's OSCORE input material");
      }
      if (accepted.subject !== entry.subject) throw new DeviceError(DEVICE_ERR.INVALID_TOKEN, 'the token is for another subject than this context');
      if (accepted.hashHex !== entry.tokenHashHex) {
        const old = entry.tokenHash;
        contexts.rebindToken(entry.tokenHashHex, { tokenHash: accepted.hash, tokenHashHex: accepted.hashHex });
        ctx.forgetToken(old);
      }
      log.info({ event: 'token_accepted', audience, oscore: true, update: true }, 'device: access rights updated');
      return 201;
    } catch (e) {
      if (!(e instanceof DeviceError)) throw e;
      refused = e.code;
    }
    log.warn({ event: 'token_refused', audience, code: refused, update: true }, `device: access rights update refused: ${refused}`);
    return 401;
  };
  const endpoint: OscoreEndpoint = {
    contexts,
    authzInfo: authzInfoExchange,
    updateAccessRights,
    authorize: (hash, method, resource) => {
      // Logged as the other transports log a refusal (resource-server-core.ts): an operator sees a
      // client asking beyond its scope (walkthrough, stop 36). Only authenticated requests get here.
      try {
        ctx.authorize(ctx.findToken(hash), method, resource);
      } catch (e) {
        if (e instanceof DeviceError) log.warn({ event: 'request_refused', audience, code: e.code, method: logText(method), resource: logText(resource), oscore: true }, `device: request refused: ${e.code}`);
        throw e;
      }
    },
    serve: (method, resource, payload, subject) => {
      const body = ctx.serve(method, resource, payload, subject);
      log.info({ event: 'request_served', audience, subject: logText(subject), method: logText(method), resource: logText(resource), oscore: true }, 'device: request served');
      return body;
    },
    hints: ctx.hints,
  };
  return {
    contexts,
    authzInfoExchange,
    handleCoap: (message) => serveCoapMessage(endpoint, message),
    serveCoap: (bytes) => serveCoap(endpoint, bytes),
  };
}
