import assert from "node:assert/strict";
import { parseTopology } from "./load.ts";
import { topologyWarnings } from "./warnings.ts";
import { formatPlan, planLab } from "../plan.ts";
import { vhostPciWindow } from "../plan_vhost_pci.ts";

const BASE = `name: x
vms:
  a:
    iommu: { mode: static }
    nics:
      eth0: { ip: 10.0.0.1/24, iommu: true }
  b:
    nics:
      eth0: { ip: 10.0.0.2/24 }
`;

function issues(yaml: string) {
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok, "the file is refused");
  return r.error;
}

Deno.test("a vhost-pci link to a switch is refused at that endpoint, with line, column and a hint", () => {
  const [i] = issues(
    BASE + "switches: { s: {} }\nlinks:\n  - kind: vhost-pci\n    endpoints: [a:eth0, s]\n",
  );
  assert.equal(i.code, "vhost-pci-link");
  assert.equal(i.path, "links[0].endpoints[1]");
  assert.equal(i.line, 13);
  assert.equal(i.column, 25);
  assert.match(i.message, /^Vhost-pci link "a-s" cannot end at switch "s"$/);
  assert.ok(i.hint);
});

Deno.test("a vhost-pci link within one VM, with an impairment, or to a NIC behind a vIOMMU is refused", () => {
  const self = issues(
    BASE.replace(
      "      eth0: { ip: 10.0.0.1/24, iommu: true }",
      "      eth0: { ip: 10.0.0.1/24, iommu: true }\n      eth1: {}",
    ) +
      "links: [{ kind: vhost-pci, endpoints: [a:eth0, a:eth1] }]\n",
  );
  assert.ok(self.some((i) => i.code === "vhost-pci-link" && /to itself/.test(i.message)));
  const impaired = issues(
    BASE + "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0], delay: 1ms }]\n",
  );
  const d = impaired.find((i) => i.code === "vhost-pci-link");
  assert.equal(d?.path, "links[0].delay");
  assert.match(d?.message ?? "", /cannot take "delay"/);
  const behind = issues(
    BASE.replace(
      "    nics:\n      eth0: { ip: 10.0.0.2/24 }",
      "    iommu: { mode: static }\n    nics:\n      eth0: { ip: 10.0.0.2/24, iommu: true }",
    ) +
      "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n",
  );
  assert.ok(
    behind.some((i) => i.code === "vhost-pci-link" && /cannot be behind a vIOMMU/.test(i.message)),
  );
});

Deno.test("a NIC that is already served (or on another link) cannot be served again", () => {
  const yaml = BASE + "  c:\n    nics:\n      eth0: { ip: 10.0.0.3/24 }\n" +
    "links:\n  - { kind: vhost-pci, endpoints: [a:eth0, b:eth0] }\n" +
    "  - { kind: vhost-pci, endpoints: [a:eth0, c:eth0] }\n";
  const i = issues(yaml).find((x) => x.code === "nic-reused");
  assert.equal(i?.path, "links[1].endpoints[0]");
});

