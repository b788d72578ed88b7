/**
 * The vsock router worker fed by hand: two ports (the VMs of CIDs 3 and 4), each with a link
 * ring in and out; the test is both VMs. A router plans no timer wake-up, so it refuses to build
 * a port with an impairment (a held packet would be released late) and refuses a live one.
 */

import assert from "node:assert/strict";
import { emptyHeader, encodeHeader, VSOCK_HDR_SIZE, VsockOp } from "../../devices/vsock/mod.ts";
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
import { VSOCKMON_HDR_SIZE } from "./vsockmon.ts";

const ROUTER = 0;
const PEER = 1;
const CIDS = [3, 4];

interface Rig {
  bells: Int32Array;
  /** Each port's rings; `tap` is the capture tap of its ring into the router. */
  ports: { rx: LinkRing; tx: LinkRing; tap: TapReader }[];
  worker: Worker;
  /** Every `event` message the worker posted. */
  events: { kind: string; detail: Record<string, unknown> }[];
  stats: () => Record<string, number>;
}

function workerRing(
  index: number,
  ring: LinkRing,
  toRouter: boolean,
  impair: Impairment,
  tap = TapReader.create(1 << 16, 2048),
) {
  return {
    index,
    buffer: ring.buffer,
    tap: tap.buffer,
    consumerThread: toRouter ? ROUTER : PEER,
    producerThread: toRouter ? PEER : ROUTER,
    impair: { ...impair },
    seed: index + 1,
    consumerMac: null,
    label: `ring ${index}`,
  } as WorkerRing;
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A router worker for CIDs 3 and 4 (links `a-r`, `b-r`); `impair` impairs port 1's out ring. */
async function startRouter(impair: Impairment = NO_IMPAIRMENT): Promise<Rig> {
  const bells = createDoorbells(2);
  const ports = [0, 1].map(() => ({
    rx: LinkRing.create(64, 2048),
    tx: LinkRing.create(64, 2048),
    tap: TapReader.create(1 << 16, 2048),
  }));
  const start: SwitchStart = {
    type: "start",
    name: "r",
    thread: ROUTER,
    doorbells: bells.buffer as SharedArrayBuffer,
    portsMax: 2,
    ports: ports.map((p, i) => ({
      link: `${"ab"[i]}-r`,
      rx: workerRing(2 * i, p.rx, true, NO_IMPAIRMENT, p.tap),
      tx: workerRing(2 * i + 1, p.tx, false, i === 1 ? impair : NO_IMPAIRMENT),
    })),
    stats: new SharedArrayBuffer(THREAD_STATS_SLOTS * 8),
    vsockCids: CIDS,
  };
  const slots = new Float64Array(start.stats);
  let names: string[] = [];
  const events: Rig["events"] = [];
  const worker = new Worker(new URL("./vsock_router_worker.ts", import.meta.url), {
    type: "module",
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === "stats-names") names = m.names;
      if (m.type === "event") events.push({ kind: m.kind, detail: m.detail ?? {} });
      if (m.type === "ready") resolve();
      if (m.type === "failed") reject(new Error(m.message));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  worker.postMessage(start);
  try {
    await within(10_000, "the router's ready", ready);
  } catch (e) {
    worker.terminate();
    throw e;
  }
  const stats = () => Object.fromEntries(names.map((n, i) => [n, slots[i]]));
  return { bells, ports, worker, events, stats };
}

function stop(rig: Rig): void {
  requestStop(rig.bells, ROUTER);
  rig.worker.terminate();
}

function control(rig: Rig, m: ToWorker): void {
  const seq = nextControl(rig.bells, ROUTER);
  rig.worker.postMessage({ ...m, seq });
  publishControl(rig.bells, ROUTER, seq);
  ringDoorbell(rig.bells, ROUTER);
}

/** A REQUEST from CID 3 (port 0) to `dstCid`:5000. */
function request(dstCid: number): Uint8Array {
  const packet = new Uint8Array(VSOCK_HDR_SIZE);
  encodeHeader(packet, 0, {
    ...emptyHeader(),
    srcCid: 3,
    srcPort: 1024,
    dstCid,
    dstPort: 5000,
    type: 1,
    op: VsockOp.REQUEST,
    bufAlloc: 1 << 16,
  });
  return packet;
}

/** Wait (5 s at most) for a packet on `ring`; its op. */
async function nextOp(ring: LinkRing): Promise<number> {
  const deadline = performance.now() + 5000;
  for (;;) {
    const f = ring.peek();
    if (f !== null) {
      const op = new DataView(f.buffer, f.byteOffset).getUint16(30, true);
      ring.release();
      ring.finishConsume();
      return op;
    }
    assert.ok(performance.now() < deadline, "timed out waiting for a packet");
    await new Promise((r) => setTimeout(r, 2));
  }
}

function send(rig: Rig, packet: Uint8Array): void {
  assert.ok(rig.ports[0].rx.push(packet), "room in the ring");
  rig.ports[0].rx.publish();
  ringDoorbell(rig.bells, ROUTER);
}

Deno.test("a vsock router refuses to start with an impaired port: it plans no timer to release a held packet", async () => {
  await assert.rejects(
    () => startRouter({ ...NO_IMPAIRMENT, delayUs: 20_000 }),
    /Vsock router "r" cannot impair its port on link "b-r"/,
  );
});

Deno.test("a vsock router refuses a live impairment (worker-error) and forwards on; a pass-through is fine", async () => {
  const rig = await startRouter();
  try {
    control(rig, { type: "impair", ring: 3, impair: { ...NO_IMPAIRMENT } });
    control(rig, { type: "impair", ring: 3, impair: { ...NO_IMPAIRMENT, delayUs: 500_000 } });
    const deadline = performance.now() + 5000;
    while (rig.events.length === 0) {
      assert.ok(performance.now() < deadline, "no worker-error event");
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(rig.events.length, 1, "the pass-through is no error");
    assert.equal(rig.events[0].kind, "worker-error");
    assert.match(String(rig.events[0].detail.message), /cannot impair its port on link "b-r"/);
    // The router still forwards (the refusal changed nothing).
    send(rig, request(4));
    assert.equal(await nextOp(rig.ports[1].tx), VsockOp.REQUEST);
  } finally {
    stop(rig);
  }
});

Deno.test("a vsock router answers a REQUEST for a CID no port has with RST (rst_no_route)", async () => {
  const rig = await startRouter();
  try {
    send(rig, request(7));
    assert.equal(await nextOp(rig.ports[0].tx), VsockOp.RST);
    const deadline = performance.now() + 5000;
    while ((rig.stats().switch_rst_no_route ?? 0) < 1) {
      assert.ok(performance.now() < deadline, "rst_no_route not counted");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    stop(rig);
  }
});

Deno.test("a vsock router captures what a VM sends it (vsockmon records): a capture of a router link had only the router's direction", async () => {
  const rig = await startRouter();
  try {
    const tap = rig.ports[0].tap;
    tap.setEnabled(true);
    const req = request(4);
    send(rig, req);
    assert.equal(await nextOp(rig.ports[1].tx), VsockOp.REQUEST);
    const deadline = performance.now() + 5000;
    let records: Uint8Array = new Uint8Array(0);
    while (records.length === 0) {
      assert.ok(performance.now() < deadline, "nothing captured");
      await new Promise((r) => setTimeout(r, 5));
      records = tap.drain(1 << 20);
    }
    // One pcap record: its 16-byte header, the 32-byte vsockmon header, then the packet whole.
    const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
    assert.equal(dv.getUint32(8, true), VSOCKMON_HDR_SIZE + VSOCK_HDR_SIZE);
    const record = records.subarray(16, 16 + VSOCKMON_HDR_SIZE + VSOCK_HDR_SIZE);
    const mon = new DataView(record.buffer, record.byteOffset, record.byteLength);
    assert.deepEqual([Number(mon.getBigUint64(0, true)), Number(mon.getBigUint64(8, true))], [
      3,
      4,
    ]);
    assert.deepEqual([...record.subarray(VSOCKMON_HDR_SIZE)], [...req]);
    assert.equal(records.length, 16 + record.length, "one record");
  } finally {
    stop(rig);
  }
});
