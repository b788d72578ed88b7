/**
 * Worker entry of `vlab bench rings`: one instance runs the guest driver half, another the
 * device half, over one queue in shared guest memory, as Linux's `tools/virtio/ringtest` does.
 *
 * The driver posts a batch of requests, publishing each as it adds it (as Linux's
 * `virtqueue_add` does) and kicking at most once per batch, then waits until the device has
 * used them all (closed batch), or keeps up to `batch` in flight (`outstanding`). The device
 * publishes its completions every `PUBLISH_EVERY` requests and whenever its ring runs empty (as
 * vhost-net batches its used updates) and decides on an interrupt when the ring runs empty. Request `n` is a
 * 4-byte buffer at slot `n mod bufferCount`, so its address carries its sequence number: the
 * device checks it from the descriptor alone, as ringtest touches no payload. With `payload`
 * the driver also writes `n` into the buffer and the device reads it back (one more cache line
 * per request). The driver checks that every token comes back in order. In `poll` mode both sides spin; in `notify`
 * mode each side enables notifications, re-checks, and sleeps on its doorbell with
 * `Atomics.wait`, and the other side kicks or interrupts only when event suppression asks.
 *
 * Runs on a worker thread; talks to the main thread by messages (setup, run, exit) and to its
 * peer only through guest memory and the control block.
 *
 * @module
 */

import { DirectDma } from "../../devices/memory/dma.ts";
import { GuestMemory } from "../../devices/memory/memory.ts";
import { formatQueueError } from "../../devices/virtio/errors.ts";
import { createDeviceQueue, createDriverQueue } from "../../devices/virtio/pair.ts";
import type { ChainSpec, DeviceQueue, DriverQueue } from "../../devices/virtio/queue.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { createState } from "../../devices/virtio/state.ts";
import { type BenchLayout, Ctl, ctl, REQUEST_BYTES } from "./ring_layout.ts";
import type { RingMode } from "./types.ts";

/** Messages the main thread sends. */
export type WorkerRequest =
  | {
    cmd: "setup";
    role: "driver" | "device";
    memory: SharedArrayBuffer;
    control: SharedArrayBuffer;
    layout: BenchLayout;
  }
  | {
    cmd: "run";
    runId: number;
    requests: number;
    batch: number;
    mode: RingMode;
    outstanding: boolean;
    payload: boolean;
    deadlineMs: number;
  }
  | { cmd: "pingpong"; rounds: number }
  | { cmd: "exit" };

/** Messages a worker sends back. */
export type WorkerReply =
  | { kind: "ready" }
  | {
    kind: "driver-done";
    runId: number;
    elapsedNs: number;
    completed: number;
    tokenErrors: number;
    truncated: boolean;
  }
  | { kind: "device-done"; runId: number }
  | { kind: "pingpong-done"; roundTripNs: number }
  | { kind: "error"; message: string };

/** The device publishes its completions every this many requests, or when its ring runs empty. */
const PUBLISH_EVERY = 8;

/** The longest a calibration ping-pong may take (ms). */
const PINGPONG_BUDGET_MS = 200;

/** How long a side waits on its doorbell before re-checking the stop flag (ms). */
const WAIT_SLICE_MS = 50;

let ctlView: Int32Array;
let memory: GuestMemory;
let layout: BenchLayout;
let driver: DriverQueue | null = null;
let device: DeviceQueue | null = null;
let specs: ChainSpec[] = [];

function reply(message: WorkerReply): void {
  (self as unknown as Worker).postMessage(message);
}

function setup(msg: Extract<WorkerRequest, { cmd: "setup" }>): void {
  ctlView = new Int32Array(msg.control);
  memory = GuestMemory.fromBuffer(msg.memory);
  layout = msg.layout;
  const ring = new SharedRingAccess(memory);
  if (msg.role === "driver") {
    const q = createDriverQueue(memory, ring, layout.config);
    if (!q.ok) throw new Error(formatQueueError(q.error));
    driver = q.value;
    specs = [];
    for (let i = 0; i < layout.bufferCount; i++) {
      specs.push({
        readable: [[layout.bufferBase + REQUEST_BYTES * i, REQUEST_BYTES]],
        writable: [],
      });
    }
  } else {
    const q = createDeviceQueue(
      new DirectDma(memory),
      ring,
      layout.config,
      createState(layout.config.layout, layout.config.size),
    );
    if (!q.ok) throw new Error(formatQueueError(q.error));
    device = q.value;
  }
  reply({ kind: "ready" });
}

