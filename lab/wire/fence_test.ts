import assert from "node:assert/strict";
import { guestFence } from "./fence.ts";
import { createDoorbells, endGeneration, guestsInside } from "./doorbell.ts";
import { MailboxPort } from "./mailbox.ts";
import { MAILBOX_WORDS, MailboxWord } from "./control.ts";

Deno.test("a section counts itself while under way, once however nested, and none starts once its generation ended", () => {
  const bells = createDoorbells(2);
  const fence = guestFence(bells, 1, 0);
  assert.ok(fence.enter());
  assert.ok(fence.enter());
  assert.equal(guestsInside(bells, 1), 1);
  fence.exit();
  assert.equal(guestsInside(bells, 1), 1);
  // Ended while under way: the section goes on to its end, the reboot waits for it.
  endGeneration(bells, 1);
  assert.equal(guestsInside(bells, 1), 1);
  fence.exit();
  assert.equal(guestsInside(bells, 1), 0);
  assert.equal(fence.enter(), false);
  assert.equal(guestsInside(bells, 1), 0);
  assert.equal(fence.guard(() => "written", "fenced"), "fenced");
  // A throw ends its section too.
  const next = guestFence(bells, 1, 1);
  assert.throws(() =>
    next.guard(() => {
      throw new Error("bug");
    }, null)
  );
  assert.equal(guestsInside(bells, 1), 0);
});

Deno.test("a crashed guest's register accesses are not published: its successor's device worker never sees them", async () => {
  // Before, a crashed guest's rest of a task (a reset's next register write) reached the
  // mailbox, which the successor's device worker serves as the new guest's.
  const bells = createDoorbells(2);
  const mailbox = new Int32Array(new SharedArrayBuffer(MAILBOX_WORDS * 4));
  const fence = guestFence(bells, 0, 0);
  const port = new MailboxPort(mailbox, bells, 1, 50, fence);
  await port.write(0x070, 1);
  assert.equal(Atomics.load(mailbox, MailboxWord.REQ), 1);
  endGeneration(bells, 0);
  // Neither completes: the flow that asked (a reset) goes no further, and writes no ring after.
  let completed = false;
  void port.write(0x070, 0).then(() => completed = true);
  void port.read(0x000).then(() => completed = true);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(completed, false);
  assert.equal(Atomics.load(mailbox, MailboxWord.REQ), 1);
  assert.equal(guestsInside(bells, 0), 0);
});

Deno.test("a crashed guest's read asked before the crash is not answered after it: its flow goes no further", async () => {
  // Before, the reboot's move of ACK up to REQ (the dead guest's queued accesses dropped) answered
  // the dead guest's pending read with what no device wrote, and its reset or bring-up went on.
  const bells = createDoorbells(2);
  const mailbox = new Int32Array(new SharedArrayBuffer(MAILBOX_WORDS * 4));
  const fence = guestFence(bells, 0, 0);
  const port = new MailboxPort(mailbox, bells, 1, 50, fence);
  let answered = false;
  const read = port.read(0x070).then(() => answered = true, () => {});
  endGeneration(bells, 0);
  Atomics.store(mailbox, MailboxWord.ACK, Atomics.load(mailbox, MailboxWord.REQ));
  void port.write(0x070, 0); // collects the answers first
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(answered, false);
  assert.equal(port.pending, 0);
  void read;
});

Deno.test("a burst's section is counted once and ends after the run's microtasks; none starts once the generation ended", async () => {
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  assert.ok(fence.enterBurst());
  assert.ok(fence.enterBurst());
  assert.equal(guestsInside(bells, 0), 1);
  // Inside it, a loop pass's section nests.
  assert.equal(fence.guard(() => "written", null), "written");
  await Promise.resolve();
  assert.equal(guestsInside(bells, 0), 0);
  endGeneration(bells, 0);
  assert.equal(fence.enterBurst(), false);
  assert.equal(guestsInside(bells, 0), 0);
});

Deno.test("a burst's section allocates nothing per burst: a flood's frames each end it with the same function", async () => {
  // Before, each burst queued a new closure: a flood, which sends each frame apart, made one per
  // frame on its hot path.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const queued: unknown[] = [];
  const queue = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn) => {
    queued.push(fn);
    queue(fn);
  };
  try {
    for (let frame = 0; frame < 3; frame++) {
      assert.ok(fence.enterBurst());
      await null;
      assert.equal(guestsInside(bells, 0), 0);
    }
  } finally {
    globalThis.queueMicrotask = queue;
  }
  assert.equal(queued.length, 3);
  assert.equal(new Set(queued).size, 1);
});
