/**
 * A lab's workers as its main thread holds them: which worker runs which thread for whom, the
 * requests each has not answered yet, what replaced workers counted, and the device workers kept
 * spawned ahead for backend restarts. `Lab` owns one {@linkcode WorkerSet}; what a worker's
 * messages mean for the lab (its events, its failure) is the lab's, through
 * {@linkcode WorkerSetHooks}.
 *
 * A request (`exec`, `inspect`, `guest-bug`) carries an id; the worker's answer names it. A
 * request is answered exactly once: by the worker, or with a failure when the worker fails, is
 * taken out of the set (a crashed VM's guest), or the lab stops (`answerPending`).
 *
 * @module
 */

import { LabError } from "./errors.ts";
import { strandedImpairCounts } from "./impair_stats.ts";
import { nextControl, postedControl, publishControl } from "./wire/doorbell.ts";
import type { FromWorker, SwitchStart, ToWorker, VmStart, WorkerPreload } from "./wire/messages.ts";

/** One running worker. */
export interface WorkerHandle {
  /** The worker. */
  worker: Worker;
  /** Its thread (doorbell) index in the plan. */
  thread: number;
  /** The VM or switch it runs for. */
  owner: string;
  /** What it runs. */
  kind: "guest" | "device" | "switch";
  /** The names of its statistics, as it announced them (`stats-names`). */
  statsNames: string[];
  /** Its statistics region (cumulative counts it publishes). */
  stats: Float64Array;
  /** Why it failed, or null while it has not. */
  failed: string | null;
  /** What to do about it, when the worker said (`failed` with a hint). */
  failedHint?: string;
}

/** What a {@linkcode WorkerSet} asks of the lab that owns it. */
export interface WorkerSetHooks {
  /** Whether the lab is stopping (a worker that goes down then is not replaced). */
  stopped(): boolean;
  /** A worker reported an event (`{ type: "event" }`). */
  event(handle: WorkerHandle, kind: string, detail: Record<string, unknown>): void;
  /**
   * A worker failed and nothing replaces it (it failed before it was up, or it has no `onDown`):
   * called once, after which its pending requests are answered with a failure. `hint` is the
   * worker's own, when it said what the user can do.
   */
  failed(handle: WorkerHandle, message: string, hint?: string): void;
  /**
   * How a hint says to start the lab again once stopped: `` `vlab up star` ``, or
   * `startLab() in its script` (`startAgain` in `start_again.ts`); asked only when a worker fails.
   */
  startAgain(): string;
  /**
   * A worker to spawn ahead (`warmStandby`, `warmGuestStandby`) could not be constructed
   * (`new Worker` threw: resource limits): `message` says why. The set keeps the ones it has; a
   * restart or reboot that finds none constructs its worker as before.
   */
  standbyFailed?(kind: "device" | "guest", message: string): void;
}

/** The failure every request pending on a worker gets. */
interface Failure {
  message: string;
  hint: string;
}

/** Where a listening `exec` request's lines and counts go until its answer (`WorkerSet.request`). */
export interface ExecListener {
  /** An `exec-line`: a line of the workload's output. */
  line(line: string): void;
  /** An `exec-progress`: the workload's counts so far. */
  progress(progress: unknown): void;
}

/**
 * The workers of one lab.
 *
 * @example
 * ```ts ignore
 * const workers = new WorkerSet(bells, {
 *   stopped: () => false,
 *   event: () => {},
 *   failed: () => {},
 *   startAgain: () => "`vlab up pair`",
 * });
 * await workers.spawn(url, { thread: 0, owner: "a", kind: "guest", stats }, start);
 * const answer = await workers.request(workers.find("a", "guest")!, { type: "inspect", id: workers.nextId() });
 * ```
 */
