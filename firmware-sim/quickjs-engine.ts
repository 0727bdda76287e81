/**
 * Runs a built device bundle (device-bundle.ts) inside QuickJS, the small embeddable engine of
 * microcontroller boards, through quickjs-emscripten, under a hard heap limit: what a part with
 * that much RAM for JavaScript would run. The device code sees only ECMAScript plus the three
 * things device/host.ts names (randomness, a clock, storage), passed in here as plain functions
 * that carry bytes as ArrayBuffers; requests and answers cross as bytes, as over a radio.
 * The engine's own heap is read from QuickJS (malloc'ed bytes, what the limit bounds), so the
 * simulator's RAM model can be set beside a real one. quickjs-emscripten is a dev dependency,
 * loaded only here.
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';
import type { DeviceProfile, DeviceStorage } from '../device/index.js';
import type { DeviceBundle } from './device-bundle.js';

/** QuickJS's own C stack for the device code; the verifier's recursion is shallow (CBOR depth is bounded). */
export const QUICKJS_STACK_BYTES = 256 * 1024;

/** The counter QuickJS keeps of its live heap: bytes of objects, shapes, atoms, strings, bytecode and buffers. */
const MEMORY_USED = /memory used\s+\d+\s+(\d+)/;

/**
 * The firmware's side, in ECMAScript: builds the host object of device/host.ts from the plain
 * functions the embedder put on `__host`, boots the bundle's resource server (the full one, or
 * the verify-only one, whichever the bundle exports), and exposes byte-in, byte-out endpoints.
 */
const DRIVER = `
const kb = globalThis.__kb;
const h = globalThis.__host;
const bytes = (ab) => new Uint8Array(ab);
const out = (u8) => u8.slice().buffer;
const host = {
  ...JSON.parse(h.tuning()),
  randomBytes: (n) => bytes(h.random(n)),
  clock: () => h.clock(),
  storage: {
    get: (k) => { const v = h.get(k); return v === undefined ? undefined : bytes(v); },
    put: (k, v) => h.put(k, out(v)),
    delete: (k) => h.del(k),
  },
};
// Every crypto operation is reported to the host before it runs (the simulator's energy model).
const base = kb.hostProvider(host);
const len = (b) => (b ? b.length : 0);
const hex = (b) => Array.from(b, (x) => (x < 16 ? '0' : '') + x.toString(16)).join('');
const provider = {
  ...base,
  sign: (key, hash, m) => (h.meter('sign', key.kty, len(m), 0, 0), base.sign(key, hash, m)),
  verify: (key, hash, m, sig) => (h.meter('verify', key.kty, len(m), 0, 0), base.verify(key, hash, m, sig)),
  hmac: (hash, key, data) => (h.meter('hmac', '', len(data), 0, 0), base.hmac(hash, key, data)),
  digest: (hash, data) => (h.meter('digest', '', len(data), 0, 0), base.digest(hash, data)),
  hkdf: (hash, ikm, salt, info, n) => (h.meter('hkdf', '', len(ikm), n, len(info)), base.hkdf(hash, ikm, salt, info, n)),
  aeadEncrypt: (aead, key, nonce, aad, pt) => (h.meter('aead', '', len(aad), len(pt), 0, hex(key) + ':' + hex(nonce)), base.aeadEncrypt(aead, key, nonce, aad, pt)),
  aeadDecrypt: (aead, key, nonce, aad, ct) => (h.meter('aead', '', len(aad), len(ct), 0), base.aeadDecrypt(aead, key, nonce, aad, ct)),
};
const create = kb.createResourceServer ?? kb.createVerifyOnlyServer;
const device = create({
  trust: kb.loadProvisioningBundle(bytes(h.provisioning()), host.clock()),
  storage: host.storage,
  clock: host.clock,
  provider,
  profile: JSON.parse(h.profile()),
  handler: (req) => {
    const r = h.handle(req.method, req.resource, out(req.payload));
    return r.payload === undefined ? { code: r.code } : { code: r.code, payload: bytes(r.payload) };
  },
});
globalThis.__device = {
  authzInfo: (b) => out(kb.serveAuthzInfo(device, bytes(b))),
  request: (b) => out(kb.serveRequest(device, bytes(b))),
  revocationList: (b) => device.applyRevocationList(bytes(b)),
  nonce: () => out(device.issueNonce()),
  stats: () => JSON.stringify(device.stats),
};
`;

