/**
 * The fleet scenarios of issue 6. Each device gets a client process (the EKG app, or the EKG device
 * acting as a client for a tube) that authorizes at it through the relay, then does what the
 * scenario tests: a thief's replays, a revocation, a reboot storm, clock-less expiry, the
 * connected flow through an introspecting gateway. All randomness comes from the seed.
 */
import { decodeCoapMessage, fromUtf8, utf8, type CoseKey } from '../cose/index.js';
import {
  DeviceError,
  beginOscoreClient,
  buildPopRequest,
  decodeResponseBody,
  type OscoreClient,
} from '../device/index.js';
import { GATEWAY_AUDIENCE, SENSOR_SCOPE, SIM_CLIENT_ID, type ConnectedApp, type DeviceRegistration, type FleetIssuer, type TokenProtection } from './fleet-issuer.js';
import { HARDWARE_PROFILES, type HardwareProfile } from './hardware-profiles.js';
import { jwtEquivalentBytes } from './jwt-size.js';
import { seededKeyPair, seededProvider } from './metered-provider.js';
import { PhantomTokenCache } from '../gateway/index.js';
import { Prng } from './prng.js';
import type { FlowActor, FlowTrace } from './flow-trace.js';
import { formatNumber } from './number-format.js';
import { frameMessage } from './radio-link.js';
import { SimDevice } from './sim-device.js';
import { SimMetrics } from './sim-metrics.js';
import type { Exchange, FleetRelay, Sender } from './sim-relay.js';
import { Simulator } from './simulator.js';
import { tokenProtection } from './token-protection.js';