function runDriver(msg: Extract<WorkerRequest, { cmd: "run" }>): void {
  const q = driver!;
  const { requests, batch, mode, outstanding } = msg;
  const notify = mode === "notify";
  const u32 = memory.u32;
  const bufWord = layout.bufferBase >>> 2;
  const bufMask = layout.bufferCount - 1;
  const bell = ctl(Ctl.DRIVER_BELL);
  // Wait until the device polls for this run, so the clock measures the rings only.
  while (
    Atomics.load(ctlView, ctl(Ctl.DEVICE_RUNNING)) !== msg.runId
  ) { /* spin: bounded by the device's setup */ }
  let posted = 0;
  let completed = 0;
  let tokenErrors = 0;
  let truncated = false;
  const deadline = performance.now() + msg.deadlineMs;
  const t0 = performance.now();
  while (completed < requests) {
    let kick = false;
    // Post: a closed batch of `batch`, or top up to `batch` in flight.
    const target = outstanding
      ? Math.min(requests, completed + batch)
      : Math.min(requests, posted + batch);
    while (posted < target) {
      if (msg.payload) u32[bufWord + (posted & bufMask)] = posted;
      const r = q.add(specs[posted & bufMask], posted);
      if (!r.ok) break;
      posted++;
      // Publish each request as Linux's virtqueue_add does, so the device can start on it while
      // the driver adds the next; kick (at most) once per batch. OR-ing the decisions is exact:
      // the event lies in the batch's window iff it lies in one of the per-request windows.
      kick = q.publish() || kick;
    }
    if (kick && notify) {
      Atomics.add(ctlView, ctl(Ctl.KICKS), 1);
      Atomics.add(ctlView, ctl(Ctl.DEVICE_BELL), 1);
      Atomics.notify(ctlView, ctl(Ctl.DEVICE_BELL));
    }
    // Reclaim: all of the batch (closed) or at least one (outstanding).
    const want = outstanding ? completed + 1 : posted;
    while (completed < want) {
      const u = q.getUsed();
      if (!u.ok) throw new Error(formatQueueError(u.error));
      if (u.value !== null) {
        if (u.value.token !== completed) tokenErrors++;
        completed++;
        continue;
      }
      if ((completed & 0xff) === 0 && performance.now() > deadline) {
        truncated = true;
        break;
      }
      if (!notify) continue;
      const seen = Atomics.load(ctlView, bell);
      if (q.enableInterrupts(want - completed)) continue; // used buffers arrived meanwhile
      Atomics.wait(ctlView, bell, seen, WAIT_SLICE_MS);
      q.disableInterrupts();
    }
    if (truncated) break;
  }
  const elapsedNs = (performance.now() - t0) * 1e6;
  // Drain what the device still returns, so the next run starts with an empty ring.
  const drainUntil = performance.now() + 1000;
  while (q.inFlight > 0 && performance.now() < drainUntil) {
    const u = q.getUsed();
    if (!u.ok) break;
  }
  Atomics.store(ctlView, ctl(Ctl.DONE), msg.runId);
  Atomics.add(ctlView, ctl(Ctl.DEVICE_BELL), 1);
  Atomics.notify(ctlView, ctl(Ctl.DEVICE_BELL));
  reply({ kind: "driver-done", runId: msg.runId, elapsedNs, completed, tokenErrors, truncated });
}