export interface QuickJsDeviceHost {
  randomBytes(length: number): Uint8Array;
  clock(): number;
  storage: DeviceStorage;
  /** The device's application: its answer to an authorized request (default: 205 "21.5"). */
  handle?(method: string, resource: string, payload: Uint8Array): { code: number; payload?: Uint8Array };
  /** Told of each crypto operation before it runs inside the engine (for an energy model). */
  meter?(op: MeteredOp): void;
}

/** One crypto operation the device ran inside QuickJS, with the sizes its cost depends on. */
export interface MeteredOp {
  op: 'sign' | 'verify' | 'hmac' | 'digest' | 'hkdf' | 'aead';
  /** The key type, for sign and verify (OKP for EdDSA, EC2 for ECDSA). */
  kty: string;
  /** Message, data, ikm (hkdf) or AAD (aead) bytes. */
  bytes: number;
  /** Text bytes (aead) or output length (hkdf). */
  extra: number;
  /** Info bytes (hkdf). */
  info: number;
  /** Key and nonce in hex, for an AEAD encryption: a (key, nonce) pair seen twice is nonce reuse. */
  nonceId?: string;
}

export interface QuickJsDeviceOptions {
  bundle: Pick<DeviceBundle, 'code' | 'kind'>;
  /** The engine's heap limit in bytes (QuickJS JS_SetMemoryLimit). */
  memoryLimit: number;
  /** The provisioning bundle (cose/provisioning-bundle.ts) flashed at manufacture. */
  provisioning: Uint8Array;
  host: QuickJsDeviceHost;
  profile?: Partial<DeviceProfile>;
  /** device/host.ts's optional Ed25519 base-point window (1: no table, least RAM). */
  ed25519BaseWindow?: number;
}

/** A failure of the engine itself (out of memory, a host global missing), not a device refusal. */
export class QuickJsEngineError extends Error {
  constructor(
    readonly code: 'out_of_memory' | 'engine_error' | 'missing_dependency',
    message: string,
  ) {
    super(message);
    this.name = 'QuickJsEngineError';
  }
}

/** The loaded QuickJS WASM module that device runtimes are started in. */
export type QuickJsEngine = QuickJSWASMModule;

let modulePromise: Promise<QuickJSWASMModule> | undefined;

/** One WASM module for every device: each gets its own runtime (heap, limit) inside it. */
export async function quickJsModule(): Promise<QuickJSWASMModule> {
  modulePromise ??= import('quickjs-emscripten')
    .then((m) => m.newQuickJSWASMModule())
    .catch((cause: unknown) => {
      modulePromise = undefined;
      throw new QuickJsEngineError('missing_dependency', `the QuickJS engine needs the dev dependency quickjs-emscripten (npm install --include=dev): ${String(cause)}`);
    });
  return modulePromise;
}

function outOfMemory(heap: { limit: number; peak: number }): QuickJsEngineError {
  return new QuickJsEngineError('out_of_memory', `QuickJS: out of memory (heap reached ${heap.peak} bytes, limit ${heap.limit})`);
}

function engineError(vm: QuickJSContext, handle: QuickJSHandle, heap: { exceeded: boolean; limit: number; peak: number; sample?(): number }): QuickJsEngineError {
  const e = vm.dump(handle) as { name?: string; message?: string } | null | undefined;
  handle.dispose();
  // QuickJS's parser can report a failed allocation as a bogus SyntaxError: the heap's own count,
  // sampled now, says whether the limit was the cause.
  heap.sample?.();
  // QuickJS throws null when it cannot even allocate the InternalError for "out of memory".
  if (heap.exceeded || e === null || e === undefined) return outOfMemory(heap);
  const message = `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}`;
  return new QuickJsEngineError(/out of memory/i.test(message) ? 'out_of_memory' : 'engine_error', `QuickJS: ${message}`);
}