export const SCENARIOS = ['disconnected', 'connected', 'theft', 'revocation', 'reboot-storm', 'clockless', 'mixed'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
type Role = Exclude<ScenarioName, 'mixed'>;
const ROLES: readonly Role[] = ['disconnected', 'connected', 'theft', 'revocation', 'reboot-storm', 'clockless'];

/** Virtual seconds at which the simulated epoch starts (2027-01-15), what an RTC reads at t = 0. */
export const SIM_EPOCH = 1_800_000_000;
/**
 * Defaults of the duty cycle (RunOptions can change both): devices wake every 5 minutes (a typical
 * sensor report period) and listen 1 s after each wake for the client's next handshake step. The
 * listen window at RX current is most of an idle part's energy: the report shows its battery
 * life with the window halved.
 */
export const WAKE_INTERVAL_S = 300;
export const LISTEN_WINDOW_S = 1;
/** Frame loss on the 802.15.4 link: 2% (an indoor link at moderate range, approx.). */
export const DEFAULT_FRAME_LOSS = 0.02;
/** Reboots per device in the reboot storm. */
export const STORM_REBOOTS = 4;
/** Token lifetime (exp or exi) in the simulator: long enough for the storm, short enough for the exi test. */
export const SIM_LIFETIME_S = 1800;
/** Requests each connected app makes through the gateway (a doctor's app polling the EKG)... */
export const GATEWAY_REQUESTS = 8;
/** ...30 to 150 s apart: around the cache's 5-minute TTL, so some answers are reused and some expire. */
const GATEWAY_GAP_MIN_S = 30;
const GATEWAY_GAP_SPAN_S = 120;
/** An app whose token was revoked keeps trying at most this many more times; it stops once refused. */
const GATEWAY_TRIES_AFTER_REVOCATION = 20;

export interface DevicePlan {
  id: string;
  role: Role;
  hw: HardwareProfile;
  protection: TokenProtection;
  /** 'oscore': symmetric PoP key as the OSCORE Master Secret (RFC 9203); 'proof': client's Ed25519 key, a PoP proof per request. */
  pop: 'oscore' | 'proof';
  clockless: boolean;
  alwaysOn: boolean;
  /** Connected flow: the app's reference token is revoked at the service after its first gateway request. */
  revokesReference: boolean;
}

/** Fleet mix by index: mostly class-1/2 802.15.4 motes, some Wi-Fi parts, a few class-0 parts. */
const PROFILE_CYCLE = ['nrf52840', 'cc2538', 'nrf52840', 'msp430', 'esp32', 'cc2538', 'nrf52840', 'msp430', 'nrf52840', 'esp32', 'cc2538', 'nrf52840', 'msp430', 'nrf52840', 'cc2538', 'nrf52840', 'esp32', 'msp430', 'nrf52840', 'class0-avr'];

export function planFleet(scenario: ScenarioName, devices: number): DevicePlan[] {
  const plans: DevicePlan[] = [];
  let connected = 0;
  for (let i = 0; i < devices; i++) {
    const role: Role = scenario === 'mixed' ? ROLES[i % ROLES.length]! : scenario;
    let hwName = PROFILE_CYCLE[i % PROFILE_CYCLE.length]!;
    if (role === 'connected') hwName = i % 2 === 0 ? 'esp32' : 'nrf52840';
    if (role === 'clockless') hwName = i % 2 === 0 ? 'msp430' : 'cc2538';
    if (role === 'reboot-storm' && hwName === 'class0-avr') hwName = 'nrf52840';
    const hw = HARDWARE_PROFILES[hwName]!;
    const k = Math.floor(i / PROFILE_CYCLE.length) + i;
    const protection: TokenProtection = k % 10 === 3 ? 'sign1-es256' : k % 2 === 0 ? 'sign1' : 'mac0';
    const clockless = !hw.rtc;
    // PoP proofs need iat freshness (a clock) and one Ed25519 verify more; only some RTC devices use them.
    const pop = role !== 'reboot-storm' && !clockless && protection !== 'mac0' && k % 3 === 0 ? 'proof' : 'oscore';
    // Every other connected app has its access withdrawn (the first one among them, so a small fleet shows it).
    const revokesReference = role === 'connected' && connected++ % 2 === 0;
    plans.push({ id: `dev-${String(i).padStart(5, '0')}`, role, hw, protection, pop, clockless, alwaysOn: role === 'connected', revokesReference });
  }
  return plans;
}

export function tokenTypeLabel(p: Pick<DevicePlan, 'protection' | 'pop'>): string {
  const prot = p.protection === 'mac0' ? 'Mac0' : p.protection === 'sign1' ? 'Sign1 Ed25519' : 'Sign1 ES256';
  return `${prot} + ${p.pop === 'oscore' ? 'OSCORE' : 'PoP proof'}`;
}

export interface ScenarioContext {
  sim: Simulator;
  relay: FleetRelay;
  issuer: FleetIssuer;
  metrics: SimMetrics;
  prng: Prng;
  devices: Map<string, SimDevice>;
  plans: DevicePlan[];
  /** The connected flow's gateway: its phantom-token cache, shared by every app in the run. */
  gateway: PhantomTokenCache;
  /** Seconds since the epoch: the AS and the clients have good clocks. */
  clock: () => number;
  /** Wraps outside I/O (a real AS over HTTP) so the virtual clock waits for it. */
  io<T>(p: Promise<T>): Promise<T>;
  /** The story for the demo report: one device per flow records its messages here. */
  trace: FlowTrace;
  /** The devices' wake interval, seconds: clients pace their retries by it. */
  wakeIntervalS: number;
}

/** Who asks and who answers in the story (DESIGN.md): the doctor's app asks the always-on EKG; the EKG asks a sleeping tube. */
function actors(plan: DevicePlan): { client: FlowActor; device: FlowActor } {
  return plan.role === 'connected' ? { client: 'app', device: 'ekg' } : { client: 'ekg', device: 'tube' };
}

/** A message to a device through the relay, told in the flow's story when `plan` tells one. */
async function send(ctx: ScenarioContext, plan: DevicePlan, dev: SimDevice, topic: 'authz-info' | 'req', body: Uint8Array, what: string, sender?: Sender): Promise<Exchange> {
  const told = ctx.trace.flowOf(plan.id) !== undefined;
  const from: FlowActor = sender === 'thief' ? 'thief' : actors(plan).client;
  if (told) ctx.trace.note(plan.id, { from, to: 'relay', what: `${what} to ace/${dev.id}/${topic} (${formatNumber(body.length, 'B')})`, outcome: 'sent' });
  const x = await ctx.relay.send(dev, topic, body, sender);
  if (told) ctx.trace.note(plan.id, { from: 'relay', to: actors(plan).device, what: dev.id === plan.id ? (plan.alwaysOn ? 'delivered' : 'delivered when it wakes') : `delivered to ${dev.id}`, outcome: 'sent' });
  return x;
}

/** The device's answer (or the client's verdict on it), told in the flow's story. */
function answered(ctx: ScenarioContext, plan: DevicePlan, to: FlowActor, ok: boolean, what: string, reason?: string): void {
  ctx.trace.note(plan.id, { from: actors(plan).device, to, what: ok ? what : `refused: ${reason ?? 'unknown'}`, outcome: ok ? 'ok' : 'refused', reason: ok ? undefined : (reason ?? 'unknown') });
}

const GET_TEMP = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
/** RFC 7252 §3: a CoAP message starts with version 1; the PoP answer bodies are CBOR maps (0xa0-0xbf). */
const isCoap = (b: Uint8Array): boolean => b.length >= 4 && b[0]! >> 6 === 1;
/** An OSCORE-protected answer (RFC 8613 §2: it carries the OSCORE option, 9). */
function isProtected(b: Uint8Array): boolean {
  if (!isCoap(b)) return false;
  try {
    return decodeCoapMessage(b).options.some((o) => o.number === 9);
  } catch {
    return false;
  }
}
/** RFC 8613 §8.2 step 2: the device has no context for the kid (a reboot lost its RAM). */
const NO_CONTEXT = '4.01 Security context not found';

/**
 * Why an answer refuses, or undefined: a CoAP refusal as its code and diagnostic (RFC 7252
 * §5.5.2; an ACE hints payload, Content-Format set, is not text), a PoP answer body as its error.
 */
function refusalOf(answer: Uint8Array): string | undefined {
  if (isProtected(answer)) return undefined;
  try {
    if (isCoap(answer)) {
      const m = decodeCoapMessage(answer);
      const code = `${m.code >> 5}.${String(m.code & 0x1f).padStart(2, '0')}`;
      if (m.code >> 5 < 4) return undefined;
      const text = !m.options.some((o) => o.number === 12) && m.payload.length > 0 ? ` ${fromUtf8(m.payload.slice(0, 40))}` : '';
      return `${code}${text}`;
    }
    const r = decodeResponseBody(answer);
    return r.code >= 400 ? (r.error ?? `status_${r.code}`) : undefined;
  } catch {
    return 'bad_answer';
  }
}

/** A client's hold on a device after authorizing: how to make the next request. */
interface Holding {
  token: Uint8Array;
  popKey: CoseKey;
  /** The current OSCORE client (a new one after each re-established context). */
  oscore?: () => OscoreClient;
  request(): Promise<{ ok: boolean; code?: string; exchange: Exchange }>;
}

/** Counts a refusal and keeps why this device was not authorized, for the report's table. */
function failed(ctx: ScenarioContext, plan: DevicePlan, tokenType: string, reason: string): void {
  ctx.metrics.refuse(reason);
  ctx.metrics.unauthorized.push({ profile: plan.hw.name, role: plan.role, tokenType, reason });
}

/** The client side of one authorization: token from the AS, authz-info, first request. */
async function authorize(ctx: ScenarioContext, plan: DevicePlan, prng: Prng, record: boolean): Promise<Holding | undefined> {
  const dev = ctx.devices.get(plan.id)!;
  const provider = seededProvider(prng);
  const t0 = ctx.sim.now;
  if (record) ctx.metrics.attempted++;
  const clientKey = plan.pop === 'proof' ? ((kp) => ({ kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8(`${plan.id}-client`) }) as CoseKey)(seededKeyPair('Ed25519', prng)) : undefined;
  const { client } = actors(plan);
  ctx.trace.note(plan.id, { from: client, to: 'authz', what: `token request for ${plan.id}${clientKey ? ' with its own PoP key (req_cnf)' : ''}`, outcome: 'sent' });
  const issued = await ctx.io(ctx.issuer.issue({ audience: plan.id, clientId: SIM_CLIENT_ID, scope: SENSOR_SCOPE, ...(clientKey ? { clientKey } : {}) }));
  const { token, popKey } = issued;
  // Label by what the token carries: the real service signs every Sign1 with its one algorithm.
  const tokenType = tokenTypeLabel({ protection: tokenProtection(token) ?? plan.protection, pop: plan.pop });
  ctx.trace.note(plan.id, { from: 'authz', to: client, what: `CWT issued: ${tokenType}, ${formatNumber(token.length, 'B')}`, outcome: 'ok' });
  let holding: Holding;
  let energyJ = 0;
  let airCwt = 0;
  let airJwtDelta = 0;
  const jwtBytes = jwtEquivalentBytes(token);
  const jwtAir = (bodyBytes: number, answerBytes: number) =>
    frameMessage(dev.link, bodyBytes - token.length + jwtBytes).airBytes + frameMessage(dev.link, answerBytes).airBytes;
  const cwtAir = (bodyBytes: number, answerBytes: number) => frameMessage(dev.link, bodyBytes).airBytes + frameMessage(dev.link, answerBytes).airBytes;

  if (plan.pop === 'oscore') {
    // RFC 9203 §3.2.1: the sealed symmetric PoP key is the Master Secret, its kid the id.
    const material = { id: popKey.kid ?? new Uint8Array(0), ms: popKey.k! };
    /** RFC 9203 §4.1-4.3: POST /authz-info with the token and nonce1; the context from both nonces. */
    const establish = async (what: string, creds = { token, material }): Promise<{ client?: OscoreClient; exchange: Exchange; reason?: string }> => {
      const start = beginOscoreClient(creds.token, creds.material, provider);
      dev.lastRefusal = undefined;
      const x = await send(ctx, plan, dev, 'authz-info', start.message, what);
      try {
        return { client: start.finish(x.answer), exchange: x };
      } catch (e) {
        // The wire says only the CoAP code (RFC 9203 §4.1): a 5.03 says a budget is full, not which
        // one (token store or context table), so the report takes that from the device's log.
        const wire = refusalOf(x.answer);
        const reason = wire === '5.03' ? (dev.lastRefusal ?? wire) : wire;
        return { exchange: x, reason: reason ?? (e instanceof DeviceError ? e.code : 'client_error') };
      }
    };
    const first = await establish('token + nonce1 (POST /authz-info)');
    energyJ += first.exchange.deviceJ;
    airCwt += cwtAir(first.exchange.sentBytes, first.exchange.answer.length);
    airJwtDelta += jwtAir(first.exchange.sentBytes, first.exchange.answer.length);
    if (!first.client) {
      answered(ctx, plan, client, false, '', first.reason);
      if (record) failed(ctx, plan, tokenType, first.reason ?? 'unknown');
      return undefined;
    }
    answered(ctx, plan, client, true, 'token verified offline; OSCORE context derived (2.01)');
    let oscore = first.client;
    // The OSCORE message itself goes on the relay and the radio: its option, Partial IV and tag
    // (+15 bytes a request, +11 an answer over the inner CoAP message, bench/oscore.ts) are in the
    // framed bytes and their energy; the device's AEAD operations are charged by its metered provider.
    const ask = async (): Promise<{ ok: boolean; code?: string; exchange: Exchange }> => {
      const { message, binding } = oscore.request(GET_TEMP);
      const x = await send(ctx, plan, dev, 'req', message, 'GET /temp, OSCORE');
      let code = refusalOf(x.answer);
      if (code === undefined) {
        try {
          const res = oscore.response(x.answer, binding);
          if (res.code >= 400) code = `status_${res.code}`;
        } catch (e) {
          code = e instanceof DeviceError ? e.code : 'bad_answer';
        }
      }
      answered(ctx, plan, client, code === undefined, '2.05 /temp, OSCORE', code);
      return { ok: code === undefined, ...(code ? { code } : {}), exchange: x };
    };
    holding = {
      token,
      popKey,
      oscore: () => oscore,
      async request() {
        const r = await ask();
        if (r.code !== NO_CONTEXT) return r;
        // The lead's decision: device contexts live in RAM. After a reboot the client posts its token
        // again and gets a new context from new nonces (RFC 9203 §4.3).
        let again = await establish('token + new nonce1 again (the context died with the reboot)');
        if (!again.client && plan.role === 'reboot-storm') {
          // RFC 9200 §5.10.3: a clock-less device never takes an exi token twice (it would restart
          // its exi), so the client asks the AS for a new one. (The clock-less scenario's client does
          // not: there the old token must stay refused, and the script renews on its own.)
          const fresh = await ctx.io(ctx.issuer.issue({ audience: plan.id, clientId: SIM_CLIENT_ID, scope: SENSOR_SCOPE }));
          again = await establish('a new token + nonce1 (the old exi token is never taken twice)', { token: fresh.token, material: { id: fresh.popKey.kid ?? new Uint8Array(0), ms: fresh.popKey.k! } });
        }
        if (!again.client) {
          answered(ctx, plan, client, false, '', again.reason);
          return { ok: false, code: again.reason ?? 'unknown', exchange: again.exchange };
        }
        oscore = again.client;
        return ask();
      },
    };
  } else {
    let first = true;
    holding = {
      token,
      popKey,
      async request() {
        // DPoP-like: the token travels with the first proof; later proofs name it by hash.
        const body = buildPopRequest({ token, popKey, audience: plan.id, request: GET_TEMP, includeToken: first, now: Math.floor(ctx.clock()) }, provider);
        first = false;
        const x = await send(ctx, plan, dev, 'req', body, `GET /temp with a PoP proof${body.length > token.length ? ' and the token' : ''}`);
        const code = refusalOf(x.answer);
        answered(ctx, plan, client, code === undefined, 'token and proof verified offline; 205 /temp', code);
        return { ok: code === undefined, ...(code ? { code } : {}), exchange: x };
      },
    };
  }
  const r = await holding.request();
  const reqBytes = r.exchange.answer.length;
  energyJ += r.exchange.deviceJ;
  // The request's own size: what the device received (PoP requests carry the token the first time).
  const sent = r.exchange.sentBytes;
  airCwt += cwtAir(sent, reqBytes);
  airJwtDelta += plan.pop === 'proof' ? jwtAir(sent, reqBytes) : cwtAir(sent, reqBytes);
  if (!r.ok) {
    if (record) failed(ctx, plan, tokenType, r.code ?? 'unknown');
    return undefined;
  }
  if (record) {
    ctx.metrics.authorizations.push({
      profile: plan.hw.name,
      tokenType,
      energyJ,
      tokenBytes: token.length,
      jwtBytes,
      airBytesCwt: airCwt,
      airBytesJwt: airJwtDelta,
      timeToFirstS: (ctx.sim.now - t0) / 1000,
    });
  }
  return holding;
}

async function theft(ctx: ScenarioContext, plan: DevicePlan, prng: Prng, held: Holding, captured: Array<{ topic: 'authz-info' | 'req'; body: Uint8Array }>): Promise<void> {
  const dev = ctx.devices.get(plan.id)!;
  const m = ctx.metrics;
  const judge = (answer: Uint8Array): { accepted: boolean; reason?: string } => {
    // A thief without the PoP key cannot read a protected answer; a protected answer to its
    // message would still mean the device accepted it, so it counts as accepted.
    if (isProtected(answer)) return { accepted: true };
    const reason = refusalOf(answer);
    return reason ? { accepted: false, reason } : { accepted: true };
  };
  // 1. Replay every captured request message verbatim (OSCORE requests and PoP proofs).
  for (const c of captured.filter((c) => c.topic === 'req')) {
    const x = await send(ctx, plan, dev, 'req', c.body, 'replay of a captured request', 'thief');
    const v = judge(x.answer);
    answered(ctx, plan, 'thief', v.accepted, 'ACCEPTED', v.reason);
    m.theftTry('replay captured request', v.accepted, v.reason);
  }
  // 2. Present the stolen token with the thief's own key.
  const thiefKp = seededKeyPair('Ed25519', prng);
  const thiefKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: thiefKp.x, d: thiefKp.d };
  if (plan.pop === 'proof') {
    const body = buildPopRequest({ token: held.token, popKey: thiefKey, audience: plan.id, request: GET_TEMP, includeToken: true, now: Math.floor(ctx.clock()) }, seededProvider(prng));
    const v = judge((await send(ctx, plan, dev, 'req', body, "stolen token, thief's own proof", 'thief')).answer);
    answered(ctx, plan, 'thief', v.accepted, 'ACCEPTED', v.reason);
    m.theftTry('stolen token, own key', v.accepted, v.reason);
  } else {
    // The thief sets up an OSCORE context with the stolen token but must guess the Master Secret:
    // the device derives its context from the real one, so the thief's request fails to decrypt.
    const guessed = { id: held.popKey.kid ?? new Uint8Array(0), ms: prng.bytes(32) };
    const start = beginOscoreClient(held.token, guessed, seededProvider(prng));
    const x1 = await send(ctx, plan, dev, 'authz-info', start.message, 'stolen token, guessed key', 'thief');
    let accepted = false;
    let reason: string | undefined;
    try {
      const s = start.finish(x1.answer);
      const { message } = s.request(GET_TEMP);
      const v = judge((await send(ctx, plan, dev, 'req', message, 'request under the guessed context', 'thief')).answer);
      accepted = v.accepted;
      reason = v.reason;
    } catch (e) {
      reason = refusalOf(x1.answer) ?? (e instanceof DeviceError ? e.code : 'client_error');
    }
    answered(ctx, plan, 'thief', accepted, 'ACCEPTED', reason);
    m.theftTry('stolen token, guessed key', accepted, reason);
  }
  // With a real broker, the thief also tries the device's overheard CONNECT and its broker token.
  if (ctx.relay.attackBroker) {
    const tries = await ctx.relay.attackBroker(dev);
    for (const a of tries) {
      ctx.trace.note(plan.id, { from: 'thief', to: 'relay', what: a.attack.replace(/^broker: /, 'CONNECT: '), outcome: 'sent' });
      ctx.trace.note(plan.id, { from: 'relay', to: 'thief', what: a.accepted ? 'ACCEPTED' : `refused: ${a.reason ?? 'unknown'}`, outcome: a.accepted ? 'ok' : 'refused', reason: a.reason });
      m.theftTry(a.attack, a.accepted, a.reason);
    }
  }
  // 3. Take the token (and its proof) to another device.
  const others = ctx.plans.filter((p) => p.id !== plan.id && !p.alwaysOn);
  const other = others.length ? ctx.devices.get(others[prng.int(others.length)]!.id) : undefined;
  if (other) {
    const first = captured[0];
    if (first) {
      const v = judge((await send(ctx, plan, other, first.topic, first.body, 'captured message at another device', 'thief')).answer);
      // An authz-info 2.01 (nonce2 and an id) is not a refusal: judge by what follows.
      if (first.topic === 'authz-info' && v.accepted && !refusalOf((await send(ctx, plan, other, 'req', captured.find((c) => c.topic === 'req')?.body ?? first.body, 'captured request at another device', 'thief')).answer)) {
        answered(ctx, plan, 'thief', true, 'ACCEPTED');
        m.theftTry('token at another device', true);
      } else {
        const accepted = first.topic === 'req' ? v.accepted : false;
        answered(ctx, plan, 'thief', accepted, 'ACCEPTED', v.reason ?? 'unknown_key');
        m.theftTry('token at another device', accepted, v.reason ?? 'unknown_key');
      }
    }
  }
}

