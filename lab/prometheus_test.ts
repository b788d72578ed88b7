/**
 * `/metrics` follows Prometheus' conventions: checked by `promtool check metrics` on a live lab
 * (Debian package `prometheus`; the test fails when promtool is missing), and unit tests of the
 * text: instances are labels, counters end in `_total`, every family has HELP and TYPE, and the
 * workers' statistics (the guest stack's drops included) come out generically.
 */

import assert from "node:assert/strict";
import { MetricFamilies, metricPart, prometheusMetrics, workerStatMetrics } from "./prometheus.ts";
import { LAB_TEST, startTestLab, waitForValue } from "./testing.ts";
import { Lab } from "./lab.ts";
import { planLab } from "./plan.ts";
import { parseTopology } from "./topology/load.ts";

/** A switch, two VMs, a NIC-side impairment (b → sw) and a switch-side one (sw → a). */
const STAR = {
  name: "prom-test",
  seed: 9,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24", layout: "packed" } } },
  },
  switches: { sw: {} },
  links: [
    { endpoints: ["a", "sw"], reverse: { loss: "30%" } },
    { endpoints: ["b", "sw"], forward: { loss: "30%", rate: "100mbit" } },
  ],
};

async function promtool(text: string): Promise<{ code: number; output: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      assert.fail(
        "promtool is not installed: apt-get install -y prometheus (it provides promtool)",
      );
    }
    throw e;
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name: "a live lab's /metrics passes promtool check metrics, instances as labels",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(STAR);
    try {
      const r = await lab.exec("b", ["ping", "10.0.0.1", "-c", "10", "-i", "0.01", "-W", "0.3"]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      // The workers publish their statistics a few times a second: wait for the impairments'.
      const text = await waitForValue("the impairment statistics", () => {
        const t = prometheusMetrics(lab);
        return /^vlab_impair_lost_total\{[^}]*switch="sw"/m.test(t) &&
            /^vlab_impair_lost_total\{[^}]*vm="b",device="eth0"/m.test(t) &&
            /^vlab_guest_stack_frames_in_total\{/m.test(t)
          ? t
          : null;
      });
      const check = await promtool(text);
      assert.equal(check.code, 0, check.output);
      assert.equal(check.output.trim(), "", `promtool found problems:\n${check.output}`);
      const names = new Set(
        text.split("\n").filter((l) => /^vlab_/.test(l)).map((l) => l.slice(0, l.indexOf("{"))),
      );
      for (const n of names) {
        const instances = ["a", "b", "sw", "eth0", "a-sw", "b-sw", "receiveq", "transmitq"];
        for (const part of n.split("_")) assert.ok(!instances.includes(part), `${part} in ${n}`);
      }
      assert.match(
        text,
        /^vlab_impair_lost_total\{lab="prom-test",link="b-sw",direction="forward",vm="b",device="eth0"\} \d+$/m,
      );
      assert.match(
        text,
        /^vlab_impair_lost_total\{lab="prom-test",link="a-sw",direction="reverse",switch="sw"\} \d+$/m,
      );
      assert.match(text, /^vlab_switch_forwarded_total\{lab="prom-test",switch="sw"\} \d+$/m);
      // A capture's own drops (a slow reader) are counted too, per link direction.
      assert.match(
        text,
        /^vlab_capture_dropped_total\{lab="prom-test",link="a-sw",direction="forward"\} 0$/m,
      );
      assert.match(text, /^# TYPE vlab_guest_stack_frames_in_total counter$/m);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test("counters end in _total and a family cannot be both a counter and a gauge", () => {
  const m = new MetricFamilies();
  assert.throws(() => m.counter("vlab_frames", "Frames", {}, 1), /must end in _total/);
  m.gauge("vlab_size", "Size", {}, 1);
  m.counter("vlab_size_total", "x", {}, 1);
  assert.throws(() => m.gauge("vlab_size_total", "x", {}, 1), /both counter and gauge/);
});

Deno.test("families render HELP, TYPE and escaped labels once, samples in order", () => {
  const m = new MetricFamilies();
  m.counter("vlab_x_total", "Things\nmore", { lab: "l", vm: 'q"\\' }, 2);
  m.gauge("vlab_y", "Level", { lab: "l" }, Number.NaN);
  m.counter("vlab_x_total", "Things\nmore", { lab: "l", vm: "z" }, 3);
  assert.equal(
    m.text(),
    [
      "# HELP vlab_x_total Things\\nmore",
      "# TYPE vlab_x_total counter",
      'vlab_x_total{lab="l",vm="q\\"\\\\"} 2',
      'vlab_x_total{lab="l",vm="z"} 3',
      "# HELP vlab_y Level",
      "# TYPE vlab_y gauge",
      'vlab_y{lab="l"} 0',
      "",
    ].join("\n"),
  );
});

Deno.test("worker statistics become metrics generically, instances as labels", () => {
  const m = new MetricFamilies();
  workerStatMetrics(m, { lab: "l" }, [
    {
      kind: "guest",
      owner: "a",
      // A counter the stack may add later (a new drop cause) needs no edit here.
      stats: { stack_frames_in: 3, stack_drops_bad_checksum: 4, stack_drops_some_new_cause: 1 },
    },
    { kind: "switch", owner: "sw1", stats: { switch_flooded: 5 } },
    {
      kind: "device",
      owner: "a",
      stats: { eth0_impair_lost: 6, eth0_other: 7, loop_wakeups_async: 8 },
    },
  ], new Set(["device\0a\0eth0_impair_lost"]));
  const text = m.text();
  assert.match(text, /^vlab_guest_stack_frames_in_total\{lab="l",vm="a"\} 3$/m);
  assert.match(text, /^vlab_guest_stack_drops_total\{lab="l",vm="a",cause="bad_checksum"\} 4$/m);
  assert.match(text, /^vlab_guest_stack_drops_total\{lab="l",vm="a",cause="some_new_cause"\} 1$/m);
  assert.match(text, /^# TYPE vlab_guest_stack_drops_total counter$/m);
  assert.match(text, /^vlab_switch_flooded_total\{lab="l",switch="sw1"\} 5$/m);
  // Consumed statistics (read per link) are skipped; the rest keep the device out of the name.
  assert.doesNotMatch(text, /eth0_impair_lost|vlab_device_eth0/);
  assert.match(
    text,
    /^vlab_worker_stat\{lab="l",worker="device",owner="a",stat="eth0_other"\} 7$/m,
  );
  // A worker loop's counts are counters, not gauges of a catch-all family.
  assert.match(
    text,
    /^vlab_worker_loop_wakeups_async_total\{lab="l",worker="device",owner="a"\} 8$/m,
  );
  assert.match(text, /^# TYPE vlab_worker_loop_wakeups_async_total counter$/m);
  assert.doesNotMatch(text, /stat="loop_/);
  assert.equal(metricPart("rxBufferWaits"), "rx_buffer_waits");
  assert.equal(metricPart("odd-Name.x"), "odd__name_x");
});

Deno.test({
  name: "every shipped topology's /metrics passes promtool, with no negative counter",
  ...LAB_TEST,
  fn: async () => {
    for (const file of ["vhost-pci.yaml", "iommu-pair.yaml", "vsock-pair.yaml"]) {
      const text = Deno.readTextFileSync(new URL(`../topologies/${file}`, import.meta.url));
      const t = parseTopology(text, file);
      assert.ok(t.ok, file);
      const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
      try {
        const metrics = prometheusMetrics(lab);
        const check = await promtool(metrics);
        assert.equal(check.code, 0, `${file}: ${check.output}`);
        assert.equal(check.output.trim(), "", `${file}: promtool found problems:\n${check.output}`);
        // A counter only counts: a word that can read -1 (the last fault's address) is a gauge.
        const types = new Map<string, string>();
        for (const m of metrics.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1], m[2]);
        for (const line of metrics.split("\n")) {
          const m = /^(vlab_[a-z0-9_]+)(?:\{[^}]*\})? (-?[\d.e+]+)$/.exec(line);
          if (m && types.get(m[1]) === "counter") {
            assert.ok(Number(m[2]) >= 0, `${file}: negative counter: ${line}`);
          }
        }
      } finally {
        await lab.stop();
      }
    }
  },
});

/** The value of the one sample of `family` whose labels include `labels`, or null. */
function sample(text: string, family: string, labels: string): number | null {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${family}{`) && line.includes(labels)) {
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return null;
}

Deno.test({
  name: "impairment counters and drops by cause never go down across a backend restart",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "prom-restart",
      seed: 1,
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"], forward: { loss: "20%" } }],
    });
    const offered = () =>
      sample(prometheusMetrics(lab), "vlab_impair_offered_total", 'vm="a",device="eth0"') ?? 0;
    const lost = () =>
      sample(prometheusMetrics(lab), "vlab_link_drops_total", 'direction="forward",cause="loss"') ??
        0;
    try {
      const ping = ["ping", "10.0.0.2", "-c", "20", "-i", "0.005", "-W", "0.2"];
      assert.ok((await lab.exec("a", ping)).ok);
      // The device worker publishes its statistics a few times a second.
      const before = await waitForValue("a's impairment statistics", () => {
        const n = offered();
        return n >= 20 && lost() > 0 ? n : null;
      });
      const lostBefore = lost();
      const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
      assert.ok(f.ok, JSON.stringify(f));
      await waitForValue(
        "backend-restarted",
        () => lab.events.recent().some((e) => e.kind === "backend-restarted") ? true : null,
      );
      assert.ok(
        (await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.005", "-W", "0.2"])).ok,
      );
      // Until the successor publishes, the predecessor's counts; then theirs plus its own.
      const after = await waitForValue("the successor's statistics", () => {
        const n = offered();
        return n !== before ? n : null;
      });
      assert.ok(after > before, `vlab_impair_offered_total went from ${before} to ${after}`);
      // The restart itself is counted (and nothing on b, which never restarted).
      const text = prometheusMetrics(lab);
      assert.equal(sample(text, "vlab_vm_backend_restarts_total", 'vm="a"'), 1);
      assert.equal(sample(text, "vlab_vm_backend_restarts_total", 'vm="b"'), 0);
      assert.equal(sample(text, "vlab_vm_device_resets_total", 'vm="a"'), 0);
      assert.ok(lost() >= lostBefore, `loss drops went from ${lostBefore} to ${lost()}`);
      // The pinging guest rang itself (each reply re-arms its next ping's timer), a part of its
      // wake-ups counted apart.
      const self = sample(text, "vlab_worker_self_rings_total", 'vm="a",worker="guest"') ?? -1;
      const all = sample(text, "vlab_worker_wakeups_total", 'vm="a",worker="guest"') ?? -1;
      assert.ok(self >= 1 && self <= all, `self-rings ${self} of ${all} wake-ups`);
    } finally {
      await lab.stop();
    }
  },
});
