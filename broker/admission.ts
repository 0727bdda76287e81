/**
 * Admission at CONNECT (and for an in-band refresh on `ace/authz-info`): the token verifies as
 * a resource server would (token-verifier.ts), then the proof of possession: signed by the cnf
 * key, purpose `mqtt-connect`, this broker's audience, this MQTT client id, the token's hash,
 * and fresh (iat within the window, a jti never seen in it, here or on Redis). The signature is
 * checked before the jti is recorded, so a forger cannot fill the replay store; and a fresh proof
 * draws on an allowance per PoP key (its RFC 9679 thumbprint) and per client (the token's signed
 * subject), never per token, so a holder of many tokens or many keys cannot fill it either and
 * lock everyone else out.
 */
import { CoseError, coseKeyThumbprint, deferSignatures, toHex, utf8, type Clock, type CryptoProvider, type VerifyOffLoop } from '../cose/index.js';
import { DeviceError, DEFAULT_IAT_WINDOW, verifyPopProof, type ProofFreshness } from '../device/index.js';
import { decodeConnectPassword, ACE_USERNAME, PURPOSE_CONNECT } from './credentials.js';
import { BrokerError, BROKER_ERR, brokerErrorFromDevice } from './errors.js';
import type { JtiStore } from './jti-store.js';
import { createBucketTable, DEFAULT_SUBJECT_CONNECT_RATE, DEFAULT_CONNECT_RATE, type RateLimit } from './rate-limiter.js';
import type { TokenVerifier, VerifiedToken } from './token-verifier.js';

/** The purpose of a proof that accompanies a token refresh on `ace/authz-info`. */
export const PURPOSE_REFRESH = 'mqtt-authz-info';

export interface AdmissionOptions {
  audience: string;
  verifier: TokenVerifier;
  jtis: JtiStore;
  clock: Clock;
  provider: CryptoProvider;
  /** Seconds either side of now a proof's iat may be (default DEFAULT_IAT_WINDOW). */
  iatWindow?: number;
  /** Fresh proofs accepted per PoP key, whatever the tokens bound to it (default DEFAULT_CONNECT_RATE). */
  connectRate?: RateLimit;
  /** Fresh proofs accepted per token subject, whatever the keys (default DEFAULT_SUBJECT_CONNECT_RATE). */
  subjectRate?: RateLimit;
  /**
   * Refuse proofs made before this time (seconds): a jti store that starts empty (in memory, at
   * process start) cannot know which earlier proofs it has already seen.
   */
  notBefore?: number;
  /**
   * Verify the token's and the proof's signatures on the thread pool (deferred-signatures.ts),
   * with this twin of `provider.verify` (cose/adapters verifyInThreadPool for nativeProvider).
   */
  verifyOffLoop?: VerifyOffLoop;
  /** Check credentials off this thread first (admission-threads.ts); this loop still charges and spends. */
  checkElsewhere?: CheckElsewhere;
}

/**
 * What admission hands the hooks: the verified token, the jti of the proof that opened the
 * connection, and the PoP key's RFC 9679 thumbprint (hex; who holds the client id: client-id-owners.ts).
 */
/** `subjectName`: the subject's allowance name (`s:` + SHA-256 hex), as in CheckedCredentials. */
export type AdmittedToken = VerifiedToken & { proofJti: Uint8Array; keyThumbprint: string; subjectName: string | undefined };

/** Seconds of a proof's window that must be left when its jti is claimed (see createAdmission). */
export const CLAIM_MARGIN_S = 1;

/** Keys (and subjects) whose CONNECT rate is tracked at once; past it idle ones, then the oldest, are dropped. */
export const MAX_RATE_TRACKED_KEYS = 50_000;

export type Admit = (clientId: string, username: string | undefined, password: Uint8Array | undefined, purpose?: string) => Promise<AdmittedToken>;

/**
 * What a CONNECT's credentials proved before anything is charged or spent: the token verified
 * (by-value or introspected), the proof verified against it, and the names its allowances go by.
 */
