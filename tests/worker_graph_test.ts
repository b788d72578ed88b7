/**
 * What a worker loads before its start message: the static module graph of the guest and the
 * device worker entries holds no device kind's slice (a kind is loaded with dynamic `import()`
 * only when the VM has a device of that kind) and no npm package (an npm import starts Deno's
 * Node compatibility layer in every worker). Both cost start-up time in each of a big lab's
 * workers (docs/performance.md, "A 64-VM lab up"). A net-only VM's guest loads no device half and
 * its device worker no driver half. Also: the registries load every kind under its own tag, in
 * start order.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GUEST_KINDS, loadGuestKinds } from "../lab/guest/kinds/mod.ts";
import { HOST_KINDS, loadHostKinds } from "../lab/host/kinds/mod.ts";
import { LAB_KINDS } from "../lab/kinds/mod.ts";
import { staticGraph } from "./module_graph.ts";

/** Kind slices: the files of a `kinds/` folder other than its registry and its types. */
const isKindSlice = (s: string) => /\/kinds\/(?!mod\.ts$|types\.ts$)[^/]+\.ts$/.test(s);

for (const entry of ["../lab/guest/worker.ts", "../lab/host/device_worker.ts"]) {
  Deno.test(`${entry.slice(3)} loads no kind slice and no npm package before its start`, async () => {
    const graph = await staticGraph(entry);
    assert.ok(graph.some((s) => s.endsWith("/kinds/mod.ts")), "the registry is in the graph");
    assert.deepEqual(graph.filter(isKindSlice), []);
    assert.deepEqual(graph.filter((s) => !s.startsWith("file:")), []);
  });
}

/** The files of `graph` (specifiers) under `devices/` whose path ends with one of `names`. */
const devicesFiles = (graph: string[], names: string[]) =>
  graph.filter((s) => names.some((n) => s.endsWith(`/devices/${n}`)));

Deno.test("a net-only guest loads no device half and a net-only device worker no driver half", async () => {
  // What a VM with only NICs loads: its worker and the net kind's slice. A guest runs drivers,
  // a device worker device models; another kind's model (the vIOMMU's device, vhost-pci's
  // backend) comes with its own kind, not through a barrel module.
  const guest = [
    ...await staticGraph("../lab/guest/worker.ts"),
    ...await staticGraph("../lab/guest/kinds/net.ts"),
  ];
  assert.deepEqual(
    devicesFiles(guest, ["virtio/split_device.ts", "virtio/packed_device.ts", "net/device.ts"]),
    [],
  );
  assert.ok(devicesFiles(guest, ["virtio/split_driver.ts"]).length > 0, "the graph is the guest's");
  const device = [
    ...await staticGraph("../lab/host/device_worker.ts"),
    ...await staticGraph("../lab/host/kinds/net.ts"),
  ];
  assert.deepEqual(
    devicesFiles(device, [
      "virtio/split_driver.ts",
      "virtio/packed_driver.ts",
      "virtio/mmio_driver.ts",
      "iommu/device.ts",
      "iommu/driver.ts",
      "vhost_pci/backend.ts",
    ]),
    [],
  );
  assert.ok(devicesFiles(device, ["net/device.ts"]).length > 0, "the graph is the device's");
});

Deno.test("the guest and host registries load every kind of the lab under its own tag", async () => {
  const tags = [...LAB_KINDS.keys()];
  assert.deepEqual(new Set(GUEST_KINDS.keys()), new Set(tags));
  assert.deepEqual(new Set(HOST_KINDS.keys()), new Set(tags));
  // In start order, whatever the order asked for (iommu before net, vhost-pci after it).
  const reversed = [...tags].reverse();
  assert.deepEqual((await loadGuestKinds(reversed)).map((k) => k.kind), [...GUEST_KINDS.keys()]);
  assert.deepEqual((await loadHostKinds(reversed)).map((k) => k.kind), [...HOST_KINDS.keys()]);
  // Only what is asked for, once each.
  assert.deepEqual((await loadGuestKinds(["net", "net"])).map((k) => k.kind), ["net"]);
  assert.deepEqual(await loadHostKinds([]), []);
});

Deno.test("an unknown kind tag is an error that names it", async () => {
  await assert.rejects(loadGuestKinds(["net", "floppy"]), /Unknown device kind "floppy"/);
  await assert.rejects(loadHostKinds(["floppy"]), /Unknown device kind "floppy"/);
});
