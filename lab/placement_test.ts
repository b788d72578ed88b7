import assert from "node:assert/strict";
import { cpus } from "node:os";
import {
  BUSY,
  CpuPlacement,
  decidePlacement,
  IDLE,
  machineIdleMeter,
  RELEASE_PERIODS,
  type VmLoad,
} from "./placement.ts";
import { cpuOf, createDoorbells, DOORBELL_STRIDE, DoorbellWord, setCpu } from "./wire/doorbell.ts";
import { defaultPlacement } from "./lab.ts";

const pair: VmLoad[] = [{ vm: "a", threads: [0.5, 0.4] }, { vm: "b", threads: [0.4, 0.3] }];

Deno.test("two busy VMs on two CPUs: each VM on a CPU of its own", () => {
  const p = decidePlacement(pair, [0, 1], new Map());
  assert.notEqual(p.get("a"), null);
  assert.notEqual(p.get("b"), null);
  assert.notEqual(p.get("a"), p.get("b"));
});

Deno.test("no more busy threads than CPUs: nothing is pinned (each can have a core)", () => {
  const p = decidePlacement(pair, [0, 1, 2, 3], new Map([["a", 0], ["b", 1]]));
  assert.deepEqual([...p], [["a", null], ["b", null]]);
  // Two busy threads and two quiet ones on two CPUs: the same.
  const light = [{ vm: "a", threads: [0.9, BUSY / 2] }, { vm: "b", threads: [0.9, 0] }];
  assert.deepEqual([...decidePlacement(light, [0, 1], new Map())], [["a", null], ["b", null]]);
});

Deno.test("one CPU: nothing to choose", () => {
  assert.deepEqual([...decidePlacement(pair, [0], new Map())], [["a", null], ["b", null]]);
});

Deno.test("an idle lab keeps its placement, so the next flood starts placed", () => {
  const idle = [{ vm: "a", threads: [0, 0] }, { vm: "b", threads: [0.01, 0] }];
  const p = decidePlacement(idle, [0, 1], new Map([["a", 1], ["b", 0]]));
  assert.deepEqual([...p], [["a", 1], ["b", 0]]);
});

Deno.test("a placed VM stays on its CPU while that CPU is near an even share", () => {
  const p = decidePlacement(pair, [0, 1], new Map([["a", 1], ["b", 0]]));
  assert.equal(p.get("a"), 1);
  assert.equal(p.get("b"), 0);
});

Deno.test("four busy VMs on two CPUs: two on each, the loads balanced (busiest first)", () => {
  const loads = [
    { vm: "h1", threads: [0.9, 0.8] },
    { vm: "h2", threads: [0.3, 0.2] },
    { vm: "h3", threads: [0.6, 0.5] },
    { vm: "h4", threads: [0.5, 0.4] },
  ];
  const p = decidePlacement(loads, [2, 5], new Map());
  const on = (cpu: number) => loads.filter((l) => p.get(l.vm) === cpu).map((l) => l.vm).sort();
  // LPT: h1 (1.7) → 2, h3 (1.1) → 5, h4 (0.9) → 5, h2 (0.5) → 2.
  assert.deepEqual(on(2), ["h1", "h2"]);
  assert.deepEqual(on(5), ["h3", "h4"]);
});

Deno.test("a VM that went quiet while others are busy runs anywhere again", () => {
  const loads = [
    { vm: "a", threads: [0.6, 0.5] },
    { vm: "b", threads: [0.5, 0.5] },
    { vm: "c", threads: [IDLE / 2, 0] },
  ];
  const p = decidePlacement(loads, [0, 1], new Map([["a", 0], ["b", 1], ["c", 0]]));
  assert.equal(p.get("c"), null);
  assert.equal(p.get("a"), 0);
  assert.equal(p.get("b"), 1);
});

/** A lab's doorbells for VMs a (threads 0, 1) and b (threads 2, 3), and a way to make them work. */
function doorbells() {
  const bells = createDoorbells(4);
  const work = (thread: number, us: number) => {
    const i = thread * DOORBELL_STRIDE + DoorbellWord.CPU_TIME;
    bells[i] = (bells[i] + us) | 0;
  };
  return { bells, work };
}