export class WorkerSet {
  readonly #bells: Int32Array;
  readonly #hooks: WorkerSetHooks;
  readonly #handles: WorkerHandle[] = [];
  /**
   * Requests awaiting a worker's answer, by id, with the worker asked and, for an `exec` whose
   * caller listens, where its lines go until the answer.
   */
  readonly #pending = new Map<
    number,
    { handle: WorkerHandle; answer: (m: FromWorker) => void; listen?: ExecListener }
  >();
  #nextId = 1;
  /**
   * What replaced workers counted, by `kind owner`: a successor starts its counters (impairment
   * stages, partition drops, loop counters) at 0 in the same statistics region, so `stats` adds
   * these to its values and no published count goes down across a backend restart.
   */
  readonly #carried = new Map<string, Record<string, number>>();
  /** Device workers spawned ahead for the next backend restarts and reboots (`warmStandby`). */
  readonly #standby: Worker[] = [];
  /** Guest workers spawned ahead for the next reboots after `vm-crash` (`warmGuestStandby`). */
  readonly #guestStandby: Worker[] = [];

  /**
   * @param bells the lab's doorbells (`postControl` numbers its messages there)
   * @param hooks what the workers' messages mean for the lab
   */
  constructor(bells: Int32Array, hooks: WorkerSetHooks) {
    this.#bells = bells;
    this.#hooks = hooks;
  }

  /** Every worker in the set, in spawn order. */
  get all(): readonly WorkerHandle[] {
    return this.#handles;
  }

  /** The `kind` worker of `owner`, if it runs. */
  find(owner: string, kind: WorkerHandle["kind"]): WorkerHandle | undefined {
    return this.#handles.find((w) => w.owner === owner && w.kind === kind);
  }

  /**
   * Take the `kind` worker of `owner` out of the set (it is being replaced, or its VM crashed):
   * what it counted is kept for its successor's statistics, and nothing it is asked from now on
   * reaches the lab. The caller ends it.
   */
  take(owner: string, kind: WorkerHandle["kind"]): WorkerHandle | undefined {
    const i = this.#handles.findIndex((w) => w.owner === owner && w.kind === kind);
    if (i < 0) return undefined;
    const old = this.#handles.splice(i, 1)[0];
    this.#carry(old);
    return old;
  }