/** QuickJS's own count of its live heap, in bytes (JS_ComputeMemoryUsage's memory_used_size). */
function heapInUse(rt: QuickJSRuntime): number {
  return Number(MEMORY_USED.exec(rt.dumpMemoryUsage())?.[1] ?? Number.NaN);
}

/**
 * Why the heap is watched here and not left to JS_SetMemoryLimit alone: in quickjs-emscripten's
 * build QuickJS cannot learn the size of a malloc'ed block (its dump says "malloc_usable_size
 * unavailable"), so the limit counts 8 bytes per block and only refuses a single allocation larger
 * than what is left: 100 buffers of 100 KB fit under a "1 MB" limit. So the engine also samples
 * QuickJS's own count of live bytes from its interrupt handler (every ~10,000 operations, also
 * inside a signature check) and after every call, keeps the peak, and stops the device with
 * out_of_memory once the count passes the limit, as the allocator of a part with that much RAM
 * would.
 */
class HeapWatch {
  peak = 0;
  exceeded = false;
  constructor(
    private readonly rt: QuickJSRuntime,
    readonly limit: number,
  ) {}
  sample(): number {
    const used = heapInUse(this.rt);
    if (used > this.peak) this.peak = used;
    if (used > this.limit) this.exceeded = true;
    return used;
  }
}

export class QuickJsDevice {
  readonly memoryLimit: number;
  #rt: QuickJSRuntime;
  #vm: QuickJSContext;
  #device: QuickJSHandle;
  #heap: HeapWatch;

  private constructor(rt: QuickJSRuntime, vm: QuickJSContext, device: QuickJSHandle, heap: HeapWatch) {
    this.#rt = rt;
    this.#vm = vm;
    this.#device = device;
    this.#heap = heap;
    this.memoryLimit = heap.limit;
  }

  /** Loads the bundle into a fresh engine and boots the device over the host's storage. */
  static async boot(opts: QuickJsDeviceOptions): Promise<QuickJsDevice> {
    return QuickJsDevice.start(await quickJsModule(), opts);
  }

  /** boot() once the WASM module is loaded (quickJsModule()): synchronous, as firmware boots. */
  static start(qjs: QuickJSWASMModule, opts: QuickJsDeviceOptions): QuickJsDevice {
    const rt = qjs.newRuntime();
    const heap = new HeapWatch(rt, opts.memoryLimit);
    rt.setMemoryLimit(opts.memoryLimit); // a backstop for one oversized allocation (see HeapWatch)
    rt.setMaxStackSize(QUICKJS_STACK_BYTES);
    rt.setInterruptHandler(() => {
      heap.sample();
      return heap.exceeded;
    });
    let vm: QuickJSContext | undefined;
    try {
      vm = rt.newContext();
      QuickJsDevice.#installHost(vm, opts);
      // The bundle evaluates as an ES module; its namespace is what the firmware's driver uses.
      const evaluated = vm.evalCode(opts.bundle.code, `${opts.bundle.kind}.js`, { type: 'module' });
      if (evaluated.error) throw engineError(vm, evaluated.error, heap);
      rt.executePendingJobs();
      const state = vm.getPromiseState(evaluated.value);
      if (state.type === 'rejected') {
        evaluated.value.dispose();
        throw engineError(vm, state.error, heap);
      }
      if (state.type === 'pending') throw new QuickJsEngineError('engine_error', 'QuickJS: the device bundle did not finish evaluating');
      vm.setProp(vm.global, '__kb', state.value);
      if (state.value !== evaluated.value) state.value.dispose();
      evaluated.value.dispose();
      const driver = vm.evalCode(DRIVER, 'driver.js', { type: 'global' });
      if (driver.error) throw engineError(vm, driver.error, heap);
      driver.value.dispose();
      heap.sample();
      if (heap.exceeded) throw outOfMemory(heap);
      const device = vm.getProp(vm.global, '__device');
      return new QuickJsDevice(rt, vm, device, heap);
    } catch (error) {
      vm?.dispose();
      rt.dispose();
      if (error instanceof QuickJsEngineError) throw error;
      throw new QuickJsEngineError(/out of memory/i.test(String(error)) ? 'out_of_memory' : 'engine_error', `QuickJS: ${String(error)}`);
    }
  }

