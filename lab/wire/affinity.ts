/**
 * CPU affinity and CPU time of the calling thread, through Linux's `sched_getaffinity`,
 * `sched_setaffinity` and `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` (libc, by Deno's FFI): how a
 * worker tells the lab's placement (`lab/placement.ts`) how busy it is, and moves itself onto the
 * CPU the placement chose for it, as a hypervisor's management pins a VM's vCPU and its vhost
 * thread together.
 *
 * Each call acts on the thread that makes it (pid 0), so no thread ID crosses threads. Where it
 * cannot work (not Linux, no `--allow-ffi`, no libc), {@linkcode threadAffinity} says why and
 * nothing is pinned: the lab runs as it would without placement. One exception: the process's V8
 * helper threads, which run no code of ours, have their scheduling policy set by thread ID
 * (`sched_setscheduler`, {@linkcode v8Helpers}).
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
/** `CAP_SYS_NICE`'s bit in a capability set. */
const CAP_SYS_NICE = 23;

/**
 * The name (`comm`, cut to 15 bytes) of V8's helper threads: the platform's worker pool, shared
 * by every isolate of the process, which runs the garbage collector's parallel and concurrent
 * work and background compilation.
 */
export const V8_HELPER_COMM = "V8 DefaultWorke";

/** This process's V8 helper threads, whose scheduling policy the lab switches (see {@linkcode v8Helpers}). */
export interface V8Helpers {
  /** Their thread IDs (V8's pool is made at start and kept). */
  readonly tids: readonly number[];
  /** Give them the idle policy (true) or the normal one back (false); returns how many changed. */
  idle(on: boolean): number;
}

/**
 * This process's V8 helper threads ({@linkcode V8_HELPER_COMM}), to run on idle CPU time only
 * while the lab leaves some over. At normal priority each took a CPU from a woken lab worker for
 * up to a few milliseconds (`perf sched`), the main source of an idle ping's tail; but with the
 * CPUs saturated (more busy lab threads than CPUs) an idle-policy helper gets almost no CPU, and a
 * lab thread whose garbage collection waits for the helper's share stalls: the `star` under two
 * floods moved a tenth of its frames (docs/performance.md, "V8's helper threads yield to an idle
 * lab"). So the placement switches them back and forth (`CpuPlacement`'s `onSaturated`), which
 * needs the right to undo a lowered priority (`CAP_SYS_NICE`, or a nice ceiling `RLIMIT_NICE` of
 * 20): without it nothing is changed. Returns the threads, or why not (not Linux, no
 * `--allow-ffi`, no such right, or the threads could not be listed: {@linkcode ownThreads}).
 *
 * @example
 * ```ts ignore
 * import { v8Helpers } from "./affinity.ts";
 * const h = v8Helpers();
 * if ("idle" in h) h.idle(true); // V8's helpers now run on idle CPU time only
 * ```
 */
export function v8Helpers(): V8Helpers | NoAffinity {
  libc ??= openLibc();
  if ("reason" in libc) return libc;
  const lib = libc;
  const rlim = new BigUint64Array(2);
  const ceiling = lib.symbols.getrlimit(RLIMIT_NICE, rlim) === 0 ? rlim[0] : 0n;
  if (ceiling < 20n && !hasCapability(CAP_SYS_NICE)) {
    return {
      reason: "V8's helper threads keep their priority: lowering it could not be undone " +
        "(needs CAP_SYS_NICE or RLIMIT_NICE 20)",
    };
  }
  const threads = ownThreads();
  if (!Array.isArray(threads)) return threads;
  const tids = threads.filter((t) => t.comm === V8_HELPER_COMM).map((t) => t.tid);
  const param = new Int32Array(1); // sched_priority 0, as both policies require
  return {
    tids,
    idle(on: boolean): number {
      let changed = 0;
      for (const tid of tids) {
        if (lib.symbols.sched_setscheduler(tid, on ? SCHED_IDLE : SCHED_OTHER, param) === 0) {
          changed++;
        }
      }
      return changed;
    },
  };
}

/** Whether this process's effective capabilities hold `cap` (`/proc/PID/status`'s `CapEff`). */
function hasCapability(cap: number): boolean {
  const status = procText(`/proc/${Deno.pid}/status`) ?? "";
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(cap)) & 1n) === 1n;
}

/** A `/proc` file's text, read by `cat` where Deno may not read it (`--allow-all`); null if neither. */
function procText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    // Deno reads /proc only with --allow-all.
  }
  try {
    const out = new Deno.Command("cat", { args: [path], stdin: "null", stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * This process's threads and their names, from `/proc/PID/task/TID/comm`. Deno lets a program
 * read `/proc` only with `--allow-all`; without it `sh` and `grep` read it (`--allow-run`), as
 * `lab/proc.ts` does with `cat`.
 */
export function ownThreads(): { tid: number; comm: string }[] | NoAffinity {
  const dir = `/proc/${Deno.pid}/task`;
  try {
    return [...Deno.readDirSync(dir)].map((t) => {
      let comm = "";
      try {
        comm = Deno.readTextFileSync(`${dir}/${t.name}/comm`).trimEnd();
      } catch {
        // The thread ended meanwhile.
      }
      return { tid: Number(t.name), comm };
    });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return {
        reason: `cannot list this process's threads: ${e instanceof Error ? e.message : e}`,
      };
    }
  }
  try {
    // One line a thread: /proc/PID/task/TID/comm:NAME (a thread that ends meanwhile is skipped).
    const out = new Deno.Command("sh", {
      args: ["-c", 'grep -H "" "$0"/*/comm', dir],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).outputSync();
    const threads: { tid: number; comm: string }[] = [];
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const m = /^\/proc\/\d+\/task\/(\d+)\/comm:(.*)$/.exec(line);
      if (m) threads.push({ tid: Number(m[1]), comm: m[2] });
    }
    if (threads.length > 0) return threads;
    return { reason: "cannot list this process's threads (sh and grep read nothing)" };
  } catch {
    return {
      reason: "cannot list this process's threads: needs --allow-all, or --allow-run for sh",
    };
  }
}
