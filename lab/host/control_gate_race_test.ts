/**
 * A control message posted while a worker's pass runs acts on every frame published after it: the
 * pass takes no such frame under the state the message replaces (`lab/wire/control_gate.ts`).
 * Each test drives a producer's pass by hand and does, mid-pass, what the main thread and a
 * guest (or an upstream producer) do: the main thread posts a partition or a link change
 * (postMessage, then the `CONTROL` word), then a frame is published. The worker's event loop
 * delivers the message only between passes, as in a lab.
 */

import assert from "node:assert/strict";
import { GuestMemory } from "../../devices/memory/memory.ts";
import { PageAllocator } from "../../devices/memory/allocator.ts";
import { createQueuePair } from "../../devices/virtio/pair.ts";
import { type FrameSink, NetDevice } from "../../devices/net/device.ts";
import { NetDriver } from "../../devices/net/driver.ts";
import { NET_COUNTER_COUNT } from "../../devices/net/metrics.ts";
import { ControlGate } from "../wire/control_gate.ts";
import { createDoorbells, nextControl, publishControl } from "../wire/doorbell.ts";
import type { WorkerRing } from "../wire/messages.ts";
import { PartitionFilter } from "../wire/partition.ts";
import { NO_IMPAIRMENT } from "./impair.ts";
import { LinkIn, LinkOut } from "./link_ends.ts";
import { LinkRing } from "./link_ring.ts";
import { TapReader } from "./tap.ts";

const A = "02:00:00:00:00:01", B = "02:00:00:00:01:00";
const A_BYTES = [2, 0, 0, 0, 0, 1], B_BYTES = [2, 0, 0, 0, 1, 0];
/** The worker under test. */
const THREAD = 1;

/** A frame from a to b, numbered `seq` (byte 14). */
function frame(seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(B_BYTES, 0);
  f.set(A_BYTES, 6);
  f[12] = 0x08;
  f[14] = seq;
  return f;
}

function ringSpec(ring: LinkRing): WorkerRing {
  return {
    index: 0,
    buffer: ring.buffer,
    tap: TapReader.create(1 << 16).buffer,
    consumerThread: 2,
    producerThread: 0,
    impair: NO_IMPAIRMENT,
    seed: 1,
    consumerMac: B,
    label: "a-b forward",
  };
}

/**
 * The main thread and the worker's message handler: `post` posts a message as
 * `WorkerSet.postControl` does (the message, then the `CONTROL` word); `deliver` is the worker's
 * event loop handling it, then the loop's next pass reading it (`gate.read`).
 */
function controlChannel(bells: Int32Array) {
  let applied = 0;
  const inFlight: { seq: number; apply: () => void }[] = [];
  const gate = new ControlGate(bells, THREAD, () => applied);
  return {
    gate,
    post(apply: () => void): void {
      const seq = nextControl(bells, THREAD);
      inFlight.push({ seq, apply });
      publishControl(bells, THREAD, seq);
    },
    async deliver(): Promise<void> {
      for (const m of inFlight.splice(0)) {
        m.apply();
        applied = m.seq;
      }
      await gate.read();
    },
  };
}

