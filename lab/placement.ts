/**
 * CPU placement: which CPU each VM's threads run on while the lab has more busy threads than
 * CPUs. A VM's guest worker (its vCPU) and its device worker (its vhost thread) hand every frame
 * to each other through rings in the VM's memory; on a machine with fewer cores than busy
 * threads, the kernel's scheduler time-slices them anywhere, and a ring's cache lines then cross
 * cores at every hand-off. Pinned together on one CPU, as a hypervisor's management pins a VM's
 * vCPUs and vhost threads on the same cores, they hand off in that core's cache, and only the
 * link between two VMs crosses cores (docs/performance.md, "CPU placement": 64-byte floods
 * between two VMs on two cores moved about a fifth more frames).
 *
 * How it decides, every {@linkcode PLACEMENT_PERIOD_MS}, from each thread's load (the CPU time it
 * used over the period, which each worker's loop publishes in its `CPU_TIME` doorbell word: a
 * guest's workloads run on its event loop while its loop waits, so time awake is no measure):
 *
 * - While no thread is busy (at least {@linkcode BUSY} of a core), nothing changes: a lab between
 *   two floods keeps its placement, and the next flood starts placed.
 * - While some are, but no more than there are CPUs, nothing is pinned: each busy thread can have
 *   a core of its own, which the scheduler gives it.
 * - Otherwise each busy VM goes on one CPU, the busiest first onto the least loaded CPU (the
 *   longest-processing-time rule), staying where it is while that CPU is within
 *   {@linkcode SLACK} of a core of an even share; a VM whose threads went quiet (under
 *   {@linkcode IDLE}) runs anywhere again.
 * - A placed VM is released only after {@linkcode RELEASE_PERIODS} periods in a row asked for it.
 *
 * Switches and the vsock router are not placed: they serve several VMs.
 *
 * @module
 */

import { cpus } from "node:os";
import { cpuOf, cpuTimeUs, setCpu } from "./wire/doorbell.ts";

/**
 * A thread counts as busy from this share of one core. Low on purpose: four threads that share
 * two cores each run well under half the time, waiting for one another.
 */
export const BUSY = 0.15;
/** A placed VM whose threads all fell under this share of a core is released. */
export const IDLE = 0.05;
/** How far above an even share a CPU may be loaded before a VM on it moves, cores. */
export const SLACK = 0.25;
/**
 * Below this share of the machine's CPU time idle over a period, the CPUs count as saturated
 * (see {@linkcode CpuPlacement}): a pair's flood leaves about 7 % of two CPUs idle, a ping 90 %.
 */
export const SATURATED_IDLE = 0.1;
/** How often the placement looks at the loads, ms. */
export const PLACEMENT_PERIOD_MS = 500;
/**
 * How many periods in a row must ask to release a placed VM before it runs anywhere again: a
 * flood's first and last moments, and the gap between two floods, look like fewer busy threads.
 */
export const RELEASE_PERIODS = 4;

/** One VM's threads' loads over the last period, in cores (0 to 1 each). */
export interface VmLoad {
  /** The VM's name. */
  vm: string;
  /** One load per thread (guest, device). */
  threads: readonly number[];
}

/**
 * Where each VM should run: a CPU, or `null` for anywhere. `current` is the placement in force
 * (missing: anywhere); the result lists every VM of `loads`.
 *
 * @example
 * ```ts
 * import { decidePlacement } from "./placement.ts";
 * const two = [{ vm: "a", threads: [0.5, 0.4] }, { vm: "b", threads: [0.4, 0.4] }];
 * decidePlacement(two, [0, 1], new Map()); // a → 0, b → 1 (four busy threads, two CPUs)
 * decidePlacement(two, [0, 1, 2, 3], new Map()); // a and b anywhere: a core each
 * ```
 */
