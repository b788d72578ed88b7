import assert from "node:assert/strict";
import { Feature } from "./constants.ts";
import { featureSet } from "./features.ts";
import {
  kickQueue,
  layoutOf,
  MmioReg,
  notifyCount,
  QUEUE_RECORD_WORDS,
  QueueWord,
  queueWord,
  REG_FILE_HEADER_WORDS,
  RegFileWord,
  regFileWords,
  ringFeaturesOf,
} from "./mmio.ts";

Deno.test("register offsets follow the MMIO register table (virtio 4.2.2)", () => {
  assert.equal(MmioReg.QUEUE_READY, 0x044);
  assert.equal(MmioReg.STATUS, 0x070);
  assert.equal(MmioReg.QUEUE_DEVICE_HIGH, 0x0a4);
  assert.equal(MmioReg.CONFIG_GENERATION, 0x0fc);
  assert.equal(MmioReg.CONFIG, 0x100);
  const offsets = Object.values(MmioReg);
  assert.equal(new Set(offsets).size, offsets.length, "no two registers share an offset");
  assert.ok(offsets.every((o) => o % 4 === 0));
});

Deno.test("queue records follow the header without overlapping", () => {
  assert.equal(regFileWords(0), REG_FILE_HEADER_WORDS);
  assert.equal(regFileWords(3), REG_FILE_HEADER_WORDS + 3 * QUEUE_RECORD_WORDS);
  assert.ok(Math.max(...Object.values(RegFileWord)) < REG_FILE_HEADER_WORDS);
  assert.ok(Math.max(...Object.values(QueueWord)) < QUEUE_RECORD_WORDS);
  assert.equal(queueWord(0, QueueWord.SIZE), REG_FILE_HEADER_WORDS);
  assert.equal(queueWord(1, QueueWord.SIZE), queueWord(0, QueueWord.SIZE) + QUEUE_RECORD_WORDS);
  assert.ok(queueWord(2, QueueWord.NOTIFY_COUNT) < regFileWords(3));
  assert.throws(() => regFileWords(-1), RangeError);
});

Deno.test("kickQueue counts kicks per queue in the register file", () => {
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  assert.equal(kickQueue(regs, 1), 1);
  assert.equal(kickQueue(regs, 1), 2);
  assert.equal(notifyCount(regs, 1), 2);
  assert.equal(notifyCount(regs, 0), 0);
});

Deno.test("the negotiated features choose the layout and the ring features", () => {
  assert.equal(layoutOf(featureSet([Feature.VERSION_1])), "split");
  assert.equal(layoutOf(featureSet([Feature.VERSION_1, Feature.RING_PACKED])), "packed");
  assert.deepEqual(ringFeaturesOf(featureSet([Feature.EVENT_IDX, Feature.IN_ORDER])), {
    eventIdx: true,
    indirect: false,
    inOrder: true,
  });
  assert.deepEqual(ringFeaturesOf(featureSet([Feature.INDIRECT_DESC])), {
    eventIdx: false,
    indirect: true,
    inOrder: false,
  });
});
