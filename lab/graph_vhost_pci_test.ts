import assert from "node:assert/strict";
import { graphFromStatus, graphFromTopology, renderGraph } from "./graph.ts";
import { parseTopology } from "./topology/load.ts";
import type { LabStatus } from "./metrics.ts";

Deno.test("vlab graph draws a vhost-pci link as one, from the file and from a running lab", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  assert.ok(t.ok);
  const g = graphFromTopology(t.value);
  assert.equal(g.links[0].forward, "vhost-pci (the second VM serves the first's queues)");
  assert.match(renderGraph(g, "dot"), /both ways: vhost-pci/);
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