  /** A new request id. */
  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Start a worker from `url` (or hand `start` to `standby`, one spawned ahead) and resolve once
   * it says `ready`; reject if it fails first. A worker that goes down once up calls `onDown`
   * when given (the lab replaces it) instead of failing.
   */
  spawn(
    url: URL,
    h: Pick<WorkerHandle, "thread" | "owner" | "kind" | "stats">,
    start: VmStart | SwitchStart,
    onDown?: (message: string) => void,
    standby?: Worker,
  ): Promise<void> {
    const worker = standby ?? new Worker(url, { type: "module", name: `${h.kind} ${h.owner}` });
    const handle: WorkerHandle = { ...h, worker, statsNames: [], failed: null };
    this.#handles.push(handle);
    let up = false;
    return new Promise<void>((resolve, reject) => {
      const fail = (message: string, hint?: string) => {
        if (up && onDown && !this.#hooks.stopped()) {
          onDown(message);
          return;
        }
        if (handle.failed !== null) return;
        handle.failed = message;
        if (hint !== undefined) handle.failedHint = hint;
        this.#hooks.failed(handle, message, hint);
        // What it was asked will never be answered: say so now, not at the lab's stop.
        this.answerPending(handle, {
          message: `The ${h.kind} worker of ${h.owner} failed: ${message}`,
          hint: `The lab's event log has its error; stop the lab (\`vlab down\`), then start it ` +
            `again with ${this.#hooks.startAgain()}`,
        });
        // A failure the worker described (which device, what failed, what to do) is said as
        // it is, with its hint; any other is the worker's.
        reject(
          hint === undefined
            ? new Error(`The ${h.kind} worker of ${h.owner} failed: ${message}`)
            : new LabError("lab-failed", message, hint),
        );
      };
      worker.onerror = (e) => {
        e.preventDefault();
        fail(e.message);
      };
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        switch (m.type) {
          case "ready":
            up = true;
            resolve();
            break;
          case "failed":
            fail(m.message, m.hint);
            break;
          case "stats-names":
            handle.statsNames = m.names;
            break;
          case "event":
            this.#hooks.event(handle, m.kind, m.detail);
            break;
          case "exec-line": {
            // Through the pending request's listener (none once it was answered): its counts
            // first, then the line, in the same turn. The line's listener may end the request
            // (a script's onLine that crashes the VM answers it at once): the counts of the
            // reply it printed are heard by then.
            const listen = this.#pending.get(m.id)?.listen;
            if (m.progress !== undefined) listen?.progress(m.progress);
            listen?.line(m.line);
            break;
          }
          case "exec-progress":
            this.#pending.get(m.id)?.listen?.progress(m.progress);
            break;
          case "exec-result":
          case "inspect-result":
          case "guest-bug-result": {
            const p = this.#pending.get(m.id);
            this.#pending.delete(m.id);
            p?.answer(m);
            break;
          }
        }
      };
      // The thread's control messages numbered from here on are this worker's: posted after this
      // one, they wait in it for its handler (`worker_scope.ts`), and its gate holds frames until
      // they are read. Those numbered before went to a predecessor.
      worker.postMessage({ ...start, controlSeq: postedControl(this.#bells, h.thread) });
    });
  }

  /**
   * Ask `handle` and await its answer (or the failure `answerPending` gives it). `listen` gets the
   * request's `exec-line` and `exec-progress` messages, which come before its answer.
   */
  request(
    handle: WorkerHandle,
    message: ToWorker & { id: number },
    listen?: ExecListener,
  ): Promise<FromWorker> {
    return new Promise((resolve) => {
      this.#pending.set(message.id, { handle, answer: resolve, listen });
      handle.worker.postMessage(message);
    });
  }

  /**
   * {@linkcode request}, giving up after `ms`: null then (a late answer is ignored). For
   * questions a live worker answers within a loop pass or two.
   */
  async requestWithin(
    handle: WorkerHandle,
    message: ToWorker & { id: number },
    ms: number,
  ): Promise<FromWorker | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms));
    try {
      const m = await Promise.race([this.request(handle, message), late]);
      if (m === null) this.#pending.delete(message.id);
      return m;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Answer every request pending on `handle` (on every worker when null) with `failure`. */
  answerPending(handle: WorkerHandle | null, failure: Failure): void {
    for (const [id, p] of this.#pending) {
      if (handle !== null && p.handle !== handle) continue;
      this.#pending.delete(id);
      p.answer({ type: "exec-result", id, ok: false, ...failure });
    }
  }

  /**
   * Post a message that changes what a worker does to frames (a link state, an impairment, the
   * partitions), numbered through its doorbell's `CONTROL` word: the worker's next loop pass
   * reads it first, so it acts on every frame that worker handles from now on.
   */
  postControl(w: WorkerHandle, message: ToWorker & { seq?: number }): void {
    const seq = nextControl(this.#bells, w.thread);
    w.worker.postMessage({ ...message, seq });
    publishControl(this.#bells, w.thread, seq);
  }

  /**
   * Named statistics of every worker. A device worker's are counts since the lab started: a
   * replaced worker's last values (kept by `take`) plus its successor's (a device worker
   * publishes cumulative counts only).
   */
  stats(): { kind: string; owner: string; stats: Record<string, number> }[] {
    return this.#handles.map((w) => {
      const stats: Record<string, number> = {};
      w.statsNames.forEach((n, i) => stats[n] = w.stats[i]);
      const carried = this.#carried.get(`${w.kind} ${w.owner}`);
      if (carried !== undefined) {
        for (const [n, v] of Object.entries(carried)) stats[n] = v + (stats[n] ?? 0);
      }
      return { kind: w.kind, owner: w.owner, stats };
    });
  }

  /**
   * Keep what a worker being replaced counted (its region still holds its last published values:
   * it is fenced, and its successor has not written yet). Counts it made after its last
   * publication are lost with it. The frames its impairment stages held then are lost too, and
   * counted as its `link down` drops (`strandedImpairCounts`).
   */
  #carry(old: WorkerHandle): void {
    const key = `${old.kind} ${old.owner}`;
    const carried = this.#carried.get(key) ?? {};
    const last: Record<string, number> = {};
    old.statsNames.forEach((n, i) => last[n] = old.stats[i]);
    // The frames its impairment stages held go with it: `link down` drops, not silence, and
    // purged from the stages, so that the carried counts hold none (a new stage starts empty).
    for (const [n, v] of Object.entries(strandedImpairCounts(last))) last[n] = (last[n] ?? 0) + v;
    for (const [n, v] of Object.entries(last)) carried[n] = (carried[n] ?? 0) + v;
    this.#carried.set(key, carried);
  }