function runDevice(msg: Extract<WorkerRequest, { cmd: "run" }>): void {
  const q = device!;
  const notify = msg.mode === "notify";
  const u32 = memory.u32;
  const bell = ctl(Ctl.DEVICE_BELL);
  let expected = 0;
  const base = layout.bufferBase;
  const bufMask = layout.bufferCount - 1;
  let processed = 0;
  let unpublished = 0;
  let seqErrors = 0;
  let idle = 0;
  if (notify) q.disableNotifications();
  Atomics.store(ctlView, ctl(Ctl.DEVICE_RUNNING), msg.runId);
  for (;;) {
    const r = q.pop();
    if (!r.ok) throw new Error(formatQueueError(r.error));
    const chain = r.value;
    if (chain !== null) {
      const gpa = chain.readable[0].gpa;
      if (msg.payload ? u32[gpa >>> 2] !== expected : (gpa - base) >>> 2 !== (expected & bufMask)) {
        seqErrors++;
      }
      expected++;
      // A completion the queue refuses is a bug of the benchmark's own rings: reported, never
      // counted as processed.
      const done = q.push(chain, 0);
      if (!done.ok) throw new Error(formatQueueError(done.error));
      // Hand completions back in small batches, as vhost-net does (it publishes every 64), so
      // the driver can reclaim while the device goes on without an atomic per request.
      if (++unpublished === PUBLISH_EVERY) {
        q.publish();
        unpublished = 0;
      }
      processed++;
      continue;
    }
    // The ring is empty: hand back what was used, interrupt if the driver asked.
    q.publish();
    unpublished = 0;
    if (q.needsInterrupt() && notify) {
      Atomics.add(ctlView, ctl(Ctl.INTERRUPTS), 1);
      Atomics.add(ctlView, ctl(Ctl.DRIVER_BELL), 1);
      Atomics.notify(ctlView, ctl(Ctl.DRIVER_BELL));
    }
    if ((++idle & 0x3f) === 0 || notify) {
      if (Atomics.load(ctlView, ctl(Ctl.DONE)) === msg.runId) break;
    }
    if (!notify) continue;
    const seen = Atomics.load(ctlView, bell);
    if (q.enableNotifications()) {
      q.disableNotifications();
      continue;
    }
    Atomics.wait(ctlView, bell, seen, WAIT_SLICE_MS);
    q.disableNotifications();
  }
  Atomics.add(ctlView, ctl(Ctl.DEVICE_REQUESTS), processed);
  Atomics.add(ctlView, ctl(Ctl.DEVICE_SEQ_ERRORS), seqErrors);
  reply({ kind: "device-done", runId: msg.runId });
}

/**
 * Calibration: a busy-poll ping-pong on two words of the control block, each on its own cache
 * line. A round trip moves each line once, so half of it is the cost of one cache line changing
 * hands between the two workers' cores: the floor of any ring hand-off.
 */
function pingPong(rounds: number): void {
  const ping = ctl(Ctl.PING);
  const pong = ctl(Ctl.PONG);
  if (driver) {
    const base = Atomics.load(ctlView, ping);
    const t0 = performance.now();
    // Bounded by time too: two spinners on one core hand off once per scheduler time slice.
    const deadline = t0 + PINGPONG_BUDGET_MS;
    let done = 0;
    while (done < rounds && (done & 0xf || performance.now() < deadline)) {
      done++;
      Atomics.store(ctlView, ping, base + done);
      while (Atomics.load(ctlView, pong) !== base + done) { /* spin: the device answers */ }
    }
    const roundTripNs = (performance.now() - t0) * 1e6 / done;
    Atomics.store(ctlView, ping, -1); // tells the device to stop
    reply({ kind: "pingpong-done", roundTripNs });
    return;
  }
  let seen = Atomics.load(ctlView, pong);
  for (;;) {
    const v = Atomics.load(ctlView, ping);
    if (v === -1) break;
    if (v !== seen) {
      seen = v;
      Atomics.store(ctlView, pong, v);
    }
  }
  Atomics.store(ctlView, ping, 0);
  Atomics.store(ctlView, pong, 0);
  reply({ kind: "pingpong-done", roundTripNs: 0 });
}

(self as unknown as Worker).onmessage = (e: MessageEvent<WorkerRequest>) => {
  const msg = e.data;
  try {
    if (msg.cmd === "setup") setup(msg);
    else if (msg.cmd === "run") (driver ? runDriver : runDevice)(msg);
    else if (msg.cmd === "pingpong") pingPong(msg.rounds);
    else (self as unknown as { close(): void }).close();
  } catch (error) {
    reply({ kind: "error", message: error instanceof Error ? error.message : String(error) });
  }
};
