/**
 * Ctrl-C, SIGTERM and SIGHUP for labs a script started (`startLab`): the lab stops (workers, control
 * socket, state folder) before the process exits, as `vlab up`'s does, instead of dying with its
 * folder left for the next `vlab ls` to clear as stale. The listeners exist only while such a lab
 * runs: once the script stopped its labs, a signal does what it did before.
 *
 * @module
 */

/** A lab this module can stop: `RegisteredLab`'s `stop` and `stopped`. */
export interface Stoppable {
  /** Stop the lab (idempotent). */
  stop(): Promise<void>;
  /** Resolves once the lab has stopped, however it was stopped. */
  stopped: Promise<void>;
}

/** The signals handled, and the exit status a shell gives a process they end (128 + number). */
const SIGNALS: ReadonlyArray<readonly [Deno.Signal, number]> = [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  // The script's terminal closing: Deno resets SIGHUP to its default action (even under nohup),
  // which killed the script with its lab's folder left stale.
  ["SIGHUP", 129],
];

/** How long the labs get to stop before the process exits anyway, ms. */
export const SIGNAL_STOP_MS = 10_000;

const live = new Set<Stoppable>();
const listeners = new Map<Deno.Signal, () => void>();
let stopping = false;
/** The signal whose stop of the labs is under way, or null. */
let stoppingFor: Deno.Signal | null = null;

/**
 * Stop `lab` when the process gets SIGINT, SIGTERM or SIGHUP, then exit with 130, 143 or 129; a second
 * SIGINT or SIGTERM while the labs stop exits at once (a second SIGHUP, which a closing terminal
 * sends, does not). `exit` is the process's exit (a test passes its own).
 *
 * @example
 * ```ts ignore
 * import { stopOnSignals } from "./script_signals.ts";
 * // const running = await launchLab(plan);
 * // stopOnSignals(running);
 * ```
 */
export function stopOnSignals(lab: Stoppable, exit: (code: number) => void = Deno.exit): void {
  live.add(lab);
  if (listeners.size === 0) {
    for (const [signal, code] of SIGNALS) {
      const listener = () => void onSignal(signal, code, exit);
      listeners.set(signal, listener);
      Deno.addSignalListener(signal, listener);
    }
  }
  void lab.stopped.then(() => {
    live.delete(lab);
    if (live.size === 0 && !stopping) removeListeners();
  });
}

/** Whether signal listeners are installed (for tests). */
export function listening(): boolean {
  return listeners.size > 0;
}

/**
 * While a signal stops the labs, what the interrupted script throws is not reported: its next
 * call on a stopping lab throws `no-lab`, and left uncaught that ended the process at once with
 * exit 1, a stack trace and the lab's folder left behind, before the stop and the exit code the
 * signal promised.
 */
function interrupted(e: Event): void {
  e.preventDefault();
}

/**
 * The signal (`SIGINT`, `SIGTERM`, `SIGHUP`) whose stop of the script's labs is under way, or null: a lab
 * that stops then was stopped by it, not by `vlab down` (the drill runner says which).
 *
 * @example
 * ```ts
 * import { signalStopping } from "./script_signals.ts";
 * signalStopping(); // null: no signal came
 * ```
 */
export function signalStopping(): Deno.Signal | null {
  return stoppingFor;
}

async function onSignal(
  signal: Deno.Signal,
  code: number,
  exit: (code: number) => void,
): Promise<void> {
  if (stopping) {
    // A terminal that closes hangs up twice: its interactive shell sends the job SIGHUP, then the
    // kernel does as the shell exits. Only a second Ctrl-C or SIGTERM means "now": exiting at a
    // second SIGHUP left the lab's folder stale, as SIGHUP's default action did.
    if (signal === "SIGHUP") return;
    return exit(code);
  }
  stopping = true;
  stoppingFor = signal;
  globalThis.addEventListener("unhandledrejection", interrupted);
  globalThis.addEventListener("error", interrupted);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.allSettled([...live].map((l) => l.stop())),
      new Promise((r) => timer = setTimeout(r, SIGNAL_STOP_MS)),
    ]);
  } finally {
    clearTimeout(timer);
    removeListeners();
    stopping = false;
    stoppingFor = null;
    exit(code);
    // A test's `exit` returns: the script's errors are reported again.
    globalThis.removeEventListener("unhandledrejection", interrupted);
    globalThis.removeEventListener("error", interrupted);
  }
}

function removeListeners(): void {
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  listeners.clear();
}