/** One request at the gateway: answered from its phantom-token cache, or introspected and cached. */
async function gatewayRequest(ctx: ScenarioContext, plan: DevicePlan, token: Uint8Array): Promise<boolean> {
  ctx.metrics.connected.gatewayRequests++;
  ctx.trace.note(plan.id, { from: 'app', to: 'gateway', what: 'GET /ekg with the reference token', outcome: 'sent' });
  const cached = ctx.gateway.lookup(token);
  let active: boolean;
  if (cached.hit) active = cached.active;
  else {
    ctx.trace.note(plan.id, { from: 'gateway', to: 'authz', what: 'introspect (RFC 7662)', outcome: 'sent' });
    const answer = await ctx.io(ctx.issuer.introspect(token));
    ctx.gateway.store(token, answer);
    active = answer.active;
    ctx.trace.note(plan.id, { from: 'authz', to: 'gateway', what: `active: ${active}`, outcome: active ? 'ok' : 'refused', ...(active ? {} : { reason: 'inactive' }) });
  }
  if (!active) ctx.metrics.refuse('gateway_inactive_token');
  ctx.trace.note(plan.id, { from: 'gateway', to: 'app', what: active ? (cached.hit ? 'served (cached introspection)' : 'served') : 'refused: gateway_inactive_token', outcome: active ? 'ok' : 'refused', ...(active ? {} : { reason: 'gateway_inactive_token' }) });
  return active;
}

