/**
 * The resources a device serves, as a plain object: what `keybound device serve --handler
 * ./handler.js` loads (its default export). A request reaches a function only after the device
 * has verified the token, the proof of possession and the scope for exactly this method and path.
 *
 *   export default {
 *     resources: {
 *       '/temp': { GET: (req) => ({ payload: '21.5' }) },
 *       '/valve': { PUT: (req) => ({ code: 204 }) },
 *     },
 *   };
 *
 * A function gets { method, resource, payload (bytes), text (payload as UTF-8), subject (the
 * client the token names) } and returns { code?, payload? } where payload is bytes, text (sent as
 * UTF-8) or any other value (sent as CBOR, RFC 8949); code defaults to 205 (CoAP 2.05 Content).
 * Functions are synchronous: the device verifies, serves and answers one request in one step, so
 * no other message interleaves with its replay and sequence state. A sensor that is slow to read
 * is sampled ahead (the module's own timer) and the function returns the latest value.
 * An unknown path answers 404, a method the path lacks 405, a function that throws 500 (logged
 * by name only: its message could hold anything).
 */
import { encodeCbor, fromUtf8, utf8, type CborValue } from '../cose/index.js';
import type { DeviceHandler, DeviceRequest } from './resource-server.js';
import type { DeviceResponseBody } from './device-messages.js';

export interface ResourceRequest extends DeviceRequest {
  /** The payload as UTF-8 text ('' when it is not valid UTF-8). */
  text: string;
}

export interface ResourceAnswer {
  code?: number;
  payload?: Uint8Array | string | CborValue;
}

export type ResourceFunction = (request: ResourceRequest) => ResourceAnswer | undefined;

export interface ResourceModule {
  resources: Record<string, Partial<Record<string, ResourceFunction>>>;
}

/** Why a module cannot serve, or undefined when it has the shape above. */
export function resourceModuleFlaw(module: unknown): string | undefined {
  if (typeof module !== 'object' || module === null) return 'the default export must be an object';
  const resources = (module as { resources?: unknown }).resources;
  if (typeof resources !== 'object' || resources === null) return 'the default export needs a `resources` object';
  for (const [path, methods] of Object.entries(resources)) {
    if (!path.startsWith('/')) return `resource ${JSON.stringify(path.slice(0, 40))} must start with /`;
    if (typeof methods !== 'object' || methods === null) return `resource ${path.slice(0, 40)} must map methods to functions`;
    for (const [method, fn] of Object.entries(methods)) {
      if (typeof fn !== 'function') return `${method.slice(0, 8)} ${path.slice(0, 40)} is not a function`;
    }
  }
  return undefined;
}

function textOf(payload: Uint8Array): string {
  try {
    return fromUtf8(payload);
  } catch {
    return '';
  }
}

function payloadBytes(payload: ResourceAnswer['payload']): Uint8Array | undefined {
  if (payload === undefined) return undefined;
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === 'string') return utf8(payload);
  return encodeCbor(payload);
}

/** A DeviceHandler serving a resource module; `onError` hears of a function that threw or answered nonsense. */
export function resourceHandler(module: ResourceModule, onError?: (what: string, error: unknown) => void): DeviceHandler {
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  return (request): DeviceResponseBody => {
    if (!own(module.resources, request.resource)) return { code: 404, error: 'not_found' };
    const methods = module.resources[request.resource]!;
    const fn = own(methods, request.method) ? methods[request.method] : undefined;
    if (!fn) return { code: 405, error: 'method_not_allowed' };
    try {
      const answer = fn({ ...request, text: textOf(request.payload) }) ?? {};
      if (typeof (answer as { then?: unknown }).then === 'function') throw new TypeError('resource functions are synchronous (see resource-handlers.ts)');
      const code = answer.code ?? 205;
      if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError('code must be an integer from 200 to 599');
      const payload = payloadBytes(answer.payload);
      return payload === undefined ? { code } : { code, payload };
    } catch (error) {
      onError?.(`${request.method} ${request.resource}`, error);
      return { code: 500, error: 'handler_failed' };
    }
  };
}

/**
 * The default module: a readable demo resource, so a device runs before anyone writes a handler.
 * `/result` (GET) is the test result of DESIGN.md's test tube; `/hello` (GET) names the device and
 * the client the token was issued to.
 */
export function demoResources(deviceId: string, clock: () => number): ResourceModule {
  return {
    resources: {
      '/result': { GET: () => ({ payload: `${deviceId}: result negative (demo value, read at ${clock()})` }) },
      '/hello': { GET: (req) => ({ payload: `hello ${req.subject ?? 'client'}, this is ${deviceId}` }) },
    },
  };
}