Deno.test("vlab validate warns when the frontend NIC is not behind a vIOMMU (b sees all of a), located", () => {
  const yaml = BASE.replace("    iommu: { mode: static }\n", "").replace(", iommu: true", "") +
    "links:\n  - kind: vhost-pci\n    endpoints: [a:eth0, b:eth0]\n";
  const t = parseTopology(yaml, "t.yaml");
  assert.ok(t.ok);
  const [w] = topologyWarnings(yaml, t.value);
  assert.equal(w.code, "vhost-pci-no-iommu");
  assert.equal(w.line, 11);
  assert.match(w.message, /NIC "a:eth0" has no iommu: true, so VM "b" sees all of VM "a"'s memory/);
  const shipped = Deno.readTextFileSync(
    new URL("../../topologies/vhost-pci.yaml", import.meta.url),
  );
  const s = parseTopology(shipped, "vhost-pci.yaml");
  assert.ok(s.ok);
  assert.deepEqual(topologyWarnings(shipped, s.value), [], "the shipped one is behind the vIOMMU");
});

Deno.test("the vhost-pci-no-iommu hint asks for what is missing: a vIOMMU only when the VM has none", () => {
  const links = "links:\n  - kind: vhost-pci\n    endpoints: [a:eth0, b:eth0]\n";
  const hint = (yaml: string) => {
    const t = parseTopology(yaml, "t.yaml");
    assert.ok(t.ok);
    const w = topologyWarnings(yaml, t.value).find((x) => x.code === "vhost-pci-no-iommu");
    assert.ok(w !== undefined);
    return w.hint;
  };
  // VM a has a vIOMMU (lazy here), only its NIC is not behind it: adding a second one is wrong.
  const withIommu = BASE.replace("mode: static", "mode: lazy").replace(", iommu: true", "") + links;
  assert.equal(hint(withIommu), "give NIC eth0 of VM a iommu: true (behind its vIOMMU, mode lazy)");
  const without = BASE.replace("    iommu: { mode: static }\n", "").replace(", iommu: true", "") +
    links;
  assert.equal(hint(without), "give VM a iommu: { mode: static } and its NIC eth0 iommu: true");
});

Deno.test("vlab validate warns about a vhost-pci frontend behind a vIOMMU in passthrough: b sees all of a", () => {
  const links = "links:\n  - kind: vhost-pci\n    endpoints: [a:eth0, b:eth0]\n";
  const warn = (mode: string) => {
    const yaml = BASE.replace("mode: static", `mode: ${mode}`) + links;
    const t = parseTopology(yaml, "t.yaml");
    assert.ok(t.ok);
    return topologyWarnings(yaml, t.value);
  };
  const [w] = warn("passthrough");
  assert.equal(w?.code, "vhost-pci-no-iommu");
  assert.equal(w.line, 12, "at the link's endpoints");
  assert.match(
    w.message,
    /NIC "a:eth0" is behind a vIOMMU in passthrough \(bypass\), so VM "b" sees all of VM "a"'s memory/,
  );
  assert.match(w.hint ?? "", /static, strict or lazy/);
  for (const mode of ["static", "strict", "lazy"]) assert.deepEqual(warn(mode), [], mode);
  // The hint names the lab's VMs, not the docs' a and b.
  const named = (BASE.replace("mode: static", "mode: passthrough") + links)
    .replaceAll("a:", "fe:").replaceAll("b:", "be:");
  const t = parseTopology(named, "t.yaml");
  assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
  assert.equal(
    topologyWarnings(named, t.value)[0]?.hint,
    "give VM fe's vIOMMU mode static, strict or lazy: only those limit VM be to what fe maps",
  );
});

Deno.test("the plan of a vhost-pci link: no ring, b's slot serves a's NIC, b is an IOTLB consumer of a", () => {
  const t = parseTopology(
    BASE + "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n",
    "t.yaml",
  );
  assert.ok(t.ok);
  const plan = planLab(t.value);
  assert.equal(plan.rings.length, 0);
  assert.equal(plan.links.length, 0);
  assert.deepEqual(plan.vhostPciLinks, [{
    name: "a-b",
    frontend: { vm: "a", nic: "eth0", device: 0 },
    peer: { vm: "b", device: "eth0", slot: 0 },
    iommu: true,
  }]);
  const [a, b] = plan.vms;
  const aNic = a.devices[0];
  assert.equal(aNic.kind, "net");
  assert.deepEqual(aNic.kind === "net" ? aNic.vhostPci : null, {
    link: "a-b",
    peerVm: "b",
    peerThread: b.guestThread,
    peerDevice: "eth0",
  });
  const bDev = b.devices[0];
  assert.equal(bDev.kind, "vhost-pci");
  if (bDev.kind !== "vhost-pci") return;
  assert.equal(bDev.ip, 0x0a000002);
  assert.deepEqual(bDev.queues, []);
  assert.deepEqual(bDev.frontend.iommu, { endpoint: 0, consumer: 1 });
  assert.equal(bDev.frontend.guestThread, a.guestThread);
  const v = a.devices.find((d) => d.kind === "iommu");
  assert.deepEqual(v?.kind === "iommu" ? v.peers : null, [{
    name: "b:eth0",
    endpoint: 0,
    thread: b.guestThread,
  }]);
  assert.deepEqual(b.nics, [], "b's NIC became the vhost-pci-net device");
  assert.equal(
    b.control.devices[0].queueState.length,
    0,
    "b's control block has no queue state for it",
  );
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, "still plain data");
});