/** One lab in a placement over CPUs 0 and 1, added at time 0. */
function lab() {
  const { bells, work } = doorbells();
  const changes: Map<string, number | null>[] = [];
  const placement = new CpuPlacement([0, 1]);
  placement.add({
    bells,
    vms: [{ vm: "a", threads: [0, 1] }, { vm: "b", threads: [2, 3] }],
    onChange: (p) => changes.push(new Map(p)),
  }, 0);
  return { bells, work, placement, changes };
}

Deno.test("CpuPlacement reads the threads' CPU time, places busy VMs and writes their CPU words", () => {
  const { bells, work, placement, changes } = lab(); // added at 0: its first readings
  // 500 ms: every thread used 300 ms of CPU (busy 60 %).
  for (let t = 0; t < 4; t++) work(t, 300_000);
  placement.tick(500);
  assert.equal(changes.length, 1);
  assert.notEqual(cpuOf(bells, 0), null);
  assert.equal(cpuOf(bells, 0), cpuOf(bells, 1), "a VM's two threads share a CPU");
  assert.equal(cpuOf(bells, 2), cpuOf(bells, 3));
  assert.notEqual(cpuOf(bells, 0), cpuOf(bells, 2));
});

Deno.test("CpuPlacement releases a VM only after several periods ask for it", () => {
  const { bells, work, placement, changes } = lab();
  for (let t = 0; t < 4; t++) work(t, 400_000);
  placement.tick(500);
  assert.equal(changes.length, 1);
  // From now on only a's guest is busy: one busy thread on two CPUs asks to release both.
  let now = 500;
  for (let i = 1; i < RELEASE_PERIODS; i++) {
    work(0, 500_000);
    placement.tick(now += 500);
    assert.notEqual(cpuOf(bells, 0), null, `still placed after ${i} periods`);
  }
  work(0, 500_000);
  placement.tick(now += 500);
  assert.equal(changes.length, 2);
  for (let t = 0; t < 4; t++) assert.equal(cpuOf(bells, t), null);
});

Deno.test("a replaced worker's CPU clock starting again reads as an idle period, not a busy one", () => {
  const { bells, work } = doorbells();
  for (let t = 0; t < 4; t++) work(t, 50_000_000); // 50 s of CPU each before the lab is placed
  const changes: unknown[] = [];
  const placement = new CpuPlacement([0, 1]);
  placement.add({
    bells,
    vms: [{ vm: "a", threads: [0, 1] }, { vm: "b", threads: [2, 3] }],
    onChange: (p) => changes.push(p),
  }, 0);
  // Every worker replaced: their clocks restart near 0 (a step back of about 50 s).
  for (let t = 0; t < 4; t++) bells[t * DOORBELL_STRIDE + DoorbellWord.CPU_TIME] = 1000;
  placement.tick(500);
  assert.equal(changes.length, 0, "nothing looked busy");
  for (let t = 0; t < 4; t++) assert.equal(cpuOf(bells, t), null);
});

Deno.test("CpuPlacement's load survives the CPU_TIME word wrapping around 2³²", () => {
  const { bells, work, placement } = lab();
  for (let t = 0; t < 4; t++) work(t, -1000); // just below 2³² once read unsigned
  placement.tick(250);
  for (let t = 0; t < 4; t++) work(t, 400_000);
  placement.tick(750);
  assert.notEqual(cpuOf(bells, 0), null);
  setCpu(bells, 0, null);
  assert.equal(cpuOf(bells, 0), null);
});

Deno.test("two labs in one process share the CPUs out: their busiest VMs go to different CPUs", () => {
  const placement = new CpuPlacement([0, 1]);
  const labs = [doorbells(), doorbells()];
  const names = ["x", "y"];
  labs.forEach((l, n) =>
    placement.add({
      bells: l.bells,
      vms: [{ vm: `${names[n]}1`, threads: [0, 1] }, { vm: `${names[n]}2`, threads: [2, 3] }],
    }, 0)
  );
  // In each lab VM 1's two threads are busy and VM 2 has one busy thread: six on two CPUs.
  for (const l of labs) l.work(0, 400_000), l.work(1, 400_000), l.work(2, 300_000);
  placement.tick(500);
  const cpu = (n: number, thread: number) => cpuOf(labs[n].bells, thread);
  assert.notEqual(cpu(0, 0), null);
  assert.notEqual(cpu(1, 0), null);
  assert.notEqual(cpu(0, 0), cpu(1, 0), "x1 and y1 on different CPUs");
  assert.notEqual(cpu(0, 2), cpu(1, 2), "x2 and y2 on different CPUs: two VMs a CPU");
  const removeLater = placement.add({ bells: createDoorbells(2), vms: [] });
  assert.equal(placement.labs, 3);
  removeLater();
  assert.equal(placement.labs, 2);
});

