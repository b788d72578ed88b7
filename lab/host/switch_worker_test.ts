/**
 * The switch worker's capture and link state, on a real switch worker fed by hand: two ports,
 * each with a link ring in and out and a tap on the ring in; the test is the VM at the other end
 * of every ring. A batch is frames published together: the switch takes them in one pass, and
 * asks once a pass whether capture is on. A port whose link goes down sends nothing into it, not
 * even what its impairment stage held, and forwards nothing that arrives on it.
 */

import assert from "node:assert/strict";
import { THREAD_STATS_SLOTS } from "../wire/control.ts";
import {
  createDoorbells,
  nextControl,
  publishControl,
  requestStop,
  ringDoorbell,
} from "../wire/doorbell.ts";
import type { FromWorker, SwitchStart, ToWorker, WorkerRing } from "../wire/messages.ts";
import { type Impairment, NO_IMPAIRMENT } from "./impair.ts";
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
  /** The switch's statistics by name, as last published. */
  stats: () => Record<string, number>;
}

function workerRing(
  index: number,
  ring: LinkRing,
  tap: TapReader,
  toSwitch: boolean,
  impair: Impairment = NO_IMPAIRMENT,
): WorkerRing {
  return {
    index,
    buffer: ring.buffer,
    tap: tap.buffer,
    consumerThread: toSwitch ? SWITCH : PEER,
    producerThread: toSwitch ? PEER : SWITCH,
    impair: { ...impair },
    seed: index + 1,
    consumerMac: null,
    label: `ring ${index}`,
  };
}

/**
 * A switch worker with two ports (links `h0-sw` and `h1-sw`), running (it said ready); `impair`
 * impairs port 1's out direction; `agingMs` shortens its MAC table's 300 s.
 */
async function startSwitch(
  impair: Impairment = NO_IMPAIRMENT,
  agingMs?: number,
): Promise<Rig> {
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
    ...(agingMs === undefined ? {} : { agingMs }),
    ports: ports.map((p, i) => ({
      link: `h${i}-sw`,
      rx: workerRing(2 * i, p.rx, p.tap, true),
      tx: workerRing(
        2 * i + 1,
        p.tx,
        TapReader.create(1 << 16, 2048),
        false,
        i === 1 ? impair : NO_IMPAIRMENT,
      ),
    })),
    stats: new SharedArrayBuffer(THREAD_STATS_SLOTS * 8),
  };
  const slots = new Float64Array(start.stats);
  let names: string[] = [];
  const stats = () => Object.fromEntries(names.map((n, i) => [n, slots[i]]));
  const worker = new Worker(new URL("./switch_worker.ts", import.meta.url), { type: "module" });
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === "stats-names") names = e.data.names;
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
  return { bells, ports, worker, stats };
}

/** Post a control message as the lab does (numbered, then published on the doorbell). */
function control(rig: Rig, m: ToWorker): void {
  const seq = nextControl(rig.bells, SWITCH);
  rig.worker.postMessage({ ...m, seq });
  publishControl(rig.bells, SWITCH, seq);
  ringDoorbell(rig.bells, SWITCH);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (5 s at most) until `ok()` holds. */
async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!ok()) {
    assert.ok(performance.now() < deadline, `timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Take every frame out of `ring`; their first payload bytes. */
function takeAll(ring: LinkRing): number[] {
  const got: number[] = [];
  for (let f = ring.peek(); f !== null && got.length < 1000; f = ring.peek()) {
    got.push(f[14]);
    ring.release();
  }
  ring.finishConsume();
  return got;
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

for (const flap of [false, true]) {
  Deno.test({
    name: `a frame the out port's delay holds is dropped when its link goes down${
      flap ? " (and up again before it was due)" : ""
    }, counted as link down`,
    fn: async () => {
      const rig = await startSwitch({ ...NO_IMPAIRMENT, delayUs: 400_000 });
      try {
        const [p0, p1] = rig.ports;
        assert.ok(p0.rx.push(frame(7)));
        p0.rx.publish();
        ringDoorbell(rig.bells, SWITCH);
        // The switch took it: flooded to port 1, whose delay holds it.
        await until("the switch to take the frame", () => p0.rx.counters().framesOut === 1);
        control(rig, { type: "port-link", link: "h1-sw", up: false });
        if (flap) {
          await sleep(100);
          control(rig, { type: "port-link", link: "h1-sw", up: true });
        }
        await sleep(700); // well past its due time
        assert.deepEqual(takeAll(p1.tx), [], "the held frame never went out");
        assert.equal(p1.tx.counters().framesIn, 0);
        await until("the drop to be published", () => rig.stats()["h1-sw_link_down_dropped"] === 1);
        assert.equal(rig.stats()["h1-sw_impair_delivered"] ?? 0, 0);
        if (flap) {
          // Up again: the next frame goes through, after its own delay only.
          assert.ok(p0.rx.push(frame(8)));
          p0.rx.publish();
          ringDoorbell(rig.bells, SWITCH);
          let got: number[] = [];
          await until("the next frame", () => (got = takeAll(p1.tx)).length > 0);
          assert.deepEqual(got, [8]);
        }
      } finally {
        stopSwitch(rig);
      }
    },
  });
}

Deno.test({
  name: "a switch forwards nothing that arrives on a port whose link is down, and counts it as " +
    "link down on that ring; forwarding resumes once it is up",
  fn: async () => {
    const rig = await startSwitch();
    try {
      const [p0, p1] = rig.ports;
      control(rig, { type: "port-link", link: "h1-sw", up: false });
      // The frames reached the ring before its sender heard of the down (in flight).
      for (const seq of [1, 2, 3]) assert.ok(p1.rx.push(frame(seq)));
      p1.rx.publish();
      ringDoorbell(rig.bells, SWITCH);
      await until("the switch to take them", () => p1.rx.counters().framesOut === 3);
      await sleep(50);
      assert.deepEqual(takeAll(p0.tx), [], "nothing forwarded from the down port");
      assert.equal(p1.rx.counters().linkDownDropped, 3);
      assert.equal(rig.stats().switch_flooded ?? 0, 0, "nothing learned or flooded");

      control(rig, { type: "port-link", link: "h1-sw", up: true });
      await sleep(20);
      assert.ok(p1.rx.push(frame(4)));
      p1.rx.publish();
      ringDoorbell(rig.bells, SWITCH);
      let got: number[] = [];
      await until("the frame sent once up", () => (got = takeAll(p0.tx)).length > 0);
      assert.deepEqual(got, [4]);
      assert.equal(p1.rx.counters().linkDownDropped, 3);
    } finally {
      stopSwitch(rig);
    }
  },
});

Deno.test({
  name: "an idle switch forgets a station at its age and publishes it (status counts its table)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const rig = await startSwitch(NO_IMPAIRMENT, 150);
    try {
      await batch(rig, seqs(0)); // station 1 learned on port 0
      await until("station 1 learned", () => rig.stats().switch_learned === 1);
      // Nothing more comes: it aged only when another station was learned, so an idle switch
      // kept it (and `vlab status` counted it) long after `vlab fdb` had stopped listing it.
      await until("station 1 aged out", () => rig.stats().switch_aged === 1);
      assert.deepEqual(takeAll(rig.ports[0].tx), [], "nothing was sent meanwhile");
    } finally {
      stopSwitch(rig);
    }
  },
});