  static #installHost(vm: QuickJSContext, opts: QuickJsDeviceOptions): void {
    const { host } = opts;
    const h = vm.newObject();
    const fn = (name: string, f: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
      const handle = vm.newFunction(name, f);
      vm.setProp(h, name, handle);
      handle.dispose();
    };
    const buffer = (u8: Uint8Array) => vm.newArrayBuffer(u8.slice().buffer);
    const readBytes = (handle: QuickJSHandle) => {
      const view = vm.getArrayBuffer(handle);
      const copy = view.value.slice();
      view.dispose();
      return copy;
    };
    fn('random', (n) => buffer(host.randomBytes(vm.getNumber(n))));
    fn('clock', () => vm.newNumber(host.clock()));
    fn('get', (k) => {
      const v = host.storage.get(vm.getString(k));
      return v === undefined ? vm.undefined : buffer(v);
    });
    fn('put', (k, v) => void host.storage.put(vm.getString(k), readBytes(v)));
    fn('del', (k) => void host.storage.delete(vm.getString(k)));
    fn('provisioning', () => buffer(opts.provisioning));
    fn('profile', () => vm.newString(JSON.stringify(opts.profile ?? {})));
    fn('tuning', () => vm.newString(JSON.stringify(opts.ed25519BaseWindow !== undefined ? { ed25519BaseWindow: opts.ed25519BaseWindow } : {})));
    const handle = host.handle ?? (() => ({ code: 205, payload: new Uint8Array([0x32, 0x31, 0x2e, 0x35]) })); // "21.5"
    fn('handle', (m, r, p) => {
      const answer = handle(vm.getString(m), vm.getString(r), readBytes(p));
      const o = vm.newObject();
      vm.setProp(o, 'code', vm.newNumber(answer.code));
      if (answer.payload) {
        const b = buffer(answer.payload);
        vm.setProp(o, 'payload', b);
        b.dispose();
      }
      return o;
    });
    fn('meter', (op, kty, bytes, extra, info, nonceId) => {
      const id = nonceId === undefined || vm.typeof(nonceId) !== 'string' ? {} : { nonceId: vm.getString(nonceId) };
      host.meter?.({ op: vm.getString(op) as MeteredOp['op'], kty: vm.getString(kty), bytes: vm.getNumber(bytes), extra: vm.getNumber(extra), info: vm.getNumber(info), ...id });
      return vm.undefined;
    });
    vm.setProp(vm.global, '__host', h);
    h.dispose();
  }

  #call(name: string, arg?: Uint8Array): QuickJSHandle {
    const vm = this.#vm;
    const args = arg ? [vm.newArrayBuffer(arg.slice().buffer)] : [];
    const result = vm.callMethod(this.#device, name, args);
    for (const a of args) a.dispose();
    this.#heap.sample();
    if (result.error) throw engineError(vm, result.error, this.#heap);
    if (this.#heap.exceeded) {
      result.value.dispose();
      throw outOfMemory(this.#heap);
    }
    return result.value;
  }

  #bytes(name: string, arg?: Uint8Array): Uint8Array {
    const handle = this.#call(name, arg);
    const view = this.#vm.getArrayBuffer(handle);
    const copy = view.value.slice();
    view.dispose();
    handle.dispose();
    return copy;
  }

  /** authz-info: the device's answer bytes. */
  authzInfo(body: Uint8Array): Uint8Array {
    return this.#bytes('authzInfo', body);
  }

  /** A PoP request (or an OSCORE-protected CoAP message on the full bundle): the answer bytes. */
  request(body: Uint8Array): Uint8Array {
    return this.#bytes('request', body);
  }

  issueNonce(): Uint8Array {
    return this.#bytes('nonce');
  }

  /** Applies a signed revocation list; returns how many tokens it newly revoked. */
  applyRevocationList(list: Uint8Array): number {
    const handle = this.#call('revocationList', list);
    const n = this.#vm.getNumber(handle);
    handle.dispose();
    return n;
  }

  get stats(): { tokens: number; tokenBytes: number; sessions: number; revoked: number; exiFloor: number } {
    const handle = this.#call('stats');
    const s = JSON.parse(this.#vm.getString(handle)) as { tokens: number; tokenBytes: number; sessions: number; revoked: number; exiFloor: number };
    handle.dispose();
    return s;
  }

  /** QuickJS's count of its live heap now, in bytes. */
  heapBytes(): number {
    return this.#heap.sample();
  }

  /** The highest heap count seen since boot (sampled inside calls too). */
  get peakHeapBytes(): number {
    return this.#heap.peak;
  }

  /** Powers the device off: everything in RAM is gone, storage stays with the host. */
  dispose(): void {
    this.#device.dispose();
    this.#vm.dispose();
    this.#rt.dispose();
  }
}

/** What QuickJS holds for a loaded bundle's code, from JS_ComputeMemoryUsage. */
export interface BundleCodeStats {
  /** The bytecode proper of every function (js_func_code_size). */
  bytecodeBytes: number;
  /** Function objects with their bytecode, constants, closure variables and line tables (js_func_size). */
  functionBytes: number;
  /** Line-number tables among them (js_func_pc2line_size): what a stripped build (qjsc -s) leaves out. */
  lineTableBytes: number;
  /** Interned names (atom_size): property and variable names of the whole engine and bundle. */
  atomBytes: number;
}

/** The heap a piece of code takes in QuickJS (memory_used_size), with the engine's own floor beside it. */
export interface ModuleHeap {
  /** A fresh context before any code: the engine's own atoms, shapes and intrinsics. */
  emptyContext: number;
  /** Once the module evaluated: its functions, constants and closures. */
  afterLoad: number;
  /** The highest count seen while `call` ran (sampled as HeapWatch does). */
  peak: number;
}

/**
 * Loads an ES module (a bundle's text) into a fresh engine with no limit, then evaluates `call`
 * (global code that may use the module's namespace as `__m`), and reports the heap at each step.
 * The bench uses it to show what a bundle's parts cost before any device state exists.
 */
export async function measureModuleHeap(code: string, call = ''): Promise<ModuleHeap> {
  const qjs = await quickJsModule();
  const rt = qjs.newRuntime();
  const vm = rt.newContext();
  const heap = new HeapWatch(rt, Number.POSITIVE_INFINITY);
  rt.setInterruptHandler(() => {
    heap.sample();
    return false;
  });
  try {
    const emptyContext = heap.sample();
    const evaluated = vm.evalCode(code, 'part.js', { type: 'module' });
    if (evaluated.error) throw engineError(vm, evaluated.error, heap);
    rt.executePendingJobs();
    const state = vm.getPromiseState(evaluated.value);
    if (state.type !== 'fulfilled') throw new QuickJsEngineError('engine_error', 'QuickJS: the module did not finish evaluating');
    vm.setProp(vm.global, '__m', state.value);
    if (state.value !== evaluated.value) state.value.dispose();
    evaluated.value.dispose();
    const afterLoad = heap.sample();
    heap.peak = afterLoad;
    if (call) {
      const result = vm.evalCode(call, 'call.js', { type: 'global' });
      if (result.error) throw engineError(vm, result.error, heap);
      result.value.dispose();
      heap.sample();
    }
    return { emptyContext, afterLoad, peak: heap.peak };
  } finally {
    vm.dispose();
    rt.dispose();
  }
}

/** Loads a bundle into a fresh engine (no limit, no device booted) and reads what its code takes. */
export async function bundleCodeStats(bundle: Pick<DeviceBundle, 'code' | 'kind'>): Promise<BundleCodeStats> {
  const qjs = await quickJsModule();
  const rt = qjs.newRuntime();
  const vm = rt.newContext();
  try {
    const evaluated = vm.evalCode(bundle.code, `${bundle.kind}.js`, { type: 'module' });
    if (evaluated.error) throw engineError(vm, evaluated.error, { exceeded: false, limit: 0, peak: 0 });
    rt.executePendingJobs();
    evaluated.value.dispose();
    const usage = rt.computeMemoryUsage();
    const m = vm.dump(usage) as Record<string, number>;
    usage.dispose();
    return { bytecodeBytes: m.js_func_code_size!, functionBytes: m.js_func_size!, lineTableBytes: m.js_func_pc2line_size!, atomBytes: m.atom_size! };
  } finally {
    vm.dispose();
    rt.dispose();
  }
}
