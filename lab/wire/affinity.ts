/**
 * CPU affinity and CPU time of the calling thread, through Linux's `sched_getaffinity`,
 * `sched_setaffinity` and `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` (libc, by Deno's FFI): how a
 * worker tells the lab's placement (`lab/placement.ts`) how busy it is, and moves itself onto the
 * CPU the placement chose for it, as a hypervisor's management pins a VM's vCPU and its vhost
 * thread together; and `sched_yield`, by which a busy-polling worker gives its CPU away.
 *
 * Each call acts on the thread that makes it (pid 0), so no thread ID crosses threads. Where it
 * cannot work (not Linux, no `--allow-ffi`, no libc), {@linkcode threadAffinity} says why and
 * nothing is pinned: the lab runs as it would without placement. One exception: threads that run
 * no code of ours (V8's helpers) have their scheduling policy set by thread ID
 * ({@linkcode schedulerControl}).
 *
 * @module
 */

/** Bytes of the CPU masks passed to the kernel: 1024 CPUs, glibc's `cpu_set_t`. */
const MASK_BYTES = 128;

/** What this thread can do with its CPU affinity. */
export interface ThreadAffinity {
  /** The CPUs the thread could run on when it first asked (the process's set, in order). */
  readonly allowed: readonly number[];
  /** Run only on `cpu` (one of `allowed`), or on all of `allowed` again (`null`). True if done. */
  pin(cpu: number | null): boolean;
  /** Microseconds of CPU this thread has used (`CLOCK_THREAD_CPUTIME_ID`). */
  cpuTimeUs(): number;
}

/** Why affinity is not available here. */
export interface NoAffinity {
  /** One line: what is missing. */
  reason: string;
}

type Libc = {
  symbols: {
    sched_getaffinity(pid: number, size: number | bigint, mask: Uint8Array): number;
    sched_setaffinity(pid: number, size: number | bigint, mask: Uint8Array): number;
    sched_setscheduler(pid: number, policy: number, param: Int32Array): number;
    getrlimit(resource: number, rlim: BigUint64Array): number;
    clock_gettime(clock: number, timespec: BigInt64Array): number;
    sched_yield(): number;
  };
};

/** Linux's clock of the calling thread's CPU time. */
const CLOCK_THREAD_CPUTIME_ID = 3;

let libc: Libc | NoAffinity | undefined;

function openLibc(): Libc | NoAffinity {
  if (Deno.build.os !== "linux") {
    return { reason: `CPU placement needs Linux (this is ${Deno.build.os})` };
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { reason: "CPU placement needs --allow-ffi (to call sched_setaffinity)" };
  }
  try {
    return Deno.dlopen("libc.so.6", {
      sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
      sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
      sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
      getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
      sched_yield: { parameters: [], result: "i32" },
    }) as unknown as Libc;
  } catch (e) {
    return { reason: `CPU placement could not load libc: ${e instanceof Error ? e.message : e}` };
  }
}

/** The CPUs set in a kernel CPU mask. */
export function cpusOfMask(mask: Uint8Array): number[] {
  const cpus: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    for (let b = 0; b < 8; b++) if (mask[i] & (1 << b)) cpus.push(i * 8 + b);
  }
  return cpus;
}

/** A kernel CPU mask holding `cpus`. */
export function maskOfCpus(cpus: readonly number[]): Uint8Array {
  const mask = new Uint8Array(MASK_BYTES);
  for (const c of cpus) if (c >= 0 && c < MASK_BYTES * 8) mask[c >> 3] |= 1 << (c & 7);
  return mask;
}

/**
 * The calling thread's affinity, or why it cannot be changed here. The allowed set is read once
 * per thread, at the first call: later pins narrow it, and `pin(null)` widens it back.
 *
 * @example
 * ```ts ignore
 * import { threadAffinity } from "./affinity.ts";
 * const a = threadAffinity();
 * if ("pin" in a) a.pin(a.allowed[0]);
 * ```
 */
export function threadAffinity(): ThreadAffinity | NoAffinity {
  libc ??= openLibc();
  if ("reason" in libc) return libc;
  const lib = libc;
  const mask = new Uint8Array(MASK_BYTES);
  if (lib.symbols.sched_getaffinity(0, MASK_BYTES, mask) !== 0) {
    return { reason: "CPU placement could not read this thread's CPUs (sched_getaffinity)" };
  }
  const allowed = cpusOfMask(mask);
  const all = maskOfCpus(allowed);
  const timespec = new BigInt64Array(2);
  return {
    allowed,
    pin(cpu: number | null): boolean {
      if (cpu !== null && !allowed.includes(cpu)) return false;
      const m = cpu === null ? all : maskOfCpus([cpu]);
      return lib.symbols.sched_setaffinity(0, MASK_BYTES, m) === 0;
    },
    cpuTimeUs(): number {
      if (lib.symbols.clock_gettime(CLOCK_THREAD_CPUTIME_ID, timespec) !== 0) return 0;
      return Number(timespec[0]) * 1e6 + Math.floor(Number(timespec[1]) / 1000);
    },
  };
}

/** Linux's scheduling policy for threads that run only on CPU time nothing else wants. */
export const SCHED_IDLE = 5;
/** Linux's normal scheduling policy (`SCHED_OTHER`). */
export const SCHED_OTHER = 0;
/** `getrlimit`'s resource number of the nice ceiling. */
const RLIMIT_NICE = 13;

/**
 * A function that gives the calling thread's CPU to any other thread waiting for it
 * (`sched_yield`; it returns at once when none is), or why there is none here. A busy-polling
 * loop calls it between polls, so that it never keeps a peer that shares its CPU from running.
 *
 * @example
 * ```ts ignore
 * import { cpuYield } from "./affinity.ts";
 * const y = cpuYield();
 * if (typeof y === "function") y();
 * ```
 */
export function cpuYield(): (() => void) | NoAffinity {
  libc ??= openLibc();
  if ("reason" in libc) return libc;
  const lib = libc;
  return () => void lib.symbols.sched_yield();
}

/** Scheduling policies of this process's threads, by thread ID (see {@linkcode schedulerControl}). */
export interface SchedulerControl {
  /** Give thread `tid` of this process `policy` (priority 0); true if done. */
  setPolicy(tid: number, policy: number): boolean;
  /** The process's nice ceiling (`RLIMIT_NICE`: 20 lets it go back to nice 0), 0 if unknown. */
  niceCeiling(): number;
}

/**
 * Set the scheduling policy of this process's threads by ID (`sched_setscheduler`): for threads
 * that run no code of ours, V8's helpers (`lab/v8_helpers.ts`), unlike the rest of this module,
 * whose calls act on the calling thread. Or why not (not Linux, no `--allow-ffi`, no libc).
 *
 * @example
 * ```ts ignore
 * import { SCHED_IDLE, schedulerControl } from "./affinity.ts";
 * const s = schedulerControl();
 * if ("setPolicy" in s) s.setPolicy(tid, SCHED_IDLE);
 * ```
 */
export function schedulerControl(): SchedulerControl | NoAffinity {
  libc ??= openLibc();
  if ("reason" in libc) return libc;
  const lib = libc;
  const param = new Int32Array(1); // sched_priority 0, as SCHED_OTHER and SCHED_IDLE require
  const rlim = new BigUint64Array(2);
  return {
    setPolicy: (tid, policy) => lib.symbols.sched_setscheduler(tid, policy, param) === 0,
    niceCeiling: () => lib.symbols.getrlimit(RLIMIT_NICE, rlim) === 0 ? Number(rlim[0]) : 0,
  };
}
