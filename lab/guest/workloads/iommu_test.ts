import assert from "node:assert/strict";
import { runIommuUnmap } from "./iommu.ts";

Deno.test("iommu-unmap on a VM without a vIOMMU is a one-line error with a hint", async () => {
  const r = await runIommuUnmap(undefined, { kind: "iommu-unmap", device: "eth0" });
  assert.equal(r.kind, "error");
  assert.equal(r.kind === "error" && r.message, "Cannot run iommu-unmap: this VM has no vIOMMU");
  assert.match(r.kind === "error" ? r.hint : "", /iommu: \{ mode: static \}/);
});

Deno.test("iommu-unmap reports the revocation's UNMAP-to-flushed time, or the service's refusal", async () => {
  const ok = await runIommuUnmap(
    { revoke: (d) => Promise.resolve({ ok: true as const, ms: d.length * 0.5 }) },
    { kind: "iommu-unmap", device: "eth0" },
  );
  assert.deepEqual(ok, {
    kind: "iommu-unmap",
    device: "eth0",
    flushedMs: 2,
    text:
      "iommu-unmap eth0: DMA window revoked, every IOTLB flushed 2.000 ms after the UNMAP; the NIC's next access faults",
  });
  // strict, lazy and passthrough revoke with a DETACH of the endpoint: the text says so.
  const detach = await runIommuUnmap(
    { revoke: () => Promise.resolve({ ok: true as const, ms: 1, request: "DETACH" as const }) },
    { kind: "iommu-unmap", device: "eth0" },
  );
  assert.match(detach.kind === "iommu-unmap" ? detach.text : "", / 1\.000 ms after the DETACH;/);
  const no = await runIommuUnmap(
    { revoke: () => Promise.resolve({ ok: false as const, message: "Cannot revoke eth9" }) },
    { kind: "iommu-unmap", device: "eth9" },
  );
  assert.equal(no.kind === "error" && no.message, "Cannot revoke eth9");
});
