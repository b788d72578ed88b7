import assert from "node:assert/strict";
import {
  announceSleep,
  beat,
  cancelSleep,
  createDoorbells,
  DOORBELL_STRIDE,
  DoorbellWord,
  readBell,
  readDoorbellWord,
  requestStop,
  ringDoorbell,
  ringSelf,
  setThreadState,
  stopRequested,
  ThreadState,
  waitDoorbell,
  waitDoorbellSync,
} from "./doorbell.ts";
import type { RingJob, RingReply } from "./testdata/ring_worker.ts";

const WORKER_URL = new URL("./testdata/ring_worker.ts", import.meta.url).href;

/** Post a job to a helper worker and wait for its reply, at most `timeoutMs`. */
function run(worker: Worker, job: RingJob, timeoutMs: number): Promise<RingReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${job.op}: no reply in ${timeoutMs} ms`)),
      timeoutMs,
    );
    worker.onmessage = (e: MessageEvent<RingReply>) => {
      clearTimeout(timer);
      resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      clearTimeout(timer);
      reject(new Error(`${job.op}: worker failed: ${e.message}`));
    };
    worker.postMessage(job);
  });
}

/**
 * `Atomics.waitAsync` does not keep Deno's event loop alive: with nothing else pending, the test
 * would end before the wait does. Hold the loop open with an idle timer while awaiting `p`.
 */
async function held<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

Deno.test("each thread's words sit on their own 64-byte line", () => {
  const bells = createDoorbells(3);
  assert.equal(bells.length, 3 * DOORBELL_STRIDE);
  assert.equal(DOORBELL_STRIDE * 4, 64);
  assert.ok(bells.buffer instanceof SharedArrayBuffer);
  assert.equal(createDoorbells(0).length, DOORBELL_STRIDE, "at least one thread");
});

Deno.test("ringDoorbell adds one to the thread's BELL and touches nothing else", () => {
  const bells = createDoorbells(3);
  ringDoorbell(bells, 1);
  ringDoorbell(bells, 1);
  ringDoorbell(bells, 2);
  assert.equal(readBell(bells, 0), 0);
  assert.equal(readBell(bells, 1), 2);
  assert.equal(readBell(bells, 2), 1);
  assert.equal(bells[1 * DOORBELL_STRIDE + DoorbellWord.BELL], 2);
  for (let t = 0; t < 3; t++) {
    for (const w of [DoorbellWord.SLEEPING, DoorbellWord.STOP, DoorbellWord.WAKEUPS]) {
      assert.equal(readDoorbellWord(bells, t, w), 0, `thread ${t} word ${w}`);
    }
  }
});

Deno.test("ringDoorbell notifies a waiter only while SLEEPING is set", () => {
  const bells = createDoorbells(1);
  const at = DoorbellWord.BELL;
  // Not sleeping: the ring adds to BELL but leaves the waiter waiting (our notify finds it).
  const quiet = Atomics.waitAsync(bells, at, 0, 10_000);
  assert.equal(quiet.async, true);
  ringDoorbell(bells, 0);
  assert.equal(readBell(bells, 0), 1);
  assert.equal(Atomics.notify(bells, at), 1, "the ring must not have woken the waiter");
  // Sleeping: the ring wakes the waiter (nothing left for our notify).
  announceSleep(bells, 0);
  const woken = Atomics.waitAsync(bells, at, 1, 10_000);
  assert.equal(woken.async, true);
  ringDoorbell(bells, 0);
  assert.equal(readBell(bells, 0), 2);
  assert.equal(Atomics.notify(bells, at), 0, "the ring must have woken the waiter");
});

Deno.test("announceSleep and cancelSleep set and clear SLEEPING", () => {
  const bells = createDoorbells(2);
  announceSleep(bells, 1);
  assert.equal(readDoorbellWord(bells, 1, DoorbellWord.SLEEPING), 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 0);
  cancelSleep(bells, 1);
  assert.equal(readDoorbellWord(bells, 1, DoorbellWord.SLEEPING), 0);
});

Deno.test("a replaced owner whose wait ends late leaves its successor's SLEEPING set: a ring still wakes the successor", async () => {
  // Before, any wait's end stored SLEEPING = 0: an owner replaced while it waited (a crashed
  // guest's last task, a fenced device worker) cleared its successor's announcement, and ringers
  // then let the successor sleep through every ring to its timeout.
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  // The successor (tag 2) sleeps.
  announceSleep(bells, 0, 2);
  const successor = waitDoorbell(bells, 0, seen, 500, 2);
  // The old owner (tag 1) ends its wait, and cancels a sleep, late.
  assert.equal(waitDoorbellSync(bells, 0, seen, 0, 1), false);
  cancelSleep(bells, 0, 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 2);
  const t0 = performance.now();
  ringDoorbell(bells, 0);
  assert.equal(await held(successor), true, "the ring ended the successor's wait");
  assert.ok(performance.now() - t0 < 400, "at once, not at its timeout");
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 0);
});

Deno.test("a replaced owner that announces its sleep late leaves its successor's tag: its wait's end cannot clear it", async () => {
  // An owner replaced between its pass and its announcement (descheduled there: nothing of it
  // is inside a section, so its successor starts at once) stored its tag over its successor's;
  // its wait's end then cleared it, and the successor slept through every ring to its timeout.
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  announceSleep(bells, 0, 2);
  const successor = waitDoorbell(bells, 0, seen, 500, 2);
  announceSleep(bells, 0, 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 2);
  assert.equal(waitDoorbellSync(bells, 0, seen, 0, 1), false);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 2);
  const t0 = performance.now();
  ringDoorbell(bells, 0);
  assert.equal(await held(successor), true, "the ring ended the successor's wait");
  assert.ok(performance.now() - t0 < 400, "at once, not at its timeout");
  // Once the successor cleared it, an owner (old or not) announces over 0, and its own tag again.
  announceSleep(bells, 0, 1);
  announceSleep(bells, 0, 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 1);
  announceSleep(bells, 0, 2);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 2);
});

Deno.test("beat counts loop passes and setThreadState sets STATE", () => {
  const bells = createDoorbells(2);
  for (let i = 0; i < 5; i++) beat(bells, 1);
  setThreadState(bells, 1, ThreadState.FAILED);
  assert.equal(readDoorbellWord(bells, 1, DoorbellWord.HEARTBEAT), 5);
  assert.equal(readDoorbellWord(bells, 1, DoorbellWord.STATE), ThreadState.FAILED);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.HEARTBEAT), 0);
  // The heartbeat wraps like an Int32 instead of overflowing.
  bells[1 * DOORBELL_STRIDE + DoorbellWord.HEARTBEAT] = 0x7fffffff;
  beat(bells, 1);
  assert.equal(readDoorbellWord(bells, 1, DoorbellWord.HEARTBEAT), -0x80000000);
});

Deno.test("waitDoorbell returns false on timeout and clears SLEEPING", async () => {
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  announceSleep(bells, 0);
  const t0 = performance.now();
  assert.equal(await held(waitDoorbell(bells, 0, seen, 20)), false);
  assert.ok(performance.now() - t0 >= 15, "it waited about the timeout");
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 0);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 0);
});

Deno.test("waitDoorbell returns at once when BELL already moved past the value read", async () => {
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  ringDoorbell(bells, 0); // a ring between the read and the wait
  announceSleep(bells, 0);
  const t0 = performance.now();
  assert.equal(await held(waitDoorbell(bells, 0, seen, 5000)), true);
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 1);
});

Deno.test("waitDoorbell returns true on a ring from another worker", async () => {
  const bells = createDoorbells(2);
  const worker = new Worker(WORKER_URL, { type: "module" });
  try {
    const seen = readBell(bells, 1);
    announceSleep(bells, 1);
    const reply = run(worker, { op: "ring", bells, thread: 1 }, 10_000);
    const t0 = performance.now();
    const woke = await waitDoorbell(bells, 1, seen, 10_000);
    const waited = performance.now() - t0;
    assert.deepEqual(await reply, { op: "ring", sawSleeping: true });
    assert.equal(woke, true);
    assert.ok(waited < 5000, `woke after ${waited} ms, before the timeout`);
    assert.equal(readBell(bells, 1), seen + 1);
    assert.equal(readDoorbellWord(bells, 1, DoorbellWord.WAKEUPS), 1);
    assert.equal(readDoorbellWord(bells, 1, DoorbellWord.SLEEPING), 0);
  } finally {
    worker.terminate();
  }
});

Deno.test("requestStop sets the stop flag of that thread only and wakes it", async () => {
  const bells = createDoorbells(2);
  assert.equal(stopRequested(bells, 0), false);
  const seen = readBell(bells, 0);
  announceSleep(bells, 0);
  const wait = waitDoorbell(bells, 0, seen, 10_000);
  requestStop(bells, 0);
  const t0 = performance.now();
  assert.equal(await held(wait), true);
  assert.ok(performance.now() - t0 < 5000);
  assert.equal(stopRequested(bells, 0), true);
  assert.equal(stopRequested(bells, 1), false);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.STOP), 1);
});

Deno.test("no lost wakeup: two workers ping-pong 20,000 rounds through the sleep protocol", async () => {
  const ROUNDS = 20_000;
  const bells = createDoorbells(2);
  const turn = new Int32Array(new SharedArrayBuffer(4));
  const workers = [0, 1].map(() => new Worker(WORKER_URL, { type: "module" }));
  try {
    // A lost wakeup would leave a side waiting until its wait timeout (1 s) and be counted;
    // the deadline bounds the whole run, so a broken protocol fails instead of hanging.
    const job = { op: "pingpong", bells, turn, rounds: ROUNDS, deadlineMs: 60_000 } as const;
    const replies = await Promise.all(
      workers.map((w, me) => run(w, { ...job, me, peer: 1 - me, waitTimeoutMs: 1000 }, 90_000)),
    );
    for (const [me, r] of replies.entries()) {
      assert.ok(r.op === "pingpong");
      assert.equal(r.rounds, ROUNDS, `worker ${me} finished its rounds`);
      assert.equal(r.timedOutWaits, 0, `worker ${me} waited out its timeout (a lost wakeup)`);
      assert.equal(readDoorbellWord(bells, me, DoorbellWord.WAKEUPS), r.wakeups);
    }
    assert.equal(Atomics.load(turn, 0), 2 * ROUNDS);
    // Every handoff rang the peer once.
    assert.equal(readBell(bells, 0) + readBell(bells, 1), 2 * ROUNDS);
  } finally {
    for (const w of workers) w.terminate();
  }
});

Deno.test("waitDoorbellSync returns false on timeout and clears SLEEPING", () => {
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  announceSleep(bells, 0);
  const t0 = performance.now();
  assert.equal(waitDoorbellSync(bells, 0, seen, 5), false);
  assert.ok(performance.now() - t0 >= 4, "it waited about the timeout");
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SLEEPING), 0);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 0);
});

Deno.test("waitDoorbellSync returns at once when BELL already moved past the value read", () => {
  const bells = createDoorbells(1);
  const seen = readBell(bells, 0);
  ringDoorbell(bells, 0); // a ring between the read and the wait
  announceSleep(bells, 0);
  const t0 = performance.now();
  assert.equal(waitDoorbellSync(bells, 0, seen, 2000), true);
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 1);
});

Deno.test("waitDoorbellSync returns true on a ring from another worker", async () => {
  const bells = createDoorbells(2);
  const worker = new Worker(WORKER_URL, { type: "module" });
  try {
    const seen = readBell(bells, 1);
    announceSleep(bells, 1);
    const reply = run(worker, { op: "ring", bells, thread: 1 }, 10_000);
    const t0 = performance.now();
    const woke = waitDoorbellSync(bells, 1, seen, 3000);
    const waited = performance.now() - t0;
    assert.deepEqual(await reply, { op: "ring", sawSleeping: true });
    assert.equal(woke, true);
    assert.ok(waited < 2500, `woke after ${waited} ms, before the timeout`);
    assert.equal(readDoorbellWord(bells, 1, DoorbellWord.WAKEUPS), 1);
    assert.equal(readDoorbellWord(bells, 1, DoorbellWord.SLEEPING), 0);
  } finally {
    worker.terminate();
  }
});

Deno.test("a thread's ring of itself ends its waitAsync and is counted apart from other rings", async () => {
  // A worker's event loop stays alive (its message port); a test's does while a timer is armed.
  const alive = setTimeout(() => {}, 10_000);
  try {
    await selfRings();
  } finally {
    clearTimeout(alive);
  }
});

async function selfRings(): Promise<void> {
  const bells = createDoorbells(1);
  ringSelf(bells, 0);
  assert.equal(readBell(bells, 0), 1, "the bell moves");
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SELF_RINGS), 0, "not asleep: not counted");
  // Asleep in waitAsync, as a worker's loop is; code on the same event loop (a workload's timer
  // arming an earlier deadline) rings the thread itself.
  let seen = readBell(bells, 0);
  announceSleep(bells, 0);
  let wait = waitDoorbell(bells, 0, seen, 5000);
  setTimeout(() => ringSelf(bells, 0), 5);
  let t0 = performance.now();
  assert.equal(await wait, true, "the ring ended the wait");
  assert.ok(performance.now() - t0 < 2500, "well before its timeout");
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SELF_RINGS), 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 1);
  // Another's ring is a wake-up and no self-ring.
  seen = readBell(bells, 0);
  announceSleep(bells, 0);
  wait = waitDoorbell(bells, 0, seen, 5000);
  setTimeout(() => ringDoorbell(bells, 0), 5);
  t0 = performance.now();
  assert.equal(await wait, true);
  assert.ok(performance.now() - t0 < 2500);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.SELF_RINGS), 1);
  assert.equal(readDoorbellWord(bells, 0, DoorbellWord.WAKEUPS), 2);
}