export interface CheckedCredentials {
  verified: VerifiedToken;
  freshness: ProofFreshness;
  /** The PoP key's RFC 9679 thumbprint (hex). */
  keyThumbprint: string;
  /** The subject's allowance name (`s:` + SHA-256 hex), or undefined without a subject. */
  subject: string | undefined;
}

/**
 * Checks a CONNECT's (or refresh's) token and proof somewhere else (admission-threads.ts: a
 * worker thread) with the same code as below. Undefined: not checked there, or refused there;
 * admission then decides on the loop, so every refusal is the in-line path's own.
 */
export type CheckElsewhere = (clientId: string, password: Uint8Array | undefined, purpose: string) => Promise<CheckedCredentials | undefined>;

export type CredentialCheckOptions = Pick<AdmissionOptions, 'audience' | 'verifier' | 'clock' | 'provider' | 'iatWindow' | 'verifyOffLoop'>;

/**
 * The first half of admission, which reads no replay store and no allowance: the token verifies
 * as a resource server would (token-verifier.ts), then the proof of possession against it.
 */
export function createCredentialCheck(opts: CredentialCheckOptions): (clientId: string, password: Uint8Array | undefined, purpose: string) => Promise<CheckedCredentials> {
  const window = opts.iatWindow ?? DEFAULT_IAT_WINDOW;
  // A cached token comes back as the same object at every reconnect: its key's thumbprint and
  // its subject's hash are worked out once, and go with the entry when the cache drops it.
  const names = new WeakMap<VerifiedToken, { keyThumbprint: string; subject: string | undefined }>();
  const allowanceNames = (verified: VerifiedToken) => {
    let n = names.get(verified);
    if (!n) {
      n = {
        keyThumbprint: toHex(coseKeyThumbprint(verified.popKey, { provider: opts.provider })),
        subject: verified.subject === undefined ? undefined : `s:${toHex(opts.provider.digest('SHA-256', utf8(verified.subject)))}`,
      };
      names.set(verified, n);
    }
    return n;
  };
  return async (clientId, password, purpose) => {
    const { token, proof } = decodeConnectPassword(password);
    const checkProof = (verified: VerifiedToken, provider: CryptoProvider) => {
      try {
        return verifyPopProof(
          proof,
          verified.popKey,
          { purpose, audience: opts.audience, tokenHash: verified.hash, clientId },
          // A broker issues no nonces (there is no round trip before CONNECT): iat plus jti only.
          { clock: opts.clock, nonce: false, iatWindow: window },
          { provider },
        ).freshness;
      } catch (cause) {
        if (cause instanceof DeviceError) throw brokerErrorFromDevice(cause);
        if (cause instanceof CoseError) throw new BrokerError(BROKER_ERR.BAD_PROOF, `PoP proof (${cause.code})`, { cause });
        throw cause;
      }
    };
    let verified: VerifiedToken;
    let freshness: ProofFreshness;
    const deferred = opts.verifyOffLoop ? deferSignatures(opts.provider, opts.verifyOffLoop) : undefined;
    try {
      // With deferred signatures: both checked in parallel off the loop, confirmed before anything
      // below (rate limits, the jti) and before the token may enter the verified-token cache.
      verified = await opts.verifier.verify(token, deferred);
      freshness = checkProof(verified, deferred?.provider ?? opts.provider);
      if (deferred && !(await deferred.confirm())) throw new BrokerError(BROKER_ERR.BAD_PROOF, 'a signature does not verify');
      deferred?.commit();
    } catch (error) {
      if (!deferred) throw error;
      // Decided again on the loop, every signature checked in order: the refusal (or, had an
      // optimistic guess led astray, the admission) is exactly the synchronous path's.
      verified = await opts.verifier.verify(token);
      freshness = checkProof(verified, opts.provider);
    }
    return { verified, freshness, ...allowanceNames(verified) };
  };
}