  /**
   * Keep `count` device workers spawned ahead from `url`, with `kinds` (the plan's device kinds)
   * loaded, waiting for a start message: a replacement after a backend crash takes one
   * (`takeStandby`) instead of paying for a `Worker` and its module graph during the pause (the
   * largest part of it). Two are kept so that crashes in a row still find one ready; a restart
   * that finds none spawns its worker as before. False when a worker could not be constructed
   * (the `standbyFailed` hook heard why): fewer are kept.
   */
  warmStandby(url: URL, kinds: readonly string[], count: number): boolean {
    while (this.#standby.length < count) {
      const w = this.#spawnAhead(url, "device");
      if (w === null) return false;
      w.onerror = (e) => {
        e.preventDefault();
        const i = this.#standby.indexOf(w); // replacements spawn as before
        if (i >= 0) this.#standby.splice(i, 1);
      };
      // Workers load only their VM's kinds: a standby loads every kind of the plan ahead.
      w.postMessage({ type: "preload", kinds: [...kinds] } satisfies WorkerPreload);
      this.#standby.push(w);
    }
    return true;
  }

  /**
   * Keep `count` guest workers spawned ahead from `url`, waiting for a start message: a VM's
   * reboot after `vm-crash` takes one (`takeStandby("guest")`) instead of constructing a `Worker`,
   * which blocks the main thread while the worker's runtime is made (10 to 105 ms measured on a
   * loaded 2-core machine: a drill's steps due then started late). A reboot that finds none
   * spawns its guest as before. False when a worker could not be constructed (the
   * `standbyFailed` hook heard why): fewer are kept.
   */
  warmGuestStandby(url: URL, count: number): boolean {
    while (this.#guestStandby.length < count) {
      const w = this.#spawnAhead(url, "guest");
      if (w === null) return false;
      w.onerror = (e) => {
        e.preventDefault();
        const i = this.#guestStandby.indexOf(w); // reboots spawn as before
        if (i >= 0) this.#guestStandby.splice(i, 1);
      };
      this.#guestStandby.push(w);
    }
    return true;
  }

  /**
   * A `kind` worker spawned ahead from `url`, or null when `new Worker` threw (resource limits):
   * told to the `standbyFailed` hook, not thrown, since its callers run in the lab's timers (a
   * reboot's refill) where a throw would end the lab's process.
   */
  #spawnAhead(url: URL, kind: "device" | "guest"): Worker | null {
    try {
      return new Worker(url, { type: "module", name: `${kind} standby` });
    } catch (e) {
      this.#hooks.standbyFailed?.(kind, e instanceof Error ? e.message : String(e));
      return null;
    }
  }

  /** How many `kind` workers are spawned ahead (`warmStandby`, `warmGuestStandby`). */
  standbyCount(kind: "device" | "guest"): number {
    return (kind === "device" ? this.#standby : this.#guestStandby).length;
  }

  /**
   * The oldest standby `kind` worker (the likeliest to have its module loaded), if any: a device
   * worker unless `kind` says `guest`.
   */
  takeStandby(kind: "device" | "guest" = "device"): Worker | undefined {
    return (kind === "device" ? this.#standby : this.#guestStandby).shift();
  }

  /** Every standby worker, device and guest, taken out of the set (the lab is stopping). */
  drainStandby(): Worker[] {
    return [...this.#standby.splice(0), ...this.#guestStandby.splice(0)];
  }
}
