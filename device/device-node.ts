/**
 * A whole device, transport aside (issue 10 "the device as a program"): the provisioning bundle,
 * the trust anchors as updates leave them, the resource server with persisted tokens, and what
 * each relay topic means (DESIGN.md "MQTT"):
 * - `ace/<device>/authz-info`, `ace/<device>/req`: [client id, body] envelopes; the answer goes
 *   to `ace/<device>/res/<client id>`;
 * - `ace/trl/<audience>`: the service's signed revocation list; the newest applies, an older or
 *   equal one is ignored (revocation-state.ts);
 * - `ace/<device>/trust`: a trust-anchor update (trust-updates.ts); over CoAP, POST /trust.
 * Every outcome is told to the injected logger (logger.ts): the resource server's events for
 * tokens, requests and revocation lists, and here the trust updates and what could not be routed,
 * as an event name and a few plain fields (codes, client ids, counts), never a token, key or
 * payload. Portable: no node:, no host globals.
 */
import { TrustUpdateError, type Clock, type CryptoProvider } from '../cose/index.js';
import { DeviceError } from './errors.js';
import type { DeviceStorage } from './storage.js';
import type { DeviceProfile } from './device-profile.js';
import { loadProvisioningBundle } from './trust-store.js';
import { createUpdatableTrust, type UpdatableTrust } from './trust-updates.js';
import { createResourceServer, type DeviceHandler, type ResourceServer } from './resource-server.js';
import { serveAuthzInfo, serveRequest } from './device-endpoint.js';
import { decodeEnvelope } from './device-messages.js';
import { NOOP_LOGGER, type LogFields, type Logger } from './logger.js';


export interface DeviceTopics {
  authzInfo: string;
  req: string;
  trl: string;
  trust: string;
  res(clientId: string): string;
}

export function deviceNodeTopics(deviceId: string, audience = deviceId): DeviceTopics {
  return {
    authzInfo: `ace/${deviceId}/authz-info`,
    req: `ace/${deviceId}/req`,
    trl: `ace/trl/${audience}`,
    trust: `ace/${deviceId}/trust`,
    res: (clientId) => `ace/${deviceId}/res/${clientId}`,
  };
}

export interface DeviceNodeOptions {
  /** The CBOR provisioning bundle. */
  bundle: Uint8Array;
  storage: DeviceStorage;
  clock: Clock;
  /** Builds the request handler once the device knows who it is. */
  handler: (deviceId: string) => DeviceHandler;
  /** Told of every message's outcome (logger.ts; default: no-op). */
  logger?: Logger;
  provider?: CryptoProvider;
  profile?: Partial<DeviceProfile>;
}

export interface DeviceNode {
  readonly deviceId: string;
  readonly audience: string;
  readonly topics: DeviceTopics;
  readonly server: ResourceServer;
  readonly trust: UpdatableTrust;
  /** Handles one message; returns the answer to publish, if any. Never throws for what a peer sent. */
  handle(topic: string, payload: Uint8Array): { topic: string; payload: Uint8Array } | undefined;
  /**
   * A signed trust-anchor update (trust-updates.ts), from the broker's topic or a CoAP POST to
   * /trust: applied, stale (one not newer than the set held) or refused with its code. Logged.
   */
  applyTrustUpdate(payload: Uint8Array): { outcome: 'applied'; seq: number } | { outcome: 'stale' | 'refused'; code: string };
}

/** The code of a refusal, for the log. */
const codeOf = (error: unknown): string =>
  error instanceof DeviceError || error instanceof TrustUpdateError ? error.code : error instanceof Error ? error.name : 'error';

export function createDeviceNode(opts: DeviceNodeOptions): DeviceNode {
  const { storage, clock } = opts;
  const logger = opts.logger ?? NOOP_LOGGER;
  const log = (event: string, fields: LogFields = {}, level: 'info' | 'warn' = 'info') =>
    logger[level]({ event, ...fields }, `device: ${event.replaceAll('_', ' ')}`);
  const base = loadProvisioningBundle(opts.bundle, clock());
  const trust = createUpdatableTrust(base, storage, opts.provider);
  const server = createResourceServer({
    trust: trust.trust,
    storage,
    clock,
    handler: opts.handler(base.deviceId),
    persistTokens: true,
    logger,
    ...(opts.provider ? { provider: opts.provider } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
  });
  const topics = deviceNodeTopics(base.deviceId, base.audience);

  function relay(kind: 'token' | 'request', payload: Uint8Array) {
    let envelope;
    try {
      envelope = decodeEnvelope(payload);
    } catch (error) {
      log(`${kind}_dropped`, { audience: base.audience, code: codeOf(error) }, 'warn'); // no client id: nowhere to answer
      return undefined;
    }
    const { clientId, body } = envelope;
    // The resource server logs the outcome (token_accepted, request_refused...); the envelope's
    // client id is only where the answer goes.
    const answer = kind === 'token' ? serveAuthzInfo(server, body) : serveRequest(server, body);
    return { topic: topics.res(clientId), payload: answer };
  }

  return {
    deviceId: base.deviceId,
    audience: base.audience,
    topics,
    server,
    trust,
    handle(topic, payload) {
      if (topic === topics.authzInfo) return relay('token', payload);
      if (topic === topics.req) return relay('request', payload);
      if (topic === topics.trl) {
        try {
          server.applyRevocationList(payload); // logged by the resource server, refusals too
        } catch {
          // An older or equal list (the retained one comes again at every wake) is no news.
        }
        return undefined;
      }
      if (topic === topics.trust) {
        applyTrustUpdate(payload);
        return undefined;
      }
      log('message_dropped', { audience: base.audience, reason: 'unknown topic' }, 'warn');
      return undefined;
    },
    applyTrustUpdate,
  };

  function applyTrustUpdate(payload: Uint8Array): ReturnType<DeviceNode['applyTrustUpdate']> {
    try {
      const applied = trust.apply(payload);
      log('trust_updated', { audience: base.audience, seq: applied.seq, anchors: applied.keys.length });
      return { outcome: 'applied', seq: applied.seq };
    } catch (error) {
      // The retained update comes again at every wake: once applied it is stale, and harmless.
      if (error instanceof TrustUpdateError && error.code === 'stale') {
        log('trust_ignored', { audience: base.audience, code: error.code, seq: trust.seq });
        return { outcome: 'stale', code: error.code };
      }
      log('trust_refused', { audience: base.audience, code: codeOf(error) }, 'warn');
      return { outcome: 'refused', code: codeOf(error) };
    }
  }
}
