import assert from "node:assert/strict";
import { labMetricFamilies } from "./metric_names.ts";
import { loadTopologyFile, resolveTopologyPath, shippedTopologies } from "../topology/files.ts";
import { topologyFromObject } from "../topology/load.ts";
import type { Topology } from "../topology/types.ts";
import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { prometheusMetrics } from "../prometheus.ts";
import { inStateDir, LAB_TEST, waitForValue } from "../testing.ts";
import { formatDrillIssues, parseDrill } from "./load.ts";

/** Each sample of a Prometheus text: its name and labels. */
function samples(text: string): { name: string; labels: [string, string][] }[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+$/.exec(line)!;
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((l) => [l[1], l[2].replace(/\\(.)/g, "$1")] as [string, string]);
    return { name: m[1], labels };
  });
}

/** What of a running lab's metrics the catalogue of its topology does not have. */
function missing(topology: Topology, text: string): string[] {
  const families = labMetricFamilies(topology)!;
  const out = new Set<string>();
  for (const s of samples(text)) {
    const f = families.get(s.name);
    if (f === undefined) {
      out.add(s.name);
      continue;
    }
    for (const [k, v] of s.labels) {
      const values = f.labels.get(k);
      if (values === undefined) out.add(`${s.name}{${k}}`);
      else if (values !== null && !values.includes(v)) out.add(`${s.name}{${k}="${v}"}`);
    }
  }
  return [...out];
}

const ROUTER = {
  name: "routed",
  vms: {
    a: { vsock: { cid: 3 }, nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { vsock: { cid: 4 } },
    c: { vsock: { cid: 5 } },
  },
  vsock_routers: { r1: {} },
  links: [
    { kind: "vsock", endpoints: ["a", "r1"] },
    { kind: "vsock", endpoints: ["b", "r1"] },
    { kind: "vsock", endpoints: ["c", "r1"] },
  ],
};

// Impairment stages on a NIC's and on a switch port's direction.
const IMPAIRED = {
  name: "impaired",
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  switches: { s1: {} },
  links: [
    { endpoints: ["a:eth0", "s1"], delay: "1ms", loss: "1%" },
    { endpoints: ["b:eth0", "s1"], reverse: { delay: "1ms" } },
  ],
};

Deno.test({
  name: "every metric a running lab of each shipped topology exports is one its drills may name",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-metric-names-", async () => {
      const topologies: Topology[] = [];
      for (const name of shippedTopologies()) {
        const t = await loadTopologyFile(resolveTopologyPath(name));
        assert.ok(t.ok, name);
        topologies.push(t.value);
      }
      for (const object of [ROUTER, IMPAIRED]) {
        const t = topologyFromObject(object);
        assert.ok(t.ok, JSON.stringify(t.ok ? "" : t.error));
        topologies.push(t.value);
      }
      const found: Record<string, string[]> = {};
      // Three labs at a time: each mostly waits for its workers to start and stop.
      const queue = [...topologies];
      const check = async (t: Topology) => {
        const lab = await Lab.start(planLab(t), { readyTimeoutMs: 20_000 });
        try {
          // The workers publish their statistics a few times a second: wait for the guest
          // stack's and the loops' to be in.
          const text = await waitForValue(`${t.name}'s workers' statistics`, () => {
            const m = prometheusMetrics(lab);
            const impaired = t.name !== "impaired" || m.includes("vlab_impair_");
            return m.includes("vlab_guest_stack_") && m.includes("vlab_worker_loop_") && impaired
              ? m
              : null;
          }, 20_000);
          const lacks = missing(t, text);
          if (lacks.length > 0) found[t.name] = lacks;
        } finally {
          await lab.stop();
        }
      };
      await Promise.all([1, 2, 3].map(async () => {
        for (let t = queue.shift(); t !== undefined; t = queue.shift()) await check(t);
      }));
      assert.deepEqual(found, {});
    }),
});

Deno.test("a lab's metric families name its own VMs, links and devices, and no kind it lacks", () => {
  const t = topologyFromObject({
    name: "p",
    vms: { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } } },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.ok(t.ok);
  const f = labMetricFamilies(t.value)!;
  assert.deepEqual(f.get("vlab_link_up")?.labels.get("link"), ["a-b"]);
  assert.deepEqual(f.get("vlab_net_device_tx_frames_total")?.labels.get("vm"), ["a", "b"]);
  assert.ok(f.get("vlab_link_drops_total")?.labels.get("cause")?.includes("loss"));
  assert.equal(f.has("vlab_vsock_connections"), false);
  assert.equal(f.has("vlab_iommu_faults_total"), false);
  assert.equal(f.has("vlab_switch_forwarded_total"), false);
});

Deno.test("a metric() name, label or value the drill's lab cannot have is refused at validation, with a did-you-mean", async () => {
  // Before, each passed validation and was an ERROR after the whole run.
  const r = await parseDrill(
    `topology: pair
timeline:
  - wait: 10ms
assert:
  - metric('vlab_link_drop_total{link="a-b",cause="loss"}') == 0
  - metric('vlab_link_drops_total{link="a-c",cause="loss"}') == 0
  - metric('vlab_link_drops_total{lnk="a-b"}') == 0
  - metric('vlab_vsock_connections') == 0
  - metric('vlab_link_up{link="a-b"}') + metric('vlab_net_device_tx_frames_total{vm="a"}') > 0
`,
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column}: ${i.message} | ${i.hint}`), [
    '5:12: The lab has no metric "vlab_link_drop_total" (assert[0], column 8 of the assertion) | ' +
    "did you mean `vlab_link_drops_total`?",
    '6:12: No sample of vlab_link_drops_total can have link="a-c" (assert[1], column 8 of the ' +
    "assertion) | did you mean `a-b`?",
    '7:12: Metric vlab_link_drops_total has no label "lnk" (assert[2], column 8 of the ' +
    "assertion) | did you mean `link`?",
    '8:12: The lab has no metric "vlab_vsock_connections" (assert[3], column 8 of the ' +
    "assertion) | its topology has no vsock device: such metrics are a lab's that has one",
  ]);
  // The shipped drills' selectors, and the same names on a topology that has them, pass.
  const ok = await parseDrill(
    "topology: vsock-pair\ntimeline: [{ wait: 10ms }]\n" +
      'assert: ["metric(\'vlab_vsock_connections{vm=\\"a\\"}\') >= 0"]\n',
    "d.yaml",
  );
  assert.ok(ok.ok, ok.ok ? "" : formatDrillIssues(ok.error));
});
