import assert from "node:assert/strict";
import { graphFromStatus, graphFromTopology, renderGraph } from "./graph.ts";
import { parseTopology } from "./topology/load.ts";
import type { LabStatus } from "./metrics.ts";

Deno.test("vlab graph draws a vhost-pci link as one, from the file and from a running lab", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  assert.ok(t.ok);
  const g = graphFromTopology(t.value);
  assert.equal(
    g.links[0].forward,
    "vhost-pci (b serves a's queues through iommu0's windows, static)",
  );
  assert.match(renderGraph(g, "dot"), /both ways: vhost-pci \(b serves a's queues/);
  const live = graphFromStatus({
    name: "vhost-pci",
    source: "x",
    vms: [],
    switches: [],
    links: [],
    vhostPciLinks: [{ name: "a-b", frontend: "a:eth0", peer: "b:eth0", state: "up" }],
  } as unknown as LabStatus);
  assert.deepEqual(live.links.map((l) => [l.name, l.ends, l.up]), [
    ["a-b", [{ node: "a", nic: "eth0" }, { node: "b", nic: "eth0" }], true],
  ]);
});

Deno.test("vlab graph shows the vhost-pci peer's interface the same from the file and live", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  assert.ok(t.ok);
  const fromFile = graphFromTopology(t.value);
  const nic = { layout: "split", queueSize: 256 };
  const live = graphFromStatus({
    name: "vhost-pci",
    source: "x",
    vms: [
      { name: "a", nics: [{ name: "eth0", mac: "m", ip: "10.0.0.1/24", ...nic }] },
      {
        name: "b",
        nics: [],
        devices: [{
          name: "eth0",
          kind: "vhost-pci-net",
          mac: "02:00:00:01:00:00",
          ip: "10.0.0.2/24",
        }],
      },
    ],
    switches: [],
    links: [],
    vhostPciLinks: [{ name: "a-b", frontend: "a:eth0", peer: "b:eth0", state: "up" }],
  } as unknown as LabStatus);
  for (const g of [fromFile, live]) {
    const b = g.vms.find((vm) => vm.name === "b")!;
    assert.deepEqual(
      b.nics.map((n) => [n.name, n.ip, n.kind, n.layout, n.queueSize]),
      [["eth0", "10.0.0.2/24", "vhost-pci-net", "split", 256]],
    );
    assert.match(
      renderGraph(g, "dot"),
      /"b" \[shape=box, label="b\\neth0 10\.0\.0\.2\/24 vhost-pci-net split\/256"\]/,
    );
  }
  assert.equal(fromFile.vms[0].nics[0].kind, undefined);
});

Deno.test("vlab graph says what of the frontend's memory a vhost-pci peer reaches", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const label = (yaml: string) => {
    const t = parseTopology(yaml, "vhost-pci.yaml");
    assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
    return graphFromTopology(t.value).links[0].forward;
  };
  // Only the windows a's vIOMMU grants, whatever the DMA mode that translates them.
  for (const mode of ["static", "strict", "lazy"]) {
    assert.equal(
      label(text.replace("mode: static", `mode: ${mode}`)),
      `vhost-pci (b serves a's queues through iommu0's windows, ${mode})`,
    );
  }
  assert.equal(
    label(text.replace("mode: static", "mode: passthrough")),
    "vhost-pci (b serves a's queues with all of a's memory: vIOMMU in passthrough)",
  );
  // No vIOMMU, or the NIC not behind the VM's.
  const bare = text.replace(/^ {4}iommu: .*\n/m, "").replace(", iommu: true", "");
  assert.equal(label(bare), "vhost-pci (b serves a's queues with all of a's memory: no vIOMMU)");

  // A running lab says the same from its status: the NIC behind the vIOMMU is one of its domains.
  const status = (domains: { device: string }[]) =>
    graphFromStatus({
      name: "vhost-pci",
      source: "x",
      vms: [
        {
          name: "a",
          nics: [{ name: "eth0", mac: "m", ip: "10.0.0.1/24", layout: "split", queueSize: 256 }],
          iommu: { mode: "strict", domains },
        },
        { name: "b", nics: [] },
      ],
      switches: [],
      links: [],
      vhostPciLinks: [{ name: "a-b", frontend: "a:eth0", peer: "b:eth0", state: "up" }],
    } as unknown as LabStatus).links[0].forward;
  assert.equal(
    status([{ device: "eth0" }]),
    "vhost-pci (b serves a's queues through iommu0's windows, strict)",
  );
  assert.equal(status([]), "vhost-pci (b serves a's queues with all of a's memory: no vIOMMU)");
});