/** One request through the real gateway (connected-gateway.ts): DPoP proof, introspection or its cache, the API. */
async function realGatewayRequest(ctx: ScenarioContext, plan: DevicePlan, app: ConnectedApp): Promise<boolean> {
  ctx.metrics.connected.gatewayRequests++;
  ctx.trace.note(plan.id, { from: 'app', to: 'gateway', what: 'GET /ekg with the reference token and a DPoP proof', outcome: 'sent' });
  const introspectionsBefore = ctx.issuer.connectedGateway!.stats().misses;
  const r = await ctx.io(app.request());
  // The real gateway's cache missed during this request: it introspected the token at the service.
  if (ctx.issuer.connectedGateway!.stats().misses > introspectionsBefore) {
    ctx.trace.note(plan.id, { from: 'gateway', to: 'authz', what: 'introspect (RFC 7662)', outcome: 'sent' });
    ctx.trace.note(plan.id, { from: 'authz', to: 'gateway', what: 'introspection answer', outcome: 'ok' });
  }
  if (!r.served) ctx.metrics.refuse(r.reason ?? 'gateway_refused');
  ctx.trace.note(plan.id, { from: 'gateway', to: 'app', what: r.served ? 'served (proof checked, token introspected or cached)' : `refused: ${r.reason ?? 'gateway_refused'}`, outcome: r.served ? 'ok' : 'refused', ...(r.served ? {} : { reason: r.reason ?? 'gateway_refused' }) });
  return r.served;
}

