/**
 * Backend-crash recovery in a running lab (supervisor.ts): a device worker that dies or hangs
 * under a flood is fenced and replaced by one that restores every device, and the sink's
 * sequence numbers show that no frame the guest made available was lost or sent twice.
 */

import assert from "node:assert/strict";
import { NetCounter } from "../devices/net/metrics.ts";
import { Lab, type LabStartOptions } from "./lab.ts";
import { DeviceSupervisor, HeartbeatWatchdog, type SupervisedLab } from "./supervisor.ts";
import { beat, createDoorbells, DoorbellWord, readDoorbellWord } from "./wire/doorbell.ts";
import { planLab } from "./plan.ts";
import { vmRecovery } from "./snapshot.ts";
import { LAB_TEST, waitForValue, within } from "./testing.ts";
import { topologyFromObject } from "./topology/mod.ts";
import { parseImpairment } from "./topology/impairment.ts";
import { deviceControl } from "./wire/control.ts";
import { deviceFence } from "./wire/fence.ts";
import { EventLog } from "./events.ts";
import type { VmStart } from "./wire/messages.ts";

const PAIR = {
  name: "crash-test",
  seed: 5,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

async function startPair(options: LabStartOptions = {}): Promise<Lab> {
  const t = topologyFromObject(PAIR);
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, ...options });
}

function txFrames(lab: Lab, vm: number): number {
  const layout = lab.plan.vms[vm].control.devices[0];
  return deviceControl(lab.controlOf(vm), layout).deviceCounters[NetCounter.txFrames];
}

function count(lab: Lab, kind: string): number {
  return lab.events.recent().filter((e) => e.kind === kind).length;
}

interface SinkCounts {
  received: number;
  lost: number;
  duplicated: number;
}

/**
 * Run a 64-byte flood from a to b while `during` breaks things, then return the flood's and
 * the sink's counts.
 */