Deno.test("vlab up --dry-run names the vhost-pci-net device and the link with its window", () => {
  const t = parseTopology(
    BASE + "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n",
    "t.yaml",
  );
  assert.ok(t.ok);
  const text = formatPlan(planLab(t.value));
  assert.match(
    text,
    /eth0 [0-9a-f:]{17} [\d./]+: vhost-pci-net \(device ID 63\), serves a:eth0 in its memory, link a-b/,
  );
  assert.match(
    text,
    /link a-b: b:eth0 serves a:eth0 \(vhost-pci, no rings; window: vIOMMU static \(endpoint 0\)\)/,
  );
});

Deno.test("a vhost-pci peer behind a passthrough vIOMMU or none reaches all of a's memory", () => {
  const cases: [string, string][] = [
    [
      BASE.replace("mode: static", "mode: passthrough"),
      "all of a's memory (vIOMMU passthrough, endpoint 0)",
    ],
    [
      BASE.replace("    iommu: { mode: static }\n", "").replace(", iommu: true", ""),
      "all of a's memory",
    ],
    [BASE.replace("mode: static", "mode: strict"), "vIOMMU strict (endpoint 0)"],
  ];
  for (const [yaml, window] of cases) {
    const t = parseTopology(
      yaml + "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n",
      "t.yaml",
    );
    assert.ok(t.ok);
    const plan = planLab(t.value);
    assert.equal(vhostPciWindow(plan.vhostPciLinks![0], plan.vms), window);
    assert.ok(formatPlan(plan).includes(`(vhost-pci, no rings; window: ${window})`), window);
  }
});

Deno.test("the serving NIC's own queue and MTU keys are refused at the key: they are the frontend's", () => {
  const LINK = "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n";
  const written = issues(
    BASE.replace(
      "      eth0: { ip: 10.0.0.2/24 }",
      "      eth0: { ip: 10.0.0.2/24, mtu: 9000, layout: packed, queue_size: 64, features: [], " +
        "tx_timeout: 1s }",
    ) + LINK,
  );
  assert.deepEqual(
    written.map((i) => [i.code, i.path]),
    ["mtu", "layout", "queue_size", "features", "tx_timeout"].map((k) => [
      "vhost-pci-link",
      `vms.b.nics.eth0.${k}`,
    ]),
  );
  assert.equal(
    written[0].message,
    `NIC "b:eth0" serves "a:eth0" over vhost-pci link "a-b" and cannot take "mtu"`,
  );
  assert.equal(written[0].line, 9);
  assert.match(written[0].hint ?? "", /set it on vms\.a\.nics\.eth0/);
  // Inherited from the VM or defaults.nic (meant for b's other NICs), they pass.
  const inherited = parseTopology(
    "defaults: { nic: { mtu: 9000 } }\n" +
      BASE.replace("  b:\n", "  b:\n    layout: packed\n    queue_size: 64\n")
        .replace("iommu: true }", "iommu: true, mtu: 1500 }") +
      LINK,
    "t.yaml",
  );
  assert.ok(inherited.ok, JSON.stringify(!inherited.ok && inherited.error));
});

Deno.test("no mtu-mismatch warning on a vhost-pci link: the serving NIC takes the frontend's MTU", () => {
  const yaml = BASE.replace("iommu: true }", "iommu: true, mtu: 9000 }") +
    "links: [{ kind: vhost-pci, endpoints: [a:eth0, b:eth0] }]\n";
  const t = parseTopology(yaml, "t.yaml");
  assert.ok(t.ok);
  assert.deepEqual(topologyWarnings(yaml, t.value).map((w) => w.code), []);
  // b:eth0 (1500 by default) serves a:eth0 at 9000: its vhost-pci-net device has a's MTU.
  const plan = planLab(t.value);
  const dev = plan.vms[1].devices[0];
  assert.ok(dev.kind === "vhost-pci" && dev.mtu === 9000, JSON.stringify(dev));
});