Deno.test("VLAB_PLACEMENT=off (or 0, false, no) turns placement off; anything else leaves it on", () => {
  const before = Deno.env.get("VLAB_PLACEMENT");
  try {
    for (
      const [value, mode] of [["off", "off"], ["OFF", "off"], ["0", "off"], ["no", "off"], [
        "auto",
        "auto",
      ], ["", "auto"]]
    ) {
      Deno.env.set("VLAB_PLACEMENT", value);
      assert.equal(defaultPlacement(), mode, `VLAB_PLACEMENT=${value}`);
    }
    Deno.env.delete("VLAB_PLACEMENT");
    assert.equal(defaultPlacement(), "auto");
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_PLACEMENT");
    else Deno.env.set("VLAB_PLACEMENT", before);
  }
});

Deno.test("CpuPlacement says when busy threads come to outnumber the CPUs, and when they no longer do", () => {
  const { bells, work } = doorbells();
  const heard: boolean[] = [];
  const placement = new CpuPlacement([0, 1], { onSaturated: (s) => heard.push(s) });
  placement.add({ bells, vms: [{ vm: "a", threads: [0, 1] }, { vm: "b", threads: [2, 3] }] }, 0);
  // Two busy threads on two CPUs: not saturated, nothing heard.
  work(0, 400_000);
  work(2, 400_000);
  placement.tick(500);
  assert.deepEqual(heard, []);
  // Four: saturated at once.
  for (let t = 0; t < 4; t++) work(t, 300_000);
  placement.tick(1000);
  assert.deepEqual(heard, [true]);
  assert.equal(placement.saturated, true);
  // Quiet again: heard only after RELEASE_PERIODS quiet periods in a row (a flood's gaps are
  // not an end), and a busy period in between starts the count again.
  let now = 1000;
  for (let i = 1; i < RELEASE_PERIODS; i++) placement.tick(now += 500);
  for (let t = 0; t < 4; t++) work(t, 300_000);
  placement.tick(now += 500);
  for (let i = 1; i < RELEASE_PERIODS; i++) placement.tick(now += 500);
  assert.deepEqual(heard, [true], "still saturated");
  placement.tick(now += 500);
  assert.deepEqual(heard, [true, false]);
  assert.equal(placement.saturated, false);
});

Deno.test("CpuPlacement counts the CPUs saturated when the machine had no idle time, lab busy or not", () => {
  const { bells } = doorbells();
  const heard: boolean[] = [];
  let idle: number | null = 0.9;
  const placement = new CpuPlacement([0, 1], {
    onSaturated: (s) => heard.push(s),
    idleShare: () => idle,
  });
  placement.add({ bells, vms: [{ vm: "a", threads: [0, 1] }] }, 0);
  placement.tick(500); // an idle lab on an idle machine
  assert.deepEqual(heard, []);
  idle = 0.02; // another program keeps the CPUs busy
  placement.tick(1000);
  assert.deepEqual(heard, [true]);
  idle = null; // unknown: only the lab's threads count (idle here)
  let now = 1000;
  for (let i = 0; i < RELEASE_PERIODS; i++) placement.tick(now += 500);
  assert.deepEqual(heard, [true, false]);
});

Deno.test({
  name: "machineIdleMeter reads the share of the machine's CPU time that went idle",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const idleShare = machineIdleMeter();
    assert.equal(idleShare(), null, "the first reading has nothing to compare with");
    // 40 ms busy, then 60 ms asleep: enough time for the kernel's 10 ms ticks to count.
    const until = performance.now() + 40;
    while (performance.now() < until) {
      // busy
    }
    await new Promise((r) => setTimeout(r, 60));
    const share = idleShare();
    assert.ok(share !== null, "a second reading on Linux with --allow-sys");
    // This thread kept a CPU busy for 40 of the 100 ms (the kernel counts in 10 ms ticks): of n
    // CPUs, at most about 1 − 0.4/n of the time went idle.
    const n = cpus().length;
    assert.ok(share >= 0 && share <= 1 - 0.3 / n, `share ${share} of ${n} CPUs`);
  },
});
