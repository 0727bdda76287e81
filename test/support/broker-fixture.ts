/**
 * Fixture for broker tests: an authorization-service key that signs broker tokens (cose/ only;
 * a stand-in for authz/ where a test does not need HTTP), client PoP keys, and mqtt.js
 * connections with the CONNECT password of broker/credentials.ts.
 */
import { connect as mqttConnect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import {
  aifMqtt,
  mintAccessToken,
  createRevocationList,
  publicCoseKey,
  scopeToCbor,
  utf8,
  type CborMap,
  type CoseKey,
} from '../../cose/index.js';
import { nativeProvider } from '../../cose/adapters/index.js';
import { createConnectPassword, MESSAGE_POP_CLAIM, ACE_USERNAME } from '../../broker/index.js';

export const AUDIENCE = 'broker-1';
export const ISSUER = 'https://as.example';
export const now = (): number => Date.now() / 1000;

export function ed25519(kid: string): CoseKey {
  const kp = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8(kid) };
}

export interface TokenSpec {
  scope: Array<readonly [string, ReadonlyArray<'pub' | 'sub'>]>;
  audience?: string;
  exp?: number;
  sub?: string;
  messagePop?: boolean;
  key?: CoseKey;
}

export function createIssuer() {
  const signingKey = ed25519('as-1');
  let trlSequence = 0;
  const revoked: Uint8Array[] = [];
  return {
    signingKey,
    trust: [publicCoseKey(signingKey)],
    /** A by-value broker token and the client's PoP key. */
    token(spec: TokenSpec): { token: Uint8Array; key: CoseKey } {
      const key = spec.key ?? ed25519('client');
      const extra: CborMap = new Map();
      if (spec.messagePop) extra.set(MESSAGE_POP_CLAIM, true);
      // An already-expired token (negative cases) was issued a second before its exp.
      const iat = Math.min(Math.floor(now()), (spec.exp ?? Infinity) - 1);
      const { token } = mintAccessToken(
        {
          issuer: ISSUER,
          audience: spec.audience ?? AUDIENCE,
          iat,
          lifetime: (spec.exp ?? iat + 3600) - iat,
          ...(spec.sub !== undefined ? { subject: spec.sub } : {}),
          cnf: { coseKey: key },
          scope: scopeToCbor(aifMqtt(spec.scope.map(([f, a]) => [f, [...a]] as const))),
          ...(extra.size ? { extra } : {}),
        },
        { key: signingKey, clock: now, provider: nativeProvider },
      );
      return { token, key };
    },
    /** The next signed revocation list for `audience`, adding `hashes`. */
    revoke(audience: string, ...hashes: Uint8Array[]): Uint8Array {
      revoked.push(...hashes);
      return createRevocationList({ audience, sequence: ++trlSequence, fullSet: [...revoked] }, signingKey, { provider: nativeProvider });
    },
  };
}

export function password(token: Uint8Array, key: CoseKey, clientId: string, audience = AUDIENCE): Buffer {
  return Buffer.from(createConnectPassword(token, key, { audience, clientId, clock: now, provider: nativeProvider }));
}

/** Connects with token+proof; never reconnects (a refusal stays a refusal). */
export function connect(url: string, clientId: string, pw: Buffer | string, extra: IClientOptions = {}): Promise<MqttClient> {
  return connectAsync(url, {
    clientId,
    username: ACE_USERNAME, // mqtt.js: a password without a username throws (LIBRARY-NOTES)
    password: pw as Buffer,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  });
}

/** The CONNACK return code of a refused CONNECT (mqtt.js puts it in `code`). */
export async function refusal(promise: Promise<MqttClient>): Promise<number> {
  try {
    const c = await promise;
    await c.endAsync();
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

/** Collects messages on a client; `next(n)` waits for n of them (or times out). */
export function inbox(client: MqttClient) {
  const got: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  const waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    got.push({ topic, payload, retain: packet.retain });
    for (const w of waiters.splice(0)) w();
  });
  return {
    got,
    async next(n: number, ms = 3000): Promise<typeof got> {
      const deadline = Date.now() + ms;
      while (got.length < n && Date.now() < deadline) {
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, Math.max(1, deadline - Date.now()));
        });
      }
      return got;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A sleeping device wakes (clean=false) with a new token for its `req` topic: whether its session
 * was there (CONNACK session present), and what waited for it. The caller ends `client`.
 */
export async function wakeDevice(issuer: ReturnType<typeof createIssuer>, url: string, id: string) {
  const d = issuer.token({ scope: [[`ace/${id}/req`, ['sub']]], sub: id });
  const client = mqttConnect(url, { clientId: id, username: ACE_USERNAME, password: password(d.token, d.key, id), protocolVersion: 4, reconnectPeriod: 0, clean: false });
  const box = inbox(client);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return { client, sessionPresent: connack.sessionPresent, box };
}

/** Resolves when the client is closed by the broker (or after `ms`, with false). */
export function closedWithin(client: MqttClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** The SUBACK return codes (mqtt.js rejects when any is 0x80; the packet still carries them all). */
export async function subackCodes(client: MqttClient, topics: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    return (await client.subscribeAsync(topics)).map((g) => g.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw e;
    return packet.granted;
  }
}

/** The filters aedes' store holds for a client id (what a clean=false reconnect restores). */
export async function storedFilters(broker: { aedes: object }, clientId: string): Promise<string[]> {
  const persistence = (broker.aedes as { persistence?: { subscriptionsByClient(c: { id: string }): Promise<Array<{ topic: string }> | null> } }).persistence!;
  return ((await persistence.subscriptionsByClient({ id: clientId })) ?? []).map((s) => s.topic).sort();
}