export function decidePlacement(
  loads: readonly VmLoad[],
  cpus: readonly number[],
  current: ReadonlyMap<string, number | null>,
): Map<string, number | null> {
  const out = new Map<string, number | null>();
  const busyThreads = countBusy(loads);
  if (busyThreads === 0) {
    for (const l of loads) out.set(l.vm, current.get(l.vm) ?? null);
    return out;
  }
  if (cpus.length < 2 || busyThreads <= cpus.length) {
    for (const l of loads) out.set(l.vm, null);
    return out;
  }
  const total = (l: VmLoad) => l.threads.reduce((a, b) => a + b, 0);
  const placed = loads.filter((l) => {
    const was = current.get(l.vm) ?? null;
    const busy = l.threads.some((t) => t >= BUSY);
    const quiet = l.threads.every((t) => t < IDLE);
    return busy || (was !== null && !quiet);
  });
  for (const l of loads) if (!placed.includes(l)) out.set(l.vm, null);
  placed.sort((x, y) => total(y) - total(x) || (x.vm < y.vm ? -1 : 1));
  const even = placed.reduce((n, l) => n + total(l), 0) / cpus.length;
  const onCpu = new Map<number, number>(cpus.map((c) => [c, 0]));
  for (const l of placed) {
    const was = current.get(l.vm) ?? null;
    let cpu: number;
    if (was !== null && onCpu.has(was) && onCpu.get(was)! + total(l) <= even + SLACK) {
      cpu = was;
    } else {
      cpu = cpus[0];
      for (const c of cpus) if (onCpu.get(c)! < onCpu.get(cpu)!) cpu = c;
    }
    onCpu.set(cpu, onCpu.get(cpu)! + total(l));
    out.set(l.vm, cpu);
  }
  return out;
}

/** How many threads of `loads` are busy (at least {@linkcode BUSY} of a core). */
function countBusy(loads: readonly VmLoad[]): number {
  return loads.reduce((n, l) => n + l.threads.filter((t) => t >= BUSY).length, 0);
}

/** A VM's worker threads, by doorbell index. */
export interface PlacedVm {
  /** The VM's name. */
  vm: string;
  /** Its guest and device threads. */
  threads: readonly number[];
}

/** One lab's part of a {@linkcode CpuPlacement}: its doorbells, its VMs, who hears its changes. */
export interface PlacedLab {
  /** The lab's doorbells (its threads' `CPU_TIME` and `CPU` words). */
  bells: Int32Array;
  /** Its VMs. */
  vms: readonly PlacedVm[];
  /** Hears each new placement of this lab's VMs (by VM name). */
  onChange?: (placement: ReadonlyMap<string, number | null>) => void;
}

/** The CPU time of each thread of a lab's VMs, in order. */
function usedOf(lab: PlacedLab): number[] {
  return lab.vms.flatMap((v) => v.threads.map((t) => cpuTimeUs(lab.bells, t)));
}

interface Entry {
  readonly id: number;
  readonly lab: PlacedLab;
  last: { at: number; used: number[] };
  /** Per VM: periods in a row that asked to release it. */
  readonly releaseAsked: Map<string, number>;
}

/**
 * The placement of every lab of a process (one per process, so that two busy labs share the CPUs
 * out between them instead of each starting from the first): call {@linkcode CpuPlacement.tick}
 * every {@linkcode PLACEMENT_PERIOD_MS}; it reads the threads' `CPU_TIME` words, decides over
 * every lab's VMs at once, and writes each moved thread's `CPU` word (the thread moves itself at
 * its next loop pass, see `wire/loop.ts`).
 */
export class CpuPlacement {
  readonly #entries: Entry[] = [];
  #nextId = 0;
  #saturated = false;
  /** Periods in a row, while saturated, with no more busy threads than CPUs. */
  #unsaturatedPeriods = 0;

  /**
   * A placement over `cpus` (the CPUs the process may use), with no lab yet. `onSaturated` hears
   * when the CPUs come to be saturated (true, at the first period that says so) and when they no
   * longer are (false, after {@linkcode RELEASE_PERIODS} periods in a row): saturated while the
   * labs' busy threads outnumber the CPUs, or while less than {@linkcode SATURATED_IDLE} of the
   * machine's CPU time went idle (`idleShare`, the share since its last call; null: unknown), as
   * when another program keeps the CPUs busy. The process's V8 helper threads yield to the lab's
   * threads only while some CPU time is left over for them (`lab.ts`).
   */
  constructor(
    readonly cpus: readonly number[],
    readonly options: {
      onSaturated?: (saturated: boolean) => void;
      idleShare?: () => number | null;
    } = {},
  ) {}

  /** Whether the CPUs are saturated (see the constructor). */
  get saturated(): boolean {
    return this.#saturated;
  }