export function createAdmission(opts: AdmissionOptions): Admit {
  const keyRate = opts.connectRate ?? DEFAULT_CONNECT_RATE;
  const subjectRate = opts.subjectRate ?? DEFAULT_SUBJECT_CONNECT_RATE;
  const perKey = createBucketTable(opts.clock, keyRate, MAX_RATE_TRACKED_KEYS);
  const perSubject = createBucketTable(opts.clock, subjectRate, MAX_RATE_TRACKED_KEYS);
  const checkInLine = createCredentialCheck(opts);
  return async (clientId, username, password, purpose = PURPOSE_CONNECT) => {
    if (purpose === PURPOSE_CONNECT && username !== ACE_USERNAME) {
      throw new BrokerError(BROKER_ERR.BAD_CREDENTIALS, `username must be "${ACE_USERNAME}" (RFC 9431)`);
    }
    // Checked elsewhere, what may have changed here since is checked again (revoked, a floor,
    // expired); if anything differs, or it was not checked there, this loop decides.
    let checked = await opts.checkElsewhere?.(clientId, password, purpose);
    if (checked && opts.verifier.stillAccepts(checked.verified)) opts.verifier.remember(checked.verified);
    else checked = await checkInLine(clientId, password, purpose);
    const { verified, freshness, keyThumbprint, subject } = checked;
    if (freshness.kind !== 'iat') throw new BrokerError(BROKER_ERR.BAD_PROOF, 'PoP proof: needs iat(5) and jti(6) at the broker');
    if (opts.notBefore !== undefined && freshness.iat < opts.notBefore) {
      throw new BrokerError(BROKER_ERR.REPLAY, 'PoP proof: iat(5) is older than this broker process (its replay store is new): make a fresh proof');
    }
    // The iat window was checked before the awaits above (a thread's round trip, the signatures);
    // the replay store forgets a jti once its window is over. A proof whose window ends before its
    // jti is surely recorded (here, or at Redis a round trip away) could be replayed after the
    // first use's record expired: refused, with a margin (adversarial review, stop 34).
    if (opts.clock() + CLAIM_MARGIN_S >= freshness.until) {
      throw new BrokerError(BROKER_ERR.BAD_PROOF, 'PoP proof: its iat(5) window is (nearly) over: make a fresh proof');
    }
    // Taken before the jti is stored, synchronously (so neither a flood of fresh proofs nor many
    // in flight at once against a slow shared store get past it), and given back when the proof
    // turns out to be a replay (so replaying an overheard CONNECT never drains the holder's allowance).
    // The key's allowance first: a key out of it draws nothing from its subject's. Subjects are
    // named by their hash, so a table entry stays small whatever the claim's length. A token
    // without a subject has only its key's allowance.
    const key = `k:${keyThumbprint}`;
    if (!perKey.take(key)) throw new BrokerError(BROKER_ERR.BUSY, 'too many fresh proofs for this key: slow down');
    if (subject !== undefined && !perSubject.take(subject)) {
      perKey.refund(key);
      throw new BrokerError(BROKER_ERR.BUSY, 'too many fresh proofs for this client (the token subject): slow down');
    }
    // A shared store (Redis) also charges the same allowances cluster-wide, with the jti, atomically.
    let claimed: Awaited<ReturnType<JtiStore['claim']>>;
    try {
      claimed = await opts.jtis.claim(freshness.jti, freshness.until, [
        { name: key, limit: keyRate },
        ...(subject !== undefined ? [{ name: subject, limit: subjectRate }] : []),
      ]);
    } catch (cause) {
      // Fail closed: without the shared replay store a proof's freshness cannot be known (Redis down).
      perKey.refund(key);
      if (subject !== undefined) perSubject.refund(subject);
      throw new BrokerError(BROKER_ERR.REDIS_UNAVAILABLE, 'the shared proof replay store cannot be reached: try again shortly', { cause });
    }
    if (claimed !== 'claimed') {
      perKey.refund(key);
      if (subject !== undefined) perSubject.refund(subject);
    }
    if (claimed === 'busy') throw new BrokerError(BROKER_ERR.BUSY, 'too many fresh proofs for this key or client across the cluster: slow down');
    if (claimed === 'seen') throw new BrokerError(BROKER_ERR.REPLAY, 'PoP proof: jti(6) already seen within the window');
    if (claimed === 'full') throw new BrokerError(BROKER_ERR.BUSY, 'the proof replay store is full: try again shortly');
    return { ...verified, proofJti: freshness.jti, keyThumbprint, subjectName: subject };
  };
}