for (
  const [layout, bad] of [["split", false], ["packed", false], ["split", true], [
    "packed",
    true,
  ]] as const
) {
  Deno.test(
    `a partition posted mid-pass cuts the first frame the guest sends after it: a NIC's TX path holds it for the next pass [${layout}${
      bad ? ", behind a chain it drops" : ""
    }]`,
    async () => {
      const mem = GuestMemory.create(8 << 20);
      const features = { eventIdx: true, indirect: false, inOrder: false };
      const queue = (base: number) => {
        const r = createQueuePair(mem, {
          layout,
          size: 8,
          descAddr: base,
          driverAddr: base + 0x1000,
          deviceAddr: base + 0x2000,
          features,
        });
        if (!r.ok) throw new Error(r.error.kind);
        return r.value;
      };
      const rx = queue(0x1000), tx = queue(0x4000);
      const device = new NetDevice({
        memory: mem,
        mac: Uint8Array.from(A_BYTES),
        mtu: 1500,
        queueMaxSize: 256,
        linkUp: true,
        ring: { packed: layout === "packed", ...features },
        mrgRxbuf: false,
        counters: new Float64Array(NET_COUNTER_COUNT),
      });
      const negotiated = device.offered;
      assert.ok(device.activate({ negotiated, queues: [rx.device, tx.device] }).ok);
      const driver = new NetDriver({
        mem,
        alloc: new PageAllocator(0x10000, (8 << 20) - 0x10000),
        rx: rx.driver,
        tx: tx.driver,
        negotiated,
      });
      const bells = createDoorbells(3);
      const control = controlChannel(bells);
      const partition = new PartitionFilter();
      const ring = LinkRing.create(16, 2048);
      const out = new LinkOut(
        ringSpec(ring),
        bells,
        "backpressure",
        partition,
        null,
        true,
        control.gate,
      );
      const peer = LinkRing.attach(ring.buffer);
      if (!peer.ok) throw new Error("attach");
      const received = () => {
        const got: number[] = [];
        for (let f = peer.value.peek(); f !== null && got.length < 16; f = peer.value.peek()) {
          got.push(f[14]);
          peer.value.release();
        }
        peer.value.finishConsume();
        return got;
      };
      const send = (seq: number) => {
        assert.ok(driver.send(frame(seq)));
        driver.flush();
      };
      // The pass is preempted right after it sent frame 1: meanwhile the main thread partitions a
      // from b, partition() returns, and a's guest sends frame 2.
      let midPass: (() => void) | null = () => {
        control.post(() => partition.set([[A, B]]));
        if (bad) {
          // A chain whose buffer is outside guest memory, published with frame 2: the pop that
          // loads the index drops it (and goes on), and frame 2 comes from the same load.
          assert.ok(tx.driver.add({ readable: [[mem.size + 4096, 64]], writable: [] }, 7).ok);
        }
        send(2);
      };
      const sink: FrameSink = {
        held: () => out.held(),
        reserve: (maxLen) => out.reserve(maxLen),
        commit: (len, meta) => {
          out.commit(len, meta);
          const hook = midPass;
          midPass = null;
          hook?.();
        },
      };
      send(1);
      device.transmit(sink, 64);
      out.flush();
      assert.deepEqual(received(), [1], "frame 2 was not forwarded under the old (empty) cuts");
      assert.equal(out.partitionDropped, 0);
      // The loop's next pass reads the message first, then takes frame 2 under the new cuts.
      await control.deliver();
      device.transmit(sink, 64);
      out.flush();
      assert.deepEqual(received(), []);
      assert.equal(out.partitionDropped, 1, "frame 2 was cut");
      // Not a stall: what comes next goes on (cut too), and every chain was completed.
      send(3);
      device.transmit(sink, 64);
      out.flush();
      assert.equal(out.partitionDropped, 2);
      device.finish();
      if (!bad) assert.equal(driver.reclaimTx(), 3);
    },
  );
}

Deno.test("a link change posted mid-pass acts on the first frame published after it: a link ring's consumer (a switch port, a NIC's RX) takes it only after reading the message", async () => {
  const bells = createDoorbells(3);
  const control = controlChannel(bells);
  const producer = LinkRing.create(16, 2048);
  const consumer = new LinkIn(ringSpec(producer), bells, control.gate);
  let up = true;
  const push = (seq: number) => {
    assert.ok(producer.push(frame(seq)));
    producer.publish();
  };
  /** One consumer pass; `midPass` runs after its first frame. The link state each frame met. */
  const pass = (midPass: () => void = () => {}) => {
    const met: string[] = [];
    for (let f = consumer.ring.peek(); f !== null; f = consumer.ring.peek()) {
      met.push(`${f[14]} ${up ? "up" : "down"}`);
      consumer.ring.release();
      if (met.length === 1) midPass();
    }
    consumer.finish();
    return met;
  };
  push(1);
  // Mid-pass, the main thread sets the link down (`setLink` returns), then the upstream producer
  // publishes frame 2: the pass must not take it while it still thinks the link is up.
  assert.deepEqual(
    pass(() => {
      control.post(() => up = false);
      push(2);
    }),
    ["1 up"],
  );
  await control.deliver();
  assert.deepEqual(pass(), ["2 down"]);
  // And up again: a frame sent after the link came up is not met by a consumer that still
  // thinks it down.
  push(3);
  assert.deepEqual(
    pass(() => {
      control.post(() => up = true);
      push(4);
    }),
    ["3 down"],
  );
  await control.deliver();
  assert.deepEqual(pass(), ["4 up"]);
});

Deno.test("frames revealed by a consumer's re-check before sleeping are taken only after the gate was asked", async () => {
  const bells = createDoorbells(3);
  const control = controlChannel(bells);
  const producer = LinkRing.create(16, 2048);
  const consumer = new LinkIn(ringSpec(producer), bells, control.gate);
  control.post(() => {});
  assert.ok(producer.push(frame(1)));
  producer.publish();
  // The re-check sees the frame (no sleep), and the pass right after it still takes nothing.
  assert.equal(consumer.prepareSleep(), false);
  assert.equal(consumer.ring.peek(), null);
  await control.deliver();
  assert.equal(consumer.ring.peek()?.[14], 1);
});