  /** How many labs it places. */
  get labs(): number {
    return this.#entries.length;
  }

  /**
   * Place `lab`'s VMs too: their CPU times are read now, and the next tick places them. Returns
   * the call that stops placing them (their threads keep their last CPU words; the lab is
   * stopping).
   */
  add(lab: PlacedLab, now: number = performance.now()): () => void {
    const entry: Entry = {
      id: this.#nextId++,
      lab,
      last: { at: now, used: usedOf(lab) },
      releaseAsked: new Map(),
    };
    this.#entries.push(entry);
    return () => {
      const i = this.#entries.indexOf(entry);
      if (i >= 0) this.#entries.splice(i, 1);
    };
  }

  /** Read the loads since the last tick and place. */
  tick(now: number = performance.now()): void {
    const key = (e: Entry, vm: string) => `${e.id}/${vm}`;
    const loads: VmLoad[] = [];
    const current = new Map<string, number | null>();
    for (const e of this.#entries) {
      const { bells, vms } = e.lab;
      for (const v of vms) current.set(key(e, v.vm), cpuOf(bells, v.threads[0]));
      const used = usedOf(e.lab);
      const last = e.last;
      e.last = { at: now, used };
      if (now - last.at < 1) continue;
      const periodUs = (now - last.at) * 1000;
      let i = 0;
      for (const v of vms) {
        loads.push({
          vm: key(e, v.vm),
          threads: v.threads.map(() => {
            // Signed: a replacement device worker's CPU clock starts again near 0, which reads
            // as a step back (idle for that period), not as 71 minutes of CPU.
            const d = (used[i] - last.used[i++]) | 0;
            return d <= 0 ? 0 : Math.min(1, d / periodUs);
          }),
        });
      }
    }
    const idle = this.options.idleShare?.() ?? null;
    this.#noteSaturation(
      countBusy(loads) > this.cpus.length || (idle !== null && idle < SATURATED_IDLE),
    );
    const next = decidePlacement(loads, this.cpus, current);
    for (const e of this.#entries) {
      const mine = new Map<string, number | null>();
      let changed = false;
      for (const v of e.lab.vms) {
        const was = current.get(key(e, v.vm)) ?? null;
        // A lab added less than a millisecond ago has no loads yet: it keeps what it has.
        let cpu = next.has(key(e, v.vm)) ? next.get(key(e, v.vm))! : was;
        if (cpu === null && was !== null) {
          const asked = (e.releaseAsked.get(v.vm) ?? 0) + 1;
          e.releaseAsked.set(v.vm, asked);
          if (asked < RELEASE_PERIODS) cpu = was;
        } else e.releaseAsked.delete(v.vm);
        mine.set(v.vm, cpu);
        if (cpu === was) continue;
        changed = true;
        for (const t of v.threads) setCpu(e.lab.bells, t, cpu);
      }
      if (changed) e.lab.onChange?.(mine);
    }
  }

  #noteSaturation(now: boolean): void {
    if (now) this.#unsaturatedPeriods = 0;
    else if (this.#saturated && ++this.#unsaturatedPeriods < RELEASE_PERIODS) return;
    if (now === this.#saturated) return;
    this.#saturated = now;
    this.options.onSaturated?.(now);
  }
}

/**
 * The share of the machine's CPU time that went idle since the last call (`node:os`'s `cpus`,
 * which needs `--allow-sys`), or null on the first call and when it cannot be read.
 *
 * @example
 * ```ts ignore
 * import { machineIdleMeter } from "./placement.ts";
 * const idleShare = machineIdleMeter();
 * idleShare(); // null: the first reading
 * // … 500 ms later
 * idleShare(); // 0.93: the CPUs were idle 93 % of the time
 * ```
 */
export function machineIdleMeter(): () => number | null {
  let last: { idle: number; total: number } | null = null;
  return () => {
    let idle = 0;
    let total = 0;
    try {
      for (const { times: t } of cpus()) {
        idle += t.idle;
        total += t.user + t.nice + t.sys + t.idle + t.irq;
      }
    } catch {
      return null; // no --allow-sys
    }
    const prev = last;
    last = { idle, total };
    if (prev === null || total <= prev.total) return null;
    return (idle - prev.idle) / (total - prev.total);
  };
}
