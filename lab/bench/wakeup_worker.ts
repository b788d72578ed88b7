/**
 * The worker of the wake-up micro-benchmark ({@linkcode runWakeupBench} in `wakeup.ts`): two of
 * them ping-pong through the lab's doorbells (`lab/wire/doorbell.ts`, the real Dekker protocol:
 * announce sleep, re-check, wait). The `initiator` rings its peer and waits for the answer,
 * timing each round trip; the `echo` answers every ring. How a side sleeps is the point:
 *
 * - `async`: `Atomics.waitAsync` on the worker's event loop (how `runLoop` sleeps today);
 * - `block`: a blocking `Atomics.wait`, in slices of at most `sliceMs`, returning to the event
 *   loop between slices (never blocked longer than a slice).
 *
 * @module
 */

import {
  announceSleep,
  cancelSleep,
  DOORBELL_STRIDE,
  DoorbellWord,
  readBell,
  ringDoorbell,
  stopRequested,
  waitDoorbell,
} from "../wire/doorbell.ts";
import { macrotask } from "../wire/loop.ts";

/** Start message. */
export interface WakeupWorkerStart {
  /** Which side. */
  role: "initiator" | "echo";
  /** How the side sleeps. */
  mode: "async" | "block";
  /** Two threads' doorbells: 0 the initiator, 1 the echo. */
  bells: SharedArrayBuffer;
  /** Round trips the initiator makes. */
  rounds: number;
  /** Longest blocking slice, ms (`block`). */
  sliceMs: number;
}

/** What the initiator reports (the echo reports an empty list). */
export interface WakeupWorkerResult {
  /** Round-trip times, µs. */
  rttUs: number[];
}

/** Longest a round trip may take before the run is abandoned, ms. */
const ROUND_DEADLINE_MS = 1000;

const scope = self as unknown as {
  postMessage(m: WakeupWorkerResult): void;
  onmessage: ((e: MessageEvent<WakeupWorkerStart>) => void) | null;
};

/** Sleep until the bell moves from `seen` (or `timeoutMs`), the way `mode` says. */
async function sleep(
  bells: Int32Array,
  thread: number,
  seen: number,
  mode: WakeupWorkerStart["mode"],
  sliceMs: number,
  timeoutMs: number,
): Promise<void> {
  announceSleep(bells, thread);
  if (mode === "async") {
    await waitDoorbell(bells, thread, seen, timeoutMs);
    return;
  }
  const i = thread * DOORBELL_STRIDE + DoorbellWord.BELL;
  const outcome = Atomics.wait(bells, i, seen, Math.min(sliceMs, timeoutMs));
  cancelSleep(bells, thread);
  if (outcome === "timed-out") await macrotask(); // a slice ended: let messages and timers run
}

scope.onmessage = async (e) => {
  const { role, mode, rounds, sliceMs } = e.data;
  const bells = new Int32Array(e.data.bells);
  const me = role === "initiator" ? 0 : 1;
  const peer = 1 - me;
  const rttUs: number[] = [];
  if (role === "initiator") {
    for (let r = 0; r < rounds; r++) {
      const seen = readBell(bells, me);
      const t0 = performance.now();
      ringDoorbell(bells, peer);
      const deadline = t0 + ROUND_DEADLINE_MS;
      while (readBell(bells, me) === seen && performance.now() < deadline) {
        await sleep(bells, me, seen, mode, sliceMs, deadline - performance.now());
      }
      rttUs.push((performance.now() - t0) * 1000);
      // A short pause with both sides asleep, as between two pings.
      const pause = performance.now() + 0.2;
      while (performance.now() < pause) { /* both sides settle into their sleep */ }
    }
    ringDoorbell(bells, peer); // let the echo see the stop flag promptly
  } else {
    let seen = 0; // the bell's value before any ring, which may come before this worker runs
    while (!stopRequested(bells, me)) {
      const now = readBell(bells, me);
      if (now !== seen) {
        seen = now;
        ringDoorbell(bells, peer);
        continue;
      }
      await sleep(bells, me, seen, mode, sliceMs, 1000);
    }
  }
  scope.postMessage({ rttUs });
};
