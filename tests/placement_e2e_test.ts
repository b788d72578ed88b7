/**
 * CPU placement in a running lab: under a flood between two VMs, on a machine with fewer CPUs
 * than the flood's four busy threads, each VM's guest and device workers move onto one CPU of
 * their own, as the kernel itself reports (`/proc`, read by `cat`: Deno reads `/proc` only with
 * every permission); with placement off, no thread is pinned.
 */

import assert from "node:assert/strict";
import { Lab, type PlacementMode } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import { threadAffinity } from "../lab/wire/affinity.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";

/** The CPU lists of this process's lab worker threads (Deno names them `worker-N`). */
async function workerCpus(): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `cd /proc/${Deno.pid}/task && for t in *; do
      grep -q '^worker-' $t/comm && grep Cpus_allowed_list: $t/status; done`,
    ],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "")
    .map((l) => l.split(/\s+/)[1]);
}

/** Whether `cpus` shows four worker threads on single CPUs, two on each CPU of `where`. */
function placedAsSaid(cpus: string[], where: Record<string, number>): boolean {
  const single = cpus.filter((c) => /^\d+$/.test(c)).sort();
  const want = [where.a, where.a, where.b, where.b].map(String).sort();
  return single.length === 4 && single.every((c, i) => c === want[i]);
}

/**
 * Start a pair with `placement`, flood a → b, and say what was placed: with `placed`, once the
 * placement event came and the kernel shows the threads where it says (10 s at most), and after
 * a backend crash of a too with `crashMidway`; otherwise after 2 s of flood.
 */
async function flooded(placement: PlacementMode, placed: boolean, crashMidway = false) {
  const t = topologyFromObject({
    name: `placement-${placement}`,
    vms: {
      a: { nics: { eth0: { ip: "10.8.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.8.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.ok(t.ok);
  const lab = await Lab.start(planLab(t.value), { placement });
  let cpus: string[] = [];
  let shown: Record<string, number | null> = {};
  let metrics: string[] = [];
  let sink: ReturnType<Lab["exec"]> | undefined;
  let flood: ReturnType<Lab["exec"]> | undefined;
  try {
    // Longer than any wait below: the lab's stop ends both (each answers what it did).
    sink = (await lab.spawn("b", ["sink", "-t", "15"])).result;
    flood = lab.exec("a", ["udp-flood", "10.8.0.2", "--max", "-t", "15"]);
    flood.catch(() => {});
    const placedEvent = () =>
      lab.events.recent().find((e) => e.kind === "placement")?.detail as
        | Record<string, number>
        | undefined ?? null;
    if (!placed) {
      // Nothing to wait for: 2 s of flood, four placement periods, in which nothing is pinned.
      await new Promise((r) => setTimeout(r, 2000));
    } else {
      // The placement looks every 500 ms and acts once the flood's threads are busy (two
      // periods unloaded; more on a loaded machine): wait for it, not for a fixed time.
      await waitForValue("the placement event", placedEvent, 10_000);
      if (crashMidway) {
        // a's device worker exits; its replacement must take a's CPU at its first pass.
        const injected = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
        assert.ok(injected.ok, JSON.stringify(injected));
        await waitForValue(
          "a's backend restarted",
          () => lab.events.recent().find((e) => e.kind === "backend-restarted") ?? null,
        );
      }
      // Each busy thread moves at its next loop pass: wait until the kernel shows all four
      // where the event said (assertPlacedPerVm checks it again, with the details).
      const where = placedEvent()!;
      await waitForValue("the worker threads on their VMs' CPUs", async () => {
        cpus = await workerCpus();
        return placedAsSaid(cpus, where) ? true : null;
      }, 5000).catch(() => {}); // what the kernel shows is asserted below, with what it is
    }
    cpus = await workerCpus();
    shown = Object.fromEntries(takeSnapshot(lab).vms.map((v) => [v.name, v.cpu ?? null]));
    metrics = prometheusMetrics(lab).split("\n").filter((l) => l.startsWith("vlab_vm_cpu"));
  } finally {
    await lab.stop();
  }
  // Longer than any wait above, both were cut short by the lab's stop: each answered, as no whole
  // run (no-lab), with what it had done.
  for (const o of [await flood!, await sink!]) {
    assert.ok(o.ok || (o.code === "no-lab" && o.partial !== undefined), JSON.stringify(o));
  }
  return {
    cpus,
    shown,
    metrics,
    events: lab.events.recent().filter((e) => e.kind.startsWith("placement")),
  };
}

/**
 * Where the placement event put each VM, checked against the kernel's view: four worker threads
 * on single CPUs, two on each VM's CPU (the standby device workers are not placed).
 */
function assertPlacedPerVm(r: Awaited<ReturnType<typeof flooded>>): Record<string, number> {
  const placed = r.events.find((e) => e.kind === "placement");
  assert.ok(placed, `no placement event: ${JSON.stringify(r.events)}`);
  const where = placed.detail as Record<string, number>;
  assert.equal(typeof where.a, "number");
  assert.equal(typeof where.b, "number");
  assert.notEqual(where.a, where.b, "the two VMs on two CPUs");
  assert.ok(placedAsSaid(r.cpus, where), `${r.cpus.join(" ")} against ${JSON.stringify(where)}`);
  return where;
}

const affinity = threadAffinity();
const allowed = "allowed" in affinity ? affinity.allowed : [];

Deno.test({
  ...LAB_TEST,
  name: "under a flood on fewer CPUs than busy threads, each VM's two workers share one CPU",
  // Four busy threads: with four CPUs or more each has a core and nothing is pinned (below).
  ignore: allowed.length < 2 || allowed.length >= 4,
  fn: async () => {
    const r = await flooded("auto", true);
    const where = assertPlacedPerVm(r);
    assert.deepEqual(r.shown, where, "the snapshot (dashboard, status) shows the placement");
    assert.deepEqual(r.metrics, [
      `vlab_vm_cpu{lab="placement-auto",vm="a"} ${where.a}`,
      `vlab_vm_cpu{lab="placement-auto",vm="b"} ${where.b}`,
    ]);
  },
});

Deno.test({
  ...LAB_TEST,
  name: "a replacement device worker takes its VM's CPU: placement survives a backend crash",
  ignore: allowed.length < 2 || allowed.length >= 4,
  fn: async () => {
    assertPlacedPerVm(await flooded("auto", true, true));
  },
});

Deno.test({
  ...LAB_TEST,
  name: "with placement off, or CPUs enough for every busy thread, no worker is pinned",
  ignore: allowed.length < 2,
  fn: async () => {
    const { cpus, events, shown, metrics } = await flooded(
      allowed.length >= 4 ? "auto" : "off",
      false,
    );
    assert.deepEqual(shown, { a: null, b: null });
    assert.deepEqual(metrics, [], "no vlab_vm_cpu while nothing is placed");
    assert.deepEqual(events.filter((e) => e.kind === "placement"), []);
    assert.ok(cpus.length >= 4, cpus.join(" "));
    assert.ok(cpus.every((c) => !/^\d+$/.test(c)), cpus.join(" "));
  },
});
