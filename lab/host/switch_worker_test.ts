/**
 * The switch worker's capture, on a real switch worker fed by hand: two ports, each with a link
 * ring in and out and a tap on the ring in; the test is the VM at the other end of every ring.
 * A batch is frames published together: the switch takes them in one pass, and asks once a pass
 * whether capture is on.
 */

import assert from "node:assert/strict";
import { THREAD_STATS_SLOTS } from "../wire/control.ts";
import { createDoorbells, requestStop, ringDoorbell } from "../wire/doorbell.ts";
import type { FromWorker, SwitchStart, WorkerRing } from "../wire/messages.ts";
import { NO_IMPAIRMENT } from "./impair.ts";
import { LinkRing } from "./link_ring.ts";
import { TapReader } from "./tap.ts";

/** The switch's thread; the test's (the VMs') is 1. */
const SWITCH = 0;
const PEER = 1;
/** Frames in a batch (a pass takes up to 256). */
const BATCH = 16;
const FRAME_BYTES = 60;

interface Port {
  /** The ring into the switch (the test produces) and its tap. */
  rx: LinkRing;
  tap: TapReader;
  /** The ring out of the switch (the test consumes). */
  tx: LinkRing;
}

interface Rig {
  bells: Int32Array;
  ports: Port[];
  worker: Worker;
}

function workerRing(index: number, ring: LinkRing, tap: TapReader, toSwitch: boolean): WorkerRing {
  return {
    index,
    buffer: ring.buffer,
    tap: tap.buffer,
    consumerThread: toSwitch ? SWITCH : PEER,
    producerThread: toSwitch ? PEER : SWITCH,
    impair: { ...NO_IMPAIRMENT },
    seed: index + 1,
    consumerMac: null,
    label: `ring ${index}`,
  };
}

/** A switch worker with two ports, running (it said ready). */
async function startSwitch(): Promise<Rig> {
  const bells = createDoorbells(2);
  const ports: Port[] = [0, 1].map(() => ({
    rx: LinkRing.create(64, 2048),
    tap: TapReader.create(1 << 16, 2048),
    tx: LinkRing.create(64, 2048),
  }));
  const start: SwitchStart = {
    type: "start",
    name: "sw",
    thread: SWITCH,
    doorbells: bells.buffer as SharedArrayBuffer,
    portsMax: 2,
    ports: ports.map((p, i) => ({
      link: `h${i}-sw`,
      rx: workerRing(2 * i, p.rx, p.tap, true),
      tx: workerRing(2 * i + 1, p.tx, TapReader.create(1 << 16, 2048), false),
    })),
    stats: new SharedArrayBuffer(THREAD_STATS_SLOTS * 8),
  };
  const worker = new Worker(new URL("./switch_worker.ts", import.meta.url), { type: "module" });
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === "ready") resolve();
      if (e.data.type === "failed") reject(new Error(e.data.message));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  worker.postMessage(start);
  try {
    await within(10_000, "the switch worker's ready", ready);
  } catch (e) {
    worker.terminate();
    throw e;
  }
  return { bells, ports, worker };
}

function stopSwitch(rig: Rig): void {
  requestStop(rig.bells, SWITCH);
  rig.worker.terminate();
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Frame `seq` of a batch: broadcast from station 1, its payload bytes all `seq`. */
function frame(seq: number): Uint8Array {
  const f = new Uint8Array(FRAME_BYTES).fill(seq & 0xff);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, 1], 6);
  f.set([0x08, 0x00], 12);
  return f;
}

/**
 * Publish `frames` into port 0 at once (one batch), ring the switch, and wait (5 s at most)
 * until port 1 has them all: the switch's pass over them, captures included, is over.
 */
async function batch(rig: Rig, frames: Uint8Array[]): Promise<void> {
  const [p0, p1] = rig.ports;
  for (const f of frames) assert.ok(p0.rx.push(f), "room in the ring for the batch");
  p0.rx.publish();
  ringDoorbell(rig.bells, SWITCH);
  let got = 0;
  const deadline = performance.now() + 5000;
  while (got < frames.length) {
    for (let f = p1.tx.peek(); f !== null; f = p1.tx.peek()) {
      got++;
      p1.tx.release();
    }
    p1.tx.finishConsume();
    if (got >= frames.length) break;
    assert.ok(performance.now() < deadline, `the switch forwarded ${got} of ${frames.length}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(got, frames.length);
}

/** The frames of pcap records (without the global header). */
function capturedFrames(records: Uint8Array): number[][] {
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const out: number[][] = [];
  for (let at = 0; at + 16 <= records.length && out.length < 10_000;) {
    const incl = dv.getUint32(at + 8, true);
    out.push([...records.subarray(at + 16, at + 16 + incl)]);
    at += 16 + incl;
  }
  return out;
}

const seqs = (from: number) => Array.from({ length: BATCH }, (_, i) => frame(from + i));

Deno.test({
  name: "the switch captures every frame of a multi-frame batch while capture is on",
  fn: async () => {
    const rig = await startSwitch();
    try {
      const tap = rig.ports[0].tap;
      tap.setEnabled(true);
      const frames = seqs(1);
      await batch(rig, frames);
      assert.deepEqual(capturedFrames(tap.drain(1 << 20)), frames.map((f) => [...f]));
      assert.deepEqual(tap.counters(), {
        tapFrames: BATCH,
        tapBytes: BATCH * FRAME_BYTES,
        tapDropped: 0,
      });
    } finally {
      stopSwitch(rig);
    }
  },
});

Deno.test({
  name: "the switch captures nothing while capture is off; turned on or off between batches, " +
    "it holds from the next batch",
  fn: async () => {
    const rig = await startSwitch();
    try {
      const tap = rig.ports[0].tap;
      await batch(rig, seqs(1));
      assert.equal(tap.drain(1 << 20).length, 0, "off: nothing captured");
      assert.equal(tap.counters().tapFrames, 0);

      tap.setEnabled(true); // between batches: the switch is idle
      const on = seqs(101);
      await batch(rig, on);
      assert.deepEqual(capturedFrames(tap.drain(1 << 20)), on.map((f) => [...f]));

      tap.setEnabled(false);
      await batch(rig, seqs(201));
      assert.equal(tap.drain(1 << 20).length, 0, "off again: nothing captured");
      assert.deepEqual(tap.counters(), {
        tapFrames: BATCH,
        tapBytes: BATCH * FRAME_BYTES,
        tapDropped: 0,
      });
      // The other port's ring carried nothing in: its tap saw nothing either.
      assert.equal(rig.ports[1].tap.counters().tapFrames, 0);
    } finally {
      stopSwitch(rig);
    }
  },
});