/**
 * Connected flow: the app's reference token goes to the gateway, which introspects it (RFC 7662)
 * and caches the answer ("phantom token"); the device itself got a by-value token (authorize()).
 * Some apps' tokens are revoked at the service after the first request: the gateway serves them
 * from its cache until the entry's TTL runs out, then refuses them.
 */
async function connectedApp(ctx: ScenarioContext, plan: DevicePlan, prng: Prng): Promise<void> {
  const c = ctx.metrics.connected;
  const real = ctx.issuer.connectedGateway;
  ctx.trace.note(plan.id, { from: 'app', to: 'authz', what: real ? 'DPoP-bound reference token request (for the gateway)' : 'reference token request (for the gateway)', outcome: 'sent' });
  const app = real ? await ctx.io(real.open()) : undefined;
  const ref = app ? app.token : await ctx.io(ctx.issuer.issueReference(SIM_CLIENT_ID));
  ctx.trace.note(plan.id, { from: 'authz', to: 'app', what: `reference token, ${formatNumber(ref.length, 'B')}`, outcome: 'ok' });
  c.referenceTokens++;
  let revokedAt: number | undefined;
  for (let i = 0; i < GATEWAY_REQUESTS + (revokedAt === undefined ? 0 : GATEWAY_TRIES_AFTER_REVOCATION); i++) {
    if (i > 0) await ctx.sim.sleep((GATEWAY_GAP_MIN_S + prng.float() * GATEWAY_GAP_SPAN_S) * 1000);
    const served = app ? await realGatewayRequest(ctx, plan, app) : await gatewayRequest(ctx, plan, ref);
    if (revokedAt !== undefined) {
      if (!served) {
        c.revokedRefused++;
        break;
      }
      c.servedAfterRevocation++;
      c.maxServedAfterRevocationS = Math.max(c.maxServedAfterRevocationS, ctx.clock() - revokedAt);
    }
    if (i === 0 && plan.revokesReference) {
      ctx.trace.note(plan.id, { from: 'app', to: 'authz', what: "the doctor's access is withdrawn: revoke", outcome: 'sent' });
      await ctx.io(ctx.issuer.revokeReference(ref));
      revokedAt = ctx.clock();
      c.revokedTokens++;
    }
  }
}

