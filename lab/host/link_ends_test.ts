/**
 * The producer end of a link direction without workers: the stage is bypassed until the
 * direction is impaired and again once the impairment is off and the stage empty; a live change
 * keeps held frames; a partition stops a frame before it reaches the ring and counts it.
 */

import assert from "node:assert/strict";
import { createDoorbells } from "../wire/doorbell.ts";
import type { WorkerRing } from "../wire/messages.ts";
import { NO_IMPAIRMENT } from "./impair.ts";
import { LinkOut } from "./link_ends.ts";
import { LinkRing } from "./link_ring.ts";
import { PartitionFilter } from "../wire/partition.ts";

const A = [2, 0, 0, 0, 0, 1], B = [2, 0, 0, 0, 1, 0];

function setup(partition: PartitionFilter | null = null, reorderOnChange = false) {
  const ring = LinkRing.create(16, 256);
  const spec: WorkerRing = {
    index: 3,
    buffer: ring.buffer,
    tap: new SharedArrayBuffer(0),
    consumerThread: 1,
    producerThread: 0,
    impair: NO_IMPAIRMENT,
    seed: 1,
    consumerMac: "02:00:00:00:01:00",
    label: "a-b forward",
  };
  const out = new LinkOut(
    spec,
    createDoorbells(2),
    "backpressure",
    partition,
    null,
    reorderOnChange,
  );
  const rx = LinkRing.attach(ring.buffer);
  if (!rx.ok) throw new Error("attach");
  const send = (dst: number[], seq: number) => {
    const slot = out.reserve(60)!;
    slot.fill(0);
    slot.set(dst, 0);
    slot.set(A, 6);
    slot[12] = seq;
    out.commit(60);
    out.flush();
  };
  const received = () => {
    const got: number[] = [];
    for (let f = rx.value.peek(); f !== null && got.length < 16; f = rx.value.peek()) {
      got.push(f[12]);
      rx.value.release();
    }
    rx.value.finishConsume();
    return got;
  };
  return { out, send, received };
}

Deno.test("no stage until the direction is impaired; it is bypassed again once off and empty", () => {
  const { out, send, received } = setup();
  assert.equal(out.stage, null);
  send(B, 1);
  assert.deepEqual(received(), [1]);
  out.setImpairment({ ...NO_IMPAIRMENT, delayUs: 60_000_000 });
  assert.notEqual(out.stage, null);
  send(B, 2);
  assert.deepEqual(received(), [], "held by the delay");
  out.setImpairment(NO_IMPAIRMENT);
  send(B, 3);
  assert.deepEqual(
    received(),
    [],
    "in order (a stream's link): a frame sent after the clear waits",
  );
  assert.equal(out.stage!.held, 2);
  assert.ok(out.nextDueMs() > 50_000, "the held frame keeps its due time");
});

Deno.test("an Ethernet link's clear lets new frames pass the held ones, which keep their due times", () => {
  const { out, send, received } = setup(null, true);
  out.setImpairment({ ...NO_IMPAIRMENT, rateBps: 1000 }); // 1kbit: a 60-byte frame every 480 ms
  for (let seq = 1; seq <= 3; seq++) send(B, seq);
  assert.deepEqual(received(), [], "held by the rate");
  assert.ok(out.nextDueMs() > 400, "the first is due after its serialisation time");
  out.setImpairment(NO_IMPAIRMENT);
  send(B, 4);
  assert.deepEqual(
    received(),
    [4],
    "netem's queue is ordered by due time: the new frame leaves now",
  );
  assert.equal(out.stage!.held, 3, "the held frames still leave at their due times");
  assert.ok(out.nextDueMs() > 400 && out.nextDueMs() < 1440);
  assert.equal(out.stage!.counters.offered, 3, "the new frame bypassed the stage");
});

Deno.test("a cleared stage that has drained is bypassed: frames go straight into the ring", () => {
  const { out, send, received } = setup();
  out.setImpairment({ ...NO_IMPAIRMENT, lossPct: 100 });
  send(B, 1);
  assert.deepEqual(received(), []);
  assert.equal(out.stage!.counters.lost, 1);
  out.setImpairment(NO_IMPAIRMENT);
  send(B, 2);
  assert.deepEqual(received(), [2]);
  assert.equal(out.stage!.counters.offered, 1, "the second frame bypassed the stage");
});

Deno.test("a partition stops a frame at the producer and counts it, with or without a stage", () => {
  const filter = new PartitionFilter();
  const { out, send, received } = setup(filter);
  filter.set([["02:00:00:00:00:01", "02:00:00:00:01:00"]]);
  send(B, 1);
  send([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 2); // broadcast into b's NIC: cut too
  send([2, 0, 0, 0, 2, 0], 3); // unicast to another MAC, into b's ring: cut (b consumes it)
  assert.deepEqual(received(), []);
  assert.equal(out.partitionDropped, 3);
  out.setImpairment({ ...NO_IMPAIRMENT, duplicatePct: 100 });
  send(B, 4);
  assert.equal(out.partitionDropped, 4);
  filter.set([]);
  send(B, 5);
  assert.deepEqual(received(), [5, 5]);
});

Deno.test(
  "a link going down drops what the stage holds, counted as link down; frames committed " +
    "while down are dropped too; up again, frames go through",
  () => {
    const { out, send, received } = setup();
    out.setImpairment({ ...NO_IMPAIRMENT, delayUs: 60_000_000 });
    send(B, 1);
    send(B, 2);
    assert.equal(out.stage!.held, 2);
    out.setLinkUp(false);
    assert.equal(out.up, false);
    assert.equal(out.stage!.held, 0);
    assert.equal(out.linkDownDropped, 2);
    assert.equal(out.nextDueMs(), Infinity, "nothing to wake up for");
    assert.ok(out.hasRoom(100), "a frame offered while down is dropped, never waited for");
    send(B, 3);
    assert.equal(out.linkDownDropped, 3);
    assert.equal(out.stage!.counters.offered, 2, "a frame sent while down never reaches the stage");
    out.setLinkUp(true);
    out.setImpairment(NO_IMPAIRMENT);
    send(B, 4);
    assert.deepEqual(received(), [4], "only the frame sent once up");
    assert.equal(out.linkDownDropped, 3);
  },
);

Deno.test("a down link without a stage drops what is committed, counted; the ring gets nothing", () => {
  const { out, send, received } = setup();
  out.setLinkUp(false);
  send(B, 1);
  assert.deepEqual(received(), []);
  assert.equal(out.ring.counters().framesIn, 0);
  assert.equal(out.linkDownDropped, 1);
  out.setLinkUp(true);
  send(B, 2);
  assert.deepEqual(received(), [2]);
  assert.equal(out.stage, null, "no stage was made for the link state");
});