async function flood(
  lab: Lab,
  frames: number,
  rate: number,
  during: () => Promise<void>,
): Promise<{ sent: number; sink: SinkCounts }> {
  const stopSink = new AbortController();
  const udpIn = () =>
    lab.workerStats().find((w) => w.kind === "guest" && w.owner === "b")?.stats.stack_udp_in ?? 0;
  const udpBefore = udpIn();
  const sink = (await lab.spawn("b", ["sink", "-t", "0"], stopSink.signal)).result;
  const sending = lab.exec("a", [
    "udp-flood",
    "10.0.0.2",
    "-s",
    "64",
    "-n",
    String(frames),
    "-r",
    String(rate),
  ]);
  await during();
  const sent = await within(10_000, "the flood", sending);
  if (!sent.ok) assert.fail(sent.message);
  const result = sent.result as { sent: number };
  // Every frame sent has left a's transmitq: wait until b has had them all, then stop the sink.
  await waitForValue("a's frames to leave", () => txFrames(lab, 0) >= result.sent ? true : null);
  // Until b's stack has taken as many datagrams (its guest publishes a few times a second), or 5 s:
  // a lost frame is the assertions' to report, not a wait without end. (A fixed 100 ms was a
  // guess that a loaded machine could beat, and stopping the sink then cut frames in flight.)
  const until = performance.now() + 5000;
  while (udpIn() - udpBefore < result.sent && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  stopSink.abort();
  const got = await within(5000, "the sink's answer", sink);
  if (!got.ok) assert.fail(got.message);
  return { sent: result.sent, sink: got.result as SinkCounts };
}

Deno.test({
  ...LAB_TEST,
  name:
    "a backend crash (exit) under a flood: the device worker is replaced, no frame lost or sent twice",
  fn: async () => {
    const lab = await startPair();
    try {
      const r = await flood(lab, 3000, 6000, async () => {
        await waitForValue("the flood to start", () => txFrames(lab, 0) > 200 ? true : null);
        const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
        assert.ok(f.ok, JSON.stringify(f));
        await waitForValue(
          "backend-restarted",
          () => count(lab, "backend-restarted") > 0 ? true : null,
        );
      });
      assert.equal(r.sink.lost, 0, "lost");
      assert.equal(r.sink.duplicated, 0, "duplicated");
      assert.equal(r.sink.received, r.sent, "received");
      assert.equal(r.sent, 3000);
      const kinds = lab.events.recent().map((e) => e.kind);
      const at = (k: string) => kinds.indexOf(k);
      assert.ok(at("fault") < at("backend-crash") && at("backend-crash") < at("backend-restarted"));
      const restarted = lab.events.recent().find((e) => e.kind === "backend-restarted")!;
      assert.equal(typeof restarted.detail?.pauseMs, "number");
      assert.equal(lab.vmState("a"), "running");
      // Under a flood the pause ends at the replacement's first work, and its phases add up to it.
      assert.equal(restarted.detail?.resumed, true, JSON.stringify(restarted.detail));
      const p = restarted.detail?.phases as Record<string, number>;
      for (const k of ["fenceMs", "startMs", "restoreMs", "firstWorkMs", "readyMs"]) {
        assert.equal(typeof p[k], "number", `phase ${k}: ${JSON.stringify(p)}`);
      }
      const sum = p.fenceMs + p.startMs + p.restoreMs + p.firstWorkMs;
      assert.ok(Math.abs(sum - (restarted.detail?.pauseMs as number)) < 0.5, JSON.stringify(p));
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name:
    "a hung device worker is caught by the heartbeat watchdog, fenced, and never writes a ring when it wakes up late",
  fn: async () => {
    const lab = await startPair({ watchdogMs: 250, keepReplacedWorkers: true });
    // The VM's state when the watchdog's verdict comes out: `restarting` lasts only until the
    // replacement runs (often less than waitForValue's 10 ms between looks), so it is read as the
    // event is emitted, not polled.
    let stateAtCrash: string | null = null;
    const unsubscribe = lab.events.subscribe((e) => {
      if (e.kind === "backend-crash" && e.subject === "a") stateAtCrash = lab.vmState("a");
    });
    try {
      // The flood outlasts the hang: the old worker wakes up while the new one moves frames.
      const r = await flood(lab, 8000, 8000, async () => {
        await waitForValue("the flood to start", () => txFrames(lab, 0) > 200 ? true : null);
        const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 700 });
        assert.ok(f.ok, JSON.stringify(f));
        await waitForValue("the watchdog's verdict", () => stateAtCrash);
        assert.equal(stateAtCrash, "restarting");
        await waitForValue(
          "backend-restarted",
          () => count(lab, "backend-restarted") > 0 ? true : null,
        );
        // The old thread wakes up after its 700 ms and finds the fencing word moved on.
        await waitForValue("backend-fenced", () => count(lab, "backend-fenced") > 0 ? true : null);
      });
      assert.equal(r.sink.duplicated, 0, "duplicated");
      assert.equal(r.sink.lost, 0, "lost");
      assert.equal(r.sink.received, r.sent, "received");
      const crash = lab.events.recent().find((e) => e.kind === "backend-crash")!;
      assert.equal(crash.detail?.cause, "hang");
      assert.equal(lab.vmState("a"), "running");
    } finally {
      unsubscribe();
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "20 backend crashes under a flood lose and duplicate no frame (bounded crash loop)",
  fn: async () => {
    const lab = await startPair();
    try {
      // 4 s of flood: 20 crash cycles fit in it on a loaded 2-core CI machine too.
      const r = await flood(lab, 20_000, 5_000, async () => {
        for (let i = 1; i <= 20; i++) {
          const before = txFrames(lab, 0);
          await waitForValue(
            `traffic before crash ${i}`,
            () => txFrames(lab, 0) > before ? true : null,
          );
          const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
          assert.ok(f.ok, JSON.stringify(f));
          await waitForValue(
            `restart ${i}`,
            () => count(lab, "backend-restarted") >= i ? true : null,
          );
        }
      });
      assert.equal(count(lab, "backend-crash"), 20);
      assert.equal(r.sink.lost, 0, "lost");
      assert.equal(r.sink.duplicated, 0, "duplicated");
      assert.equal(r.sink.received, r.sent, "received");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name:
    "a partition in force across a backend crash cuts what a's guest queued during the restart: the successor reads it before its first pass",
  fn: async () => {
    const lab = await startPair();
    const stop = new AbortController();
    try {
      const rxB = () =>
        deviceControl(lab.controlOf(1), lab.plan.vms[1].control.devices[0])
          .deviceCounters[NetCounter.rxFrames];
      const flooding = (await lab.spawn("a", [
        "udp-flood",
        "10.0.0.2",
        "-s",
        "64",
        "-n",
        "100000",
        "-r",
        "4000",
      ], stop.signal)).result;
      await waitForValue("the flood to reach b", () => rxB() > 100 ? true : null);
      assert.ok(lab.links.partition(["a"], ["b"], true).ok);
      // What was in the rings when it returned may still arrive: wait until nothing does.
      let last = rxB();
      await waitForValue("b to hear no more of a", async () => {
        await new Promise((r) => setTimeout(r, 100));
        const now = rxB();
        const quiet = now === last;
        last = now;
        return quiet ? true : null;
      });
      const cut = rxB();
      // Three crashes: with the state sent once the successor was ready, one crash let frames
      // through in five runs of six (its first pass against the supervisor's message).
      for (let i = 1; i <= 3; i++) {
        const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
        assert.ok(f.ok, JSON.stringify(f));
        await waitForValue(`restart ${i}`, () => count(lab, "backend-ready") >= i ? true : null);
        // The guest queued frames during the restart, and goes on: the successor takes them.
        // (A frame a partition cuts counts as sent: the NIC handed it to its link.)
        const sent = txFrames(lab, 0);
        await waitForValue(
          `a's successor ${i} to take frames`,
          () => txFrames(lab, 0) > sent + 50 ? true : null,
        );
      }
      await new Promise((r) => setTimeout(r, 50)); // what it forwarded reaches b's used ring
      assert.equal(rxB() - cut, 0, "frames from a crossed the partition after the restart");
      stop.abort();
      await within(10_000, "the flood's end", flooding);
    } finally {
      stop.abort();
      await lab.stop();
    }
  },
});

Deno.test("the heartbeat watchdog rings a quiet worker and reports it hung only after the limit", () => {
  const bells = createDoorbells(2);
  const hung: number[] = [];
  const dog = new HeartbeatWatchdog(bells, { periodMs: 10, limitMs: 50 }, (t) => hung.push(t));
  dog.watch(0, 0);
  dog.watch(1, 0);
  const bell0 = readDoorbellWord(bells, 0, DoorbellWord.BELL);
  for (let now = 10; now <= 40; now += 10) {
    beat(bells, 1); // thread 1 keeps beating
    dog.check(now);
  }
  assert.deepEqual(hung, []);
  assert.ok(readDoorbellWord(bells, 0, DoorbellWord.BELL) > bell0, "the quiet thread was rung");
  beat(bells, 1);
  dog.check(50);
  assert.deepEqual(hung, [0]);
  beat(bells, 1);
  dog.check(80); // reported once
  assert.deepEqual(hung, [0]);
});

Deno.test({
  ...LAB_TEST,
  name:
    "backend crashes in the middle of a pass (after N descriptors, TX and RX side) under a flood lose and duplicate no frame",
  fn: async () => {
    const lab = await startPair();
    try {
      // a crashes while sending (frames committed to the link, not published), b while
      // receiving (frames written into RX buffers, the used ring and the link not published).
      const plan: [string, number][] = [["a", 1], ["b", 3], ["a", 17], ["b", 40], ["a", 5]];
      // A capture of the link sees each frame once: b stages its records with the pass.
      const records: Uint8Array[] = [];
      const stopCapture = lab.capture(lab.plan.links[0].name, (rec) => records.push(rec.slice()));
      const r = await flood(lab, 8_000, 4_000, async () => {
        for (let i = 1; i <= plan.length; i++) {
          const [vm, after] = plan[i - 1];
          const before = txFrames(lab, 0);
          await waitForValue(`traffic before crash ${i}`, () => txFrames(lab, 0) > before || null);
          const f = await lab.fault({ kind: "backend-crash", vm, mode: "mid-pass", after });
          assert.ok(f.ok, JSON.stringify(f));
          await waitForValue(`restart ${i}`, () => count(lab, "backend-restarted") >= i || null);
        }
      });
      const crashes = lab.events.recent().filter((e) => e.kind === "backend-crash");
      assert.deepEqual(crashes.map((e) => e.subject), plan.map(([vm]) => vm));
      for (const c of crashes) assert.match(String(c.detail?.message), /mid-pass/);
      assert.equal(r.sink.lost, 0, "lost");
      assert.equal(r.sink.duplicated, 0, "duplicated");
      assert.equal(r.sink.received, r.sent, "received");
      // A pass that threw ended its section: no restart waited for the crashed worker's.
      assert.equal(count(lab, "fence-timeout"), 0, "fence-timeout");
      // The counters say the same: a frame written into an RX buffer by a worker that died
      // before publishing it is counted once, when its successor delivers it.
      const rx = deviceControl(lab.controlOf(1), lab.plan.vms[1].control.devices[0])
        .deviceCounters[NetCounter.rxFrames];
      assert.equal(rx, txFrames(lab, 0), "b's rxFrames against a's txFrames");
      // And the link's: a frame taken from the link ring by a worker that died before it
      // published the ring's tail is taken again by its successor, and counted once.
      const out = lab.ring(lab.plan.links[0].forwardRing).counters().framesOut;
      assert.equal(out, txFrames(lab, 0), "the link's frames out against a's txFrames");
      await new Promise((done) => setTimeout(done, 300)); // the capture's last drain
      stopCapture();
      const seen = new Set<string>();
      let captured = 0;
      for (const rec of records) {
        const dv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
        for (let at = 0; at + 16 <= rec.length;) {
          const incl = dv.getUint32(at + 8, true);
          seen.add(Array.from(rec.subarray(at + 16, at + 16 + incl)).join(","));
          captured++;
          at += 16 + incl;
        }
      }
      assert.ok(captured > 1000, `${captured} frames captured`);
      assert.equal(captured - seen.size, 0, "frames captured twice");
    } finally {
      await lab.stop();
    }
  },
});

/**
 * A lab around a supervisor that records what it spawns and posts; each spawn resolves (the
 * worker is ready) when the test says so. a's link is down and a partition is in force.
 */
function recordingLab(): { parts: SupervisedLab; log: string[]; ready: () => void } {
  const t = topologyFromObject(PAIR);
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  const plan = planLab(t.value);
  const log: string[] = [];
  const waiting: (() => void)[] = [];
  const parts: SupervisedLab = {
    plan,
    events: new EventLog(null),
    bells: createDoorbells(plan.threads.length),
    controls: plan.vms.map((vm) => new SharedArrayBuffer(vm.controlBytes)),
    stopped: () => false,
    spawn: (vm, start) => {
      log.push(`spawn ${vm}${start.restore ? " restore" : ""}`);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    take: () => undefined,
    post: (vm, m) => log.push(`post ${vm} ${m.type}${m.type === "link" ? ` up=${m.up}` : ""}`),
    linkUp: () => false,
    cuts: () => [["02:00:00:00:00:01", "02:00:00:00:00:02"]],
    vsockCuts: () => [],
    ringImpairment: () => {
      throw new Error("the start messages here have no rings");
    },
  };
  return { parts, log, ready: () => waiting.shift()?.() };
}

Deno.test("a replaced device worker is sent the links down and the partitions right after its start message, before it is ready", async () => {
  const { parts, log, ready } = recordingLab();
  const sup = new DeviceSupervisor(parts);
  const start = { type: "start", vm: "a", rings: [] } as unknown as VmStart;
  sup.setStart("a", start);
  try {
    // A backend crash: numbered right after the start message, they wait in the successor and
    // its first pass reads them before it takes a frame (sent once it was ready, they came after
    // that pass, which forwarded what the guest queued meanwhile under no partition).
    sup.replace("a", "exit", "backend crash injected (exit)");
    assert.deepEqual(log, ["spawn a restore", "post a link up=false", "post a partitions"]);
    ready();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(log.length, 3, `sent again once ready: ${log.slice(3)}`);
    // A vm-crash's power cycle: the same.
    log.length = 0;
    const cycled = sup.powerCycle("a", () => Promise.resolve());
    for (let i = 0; i < 100 && log.length === 0; i++) await null;
    assert.deepEqual(log, ["spawn a", "post a link up=false", "post a partitions"]);
    ready();
    await cycled;
    assert.equal(log.length, 3, `sent again once ready: ${log.slice(3)}`);
  } finally {
    sup.stop();
  }
});

Deno.test("a device worker replaced mid-pass: its successor starts once the pass is over, and the rest of its task writes no ring", async () => {
  // Before, the successor was spawned in the same task as the fence: an old worker descheduled
  // mid-pass (it had checked its epoch at the pass's start) resumed afterwards and finished its
  // pass (used elements, the used index) in rings its successor had taken.
  const { parts, log } = recordingLab();
  const a = parts.plan.vms.find((v) => v.name === "a")!;
  const sup = new DeviceSupervisor(parts);
  sup.setStart("a", { type: "start", vm: "a", rings: [], epoch: 0 } as unknown as VmStart);
  // A ring word of a's guest memory: its RX used index, say.
  const usedIdx = new Uint16Array(new SharedArrayBuffer(2));
  usedIdx[0] = 7;
  let startedAt: number | null = null;
  const spawn = parts.spawn;
  parts.spawn = (vm, start) => {
    startedAt = performance.now();
    usedIdx[0] = 0; // the successor's restore takes the ring over
    return spawn(vm, start);
  };
  // The old worker is mid-pass (a section under way) when its thread loses its CPU.
  const old = deviceFence(parts.controls[a.index], a.control, 0);
  assert.ok(old.enter());
  let held = true;
  try {
    sup.replace("a", "hang", "its heartbeat stopped");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(startedAt, null, "the successor started while the old worker was mid-pass");
    assert.deepEqual(log, []);
    // The old worker gets its CPU back: the rest of its pass, then its next pass, which sees the
    // epoch moved on.
    usedIdx[0] = 8;
    old.exit();
    held = false;
    const resumedAt = performance.now();
    assert.equal(old.guard(() => usedIdx[0] = 9, null), null);
    await waitForValue("the successor's start", () => startedAt, 2000);
    assert.ok(startedAt! >= resumedAt);
    assert.equal(usedIdx[0], 0, "nothing of the old worker's came after its successor's start");
    assert.deepEqual(log.slice(0, 1), ["spawn a restore"]);
    // The successor's sections run, the old worker's never again.
    const fresh = deviceFence(parts.controls[a.index], a.control, 1);
    assert.equal(fresh.guard(() => "written", null), "written");
    assert.equal(parts.events.count("fence-timeout", "a"), 0);
  } finally {
    if (held) old.exit();
    sup.stop();
  }
});

Deno.test("a device worker stuck inside a section holds its successor back only to the bound, and an event says so", async () => {
  const { parts, log } = recordingLab();
  const a = parts.plan.vms.find((v) => v.name === "a")!;
  const sup = new DeviceSupervisor(parts);
  sup.oldWorkerWaitMs = 30;
  sup.setStart("a", { type: "start", vm: "a", rings: [] } as unknown as VmStart);
  const old = deviceFence(parts.controls[a.index], a.control, 0);
  assert.ok(old.enter()); // never ends
  try {
    const cycled = sup.powerCycle("a", () => Promise.resolve());
    sup.replace("a", "exit", "ignored: the power cycle restarts it");
    await waitForValue("the successor's spawn", () => log.length > 0 || null, 2000);
    assert.deepEqual(log.slice(0, 1), ["spawn a"]);
    const timeouts = parts.events.recent().filter((e) => e.kind === "fence-timeout");
    assert.equal(timeouts.length, 1);
    assert.equal(timeouts[0].subject, "a");
    assert.equal(timeouts[0].detail?.worker, "device");
    assert.equal(timeouts[0].detail?.epoch, 0);
    assert.equal(timeouts[0].detail?.inside, 1);
    assert.ok(Number(timeouts[0].detail?.waitedMs) >= 30);
    void cycled;
  } finally {
    old.exit();
    sup.stop();
  }
});

Deno.test("a device worker replaced mid-pass is terminated when the lab stops or a power cycle takes over before its pass ends", async () => {
  // Before, only the successor's launch terminated it: the lab's stop, or a vm-crash's power
  // cycle, during the wait for its pass left it running, out of the lab's set (a worker stuck
  // in its pass then spun for good and held the process).
  for (const by of ["stop", "power cycle"] as const) {
    const { parts, log } = recordingLab();
    const a = parts.plan.vms.find((v) => v.name === "a")!;
    let stopped = false;
    parts.stopped = () => stopped;
    let terminated = 0;
    const worker = { terminate: () => terminated++ } as unknown as Worker;
    let held: Worker | undefined = worker;
    parts.take = () => {
      const w = held;
      held = undefined;
      return w;
    };
    const sup = new DeviceSupervisor(parts);
    sup.oldWorkerWaitMs = 30;
    sup.setStart("a", { type: "start", vm: "a", rings: [] } as unknown as VmStart);
    const old = deviceFence(parts.controls[a.index], a.control, 0);
    assert.ok(old.enter());
    try {
      sup.replace("a", "hang", "its heartbeat stopped");
      assert.equal(terminated, 0, "terminated before its pass ended");
      if (by === "stop") stopped = true;
      else void sup.powerCycle("a", () => Promise.resolve());
      await waitForValue(`the end of the old worker (${by})`, () => terminated || null, 2000);
      assert.equal(terminated, 1);
      assert.ok(!log.includes("spawn a restore"), "the replacement started anyway");
    } finally {
      old.exit();
      sup.stop();
    }
  }
});

Deno.test("a VM is resetting from device-needs-reset until its queues are live, not its first frame", () => {
  const sup = new DeviceSupervisor({} as SupervisedLab); // noteEvent and state use no lab part
  assert.equal(sup.state("a"), null);
  sup.noteEvent("a", "device-needs-reset");
  assert.equal(sup.state("a"), "resetting");
  sup.noteEvent("a", "device-queues-live");
  assert.equal(sup.state("a"), null, "faults are taken again once the queues are live");
  sup.noteEvent("a", "device-reset"); // logged later, at the first frame: changes nothing
  assert.equal(sup.state("a"), null);
  sup.noteEvent("a", "device-needs-reset");
  sup.noteEvent("a", "device-reset-failed");
  assert.equal(sup.state("a"), null);
});

Deno.test({
  ...LAB_TEST,
  name:
    "a live impairment outlives a backend restart on either side (the replacement starts with it)",
  fn: async () => {
    const lab = await startPair();
    try {
      const link = lab.plan.links[0].name;
      const impair = parseImpairment({ delay: "25ms" });
      assert.ok(impair.ok);
      assert.ok(lab.links.setImpairment(link, impair.value, "both"));
      const rtt = async () => {
        const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.05"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
        return (r.result as { rttMs: { median: number } }).rttMs.median;
      };
      assert.ok(await rtt() >= 50, "25 ms each way before any crash");
      let restarts = 0;
      for (const vm of ["a", "b"]) {
        const f = await lab.fault({ kind: "backend-crash", vm, mode: "exit" });
        assert.ok(f.ok, JSON.stringify(f));
        restarts++;
        await waitForValue(
          `${vm}'s backend restarted`,
          () => count(lab, "backend-restarted") >= restarts ? true : null,
          20_000,
        );
        // a's device sends into the forward ring, b's into the reverse one: each replacement
        // must delay what it sends, as its predecessor did.
        const median = await rtt();
        assert.ok(median >= 50, `after ${vm}'s restart the ping took ${median} ms, not 50 or more`);
      }
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "a VM running again after a backend restart shows the restart counted (backend-ready)",
  fn: async () => {
    const lab = await startPair();
    try {
      assert.equal(vmRecovery(lab, "a").backendRestarts, 0);
      const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
      assert.ok(f.ok, JSON.stringify(f));
      // The first time the VM reads as running again after the crash (polled every 10 ms; an
      // idle VM's backend-restarted comes a quarter second after it runs again).
      const seen = await waitForValue(
        "a running again",
        () =>
          count(lab, "backend-crash") > 0 && lab.vmState("a") === "running"
            ? { restarts: vmRecovery(lab, "a").backendRestarts }
            : null,
      );
      assert.deepEqual(seen, { restarts: 1 });
      const ready = lab.events.recent().find((e) => e.kind === "backend-ready")!;
      assert.equal(ready.subject, "a");
      assert.equal(ready.detail?.cause, "exit");
      assert.equal(typeof ready.detail?.downMs, "number");
      // The report with the pause still comes, and the count stays one restart.
      await waitForValue("backend-restarted", () => count(lab, "backend-restarted") > 0 || null);
      assert.equal(vmRecovery(lab, "a").backendRestarts, 1);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "a mid-pass crash armed on an idle VM is not replaced, silently, by another crash",
  fn: async () => {
    const lab = await startPair();
    try {
      const armed = await lab.fault({ kind: "backend-crash", vm: "b", mode: "mid-pass", after: 5 });
      assert.ok(armed.ok, JSON.stringify(armed));
      for (const mode of ["mid-pass", "exit"] as const) {
        const r = await lab.fault({ kind: "backend-crash", vm: "b", mode });
        assert.ok(!r.ok, `${mode} answered injected`);
        assert.equal(r.code, "backend-crash-armed");
      }
      // Traffic to b brings the armed crash; then b's new worker takes a crash again.
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "6", "-i", "0.05"]);
      assert.ok(ping.ok, ping.ok ? "" : ping.message);
      await waitForValue("b's mid-pass crash", () => count(lab, "backend-restarted") >= 1 || null);
      const again = await lab.fault({ kind: "backend-crash", vm: "b", mode: "exit" });
      assert.ok(again.ok, JSON.stringify(again));
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "a restart logged as not resumed (an idle VM) is not followed by a late backend-resumed",
  fn: async () => {
    const lab = await startPair();
    try {
      const r = await lab.fault({ kind: "backend-crash", vm: "b", mode: "exit" });
      assert.ok(r.ok, JSON.stringify(r));
      const restarted = await waitForValue(
        "b's backend-restarted",
        () => lab.events.recent().find((e) => e.kind === "backend-restarted") ?? null,
      );
      assert.equal(restarted.detail?.resumed, false, "nothing moved within 250 ms");
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(ping.ok, ping.ok ? "" : ping.message);
      assert.deepEqual(
        lab.events.recent().filter((e) => e.kind === "backend-resumed").map((e) => e.subject),
        [],
        "no backend-resumed after its restart was logged",
      );
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name:
    "a mid-pass crash of a receiver that completes checksums (no GUEST_CSUM) delivers the frames again with good checksums",
  fn: async () => {
    // a offloads its checksums (csum); b's driver takes none (no guest_csum): b's device
    // completes each one, in the frame it reads from the link ring.
    const t = topologyFromObject({
      ...PAIR,
      vms: { ...PAIR.vms, b: { nics: { eth0: { ip: "10.0.0.2/24", features: [] } } } },
    });
    if (!t.ok) throw new Error(JSON.stringify(t.error));
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    try {
      const r = await flood(lab, 3000, 6000, async () => {
        await waitForValue("the flood to start", () => txFrames(lab, 0) > 200 ? true : null);
        const f = await lab.fault({ kind: "backend-crash", vm: "b", mode: "mid-pass", after: 5 });
        assert.ok(f.ok, JSON.stringify(f));
        await waitForValue("b's restart", () => count(lab, "backend-restarted") > 0 || null);
      });
      assert.equal(r.sink.lost, 0, "lost");
      assert.equal(r.sink.received, r.sent, "received");
    } finally {
      await lab.stop();
    }
  },
});