async function deviceScript(ctx: ScenarioContext, plan: DevicePlan): Promise<void> {
  const prng = ctx.prng.fork(`client:${plan.id}`);
  const dev = ctx.devices.get(plan.id)!;
  await ctx.sim.sleep(prng.float() * ctx.wakeIntervalS * 1000);
  const captured: Array<{ topic: 'authz-info' | 'req'; body: Uint8Array }> = [];
  const tap = (ev: { device: SimDevice; topic: 'authz-info' | 'req'; body: Uint8Array }) => {
    if (ev.device === dev) captured.push({ topic: ev.topic, body: ev.body });
  };
  if (plan.role === 'theft') ctx.relay.taps.push(tap);
  const held = await authorize(ctx, plan, prng, true);
  if (plan.role === 'connected') await connectedApp(ctx, plan, prng);
  if (plan.role === 'theft' && held) {
    ctx.relay.taps.splice(ctx.relay.taps.indexOf(tap), 1);
    await theft(ctx, plan, prng, held, captured);
  }
  if (plan.role === 'revocation' && held) {
    const list = await ctx.io(ctx.issuer.revoke(held.token, plan.id));
    ctx.metrics.revocation.revoked++;
    await ctx.relay.publishTrl(plan.id, list);
    // The client keeps trying at the device's pace; every try must be refused once the list landed.
    await ctx.sim.sleep(2 * ctx.wakeIntervalS * 1000);
    const r = await held.request();
    ctx.metrics.revocation.requestsAfter++;
    if (r.ok) ctx.metrics.revocation.acceptedAfter++;
    else ctx.metrics.refuse(r.code ?? 'unknown');
  }
  if (plan.role === 'reboot-storm' && held) {
    for (let i = 0; i < STORM_REBOOTS; i++) {
      await ctx.sim.sleep(prng.float() * 60_000);
      dev.reboot();
      ctx.metrics.reboots.reboots++;
      const r = await held.request();
      ctx.metrics.reboots.requests++;
      if (r.ok) ctx.metrics.reboots.succeeded++;
      else ctx.metrics.refuse(r.code ?? 'unknown');
    }
    // A message from before the last reboot must not be accepted again: its context died with the
    // device's RAM (4.01 Security context not found). No AEAD nonce can repeat across reboots either:
    // each context after a reboot is derived from new nonces (RFC 9203 §4.3), so the device's
    // sequence numbers restart under new keys, and a (key, nonce) pair is never used twice.
    if (captured.length === 0 && held.oscore) {
      const { message } = held.oscore().request(GET_TEMP);
      await ctx.relay.send(dev, 'req', message);
      dev.reboot();
      ctx.metrics.reboots.reboots++;
      const again = await ctx.relay.send(dev, 'req', message);
      ctx.metrics.reboots.replaysTried++;
      const code = refusalOf(again.answer);
      if (code) {
        ctx.metrics.reboots.replaysRefused++;
        ctx.metrics.refuse(code);
      }
    }
  }
  if (plan.role === 'clockless' && held) {
    // RFC 9200 §5.10.3: exi counts from receipt; past it the device refuses, and the same token
    // (its cti now at or below the expired floor) is never taken again.
    await ctx.sim.sleep((SIM_LIFETIME_S + ctx.wakeIntervalS) * 1000);
    const r = await held.request();
    ctx.metrics.clockless.tries++;
    if (r.ok) ctx.metrics.clockless.acceptedAfterExpiry++;
    else {
      ctx.metrics.clockless.expiredRefused++;
      ctx.metrics.refuse(r.code ?? 'unknown');
    }
    const start = beginOscoreClient(held.token, { id: held.popKey.kid ?? new Uint8Array(0), ms: held.popKey.k! }, seededProvider(prng));
    const x = await ctx.relay.send(dev, 'authz-info', start.message);
    ctx.metrics.clockless.tries++;
    try {
      start.finish(x.answer);
      ctx.metrics.clockless.acceptedAfterExpiry++;
    } catch (e) {
      ctx.metrics.clockless.reusedTokenRefused++;
      ctx.metrics.refuse(refusalOf(x.answer) ?? (e instanceof DeviceError ? e.code : 'client_error'));
    }
    if (await authorize(ctx, plan, prng, false)) ctx.metrics.clockless.renewed++;
  }
  ctx.relay.retire(dev);
}

export { deviceScript };

/** Registrations for the issuer, from the plan. */
export function registrations(plans: readonly DevicePlan[]): DeviceRegistration[] {
  return plans.map((p) => ({ id: p.id, protection: p.protection, clockless: p.clockless }));
}

export { GATEWAY_AUDIENCE };
