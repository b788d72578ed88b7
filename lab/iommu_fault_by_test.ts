import assert from "node:assert/strict";
import { FaultReason, recordFault } from "../devices/iommu/faults.ts";
import { Viommu } from "../devices/iommu/viommu.ts";
import { faultConsumer } from "./iommu_fault_by.ts";
import type { IommuDeviceSpec } from "./wire/specs.ts";

// a's vIOMMU: eth0 (endpoint 0, slot 0), eth1 (endpoint 1, slot 1), b:eth0 serving eth0 (slot 2).
const SPEC = {
  kind: "iommu",
  mode: "strict",
  endpoints: [{ name: "eth0", endpoint: 0 }, { name: "eth1", endpoint: 1 }],
  peers: [{ name: "b:eth0", endpoint: 0, thread: 3 }],
} as unknown as IommuDeviceSpec;

function viommu(faults = 4): Viommu {
  const v = Viommu.create({ mappings: 8, endpoints: 2, consumers: 3, faults });
  for (const n of ["eth0", "eth1", "b:eth0"]) v.registerConsumer(n);
  return v;
}

const refuse = (v: Viommu, slot: number, iova: number, access: "read" | "write", endpoint = 0) =>
  recordFault(v.views, slot, { iova, access, endpoint, reason: FaultReason.MAPPING });

Deno.test("an iommu-fault names the consumer whose log holds the refused IOVA and access", () => {
  const v = viommu();
  refuse(v, 2, 0x10000, "read");
  refuse(v, 0, 0x20000, "write");
  refuse(v, 1, 0x10000, "read", 1);
  const by = (device: string, iova: string, access: string) =>
    faultConsumer(v.buffer, SPEC, "a", { device, iova, access });
  assert.equal(by("eth0", "0x10000", "read"), "b:eth0", "the vhost-pci peer");
  assert.equal(by("eth0", "0x20000", "write"), "a:eth0", "the NIC's own device model");
  assert.equal(by("eth1", "0x10000", "read"), "a:eth1", "the same IOVA on another endpoint");
  assert.equal(by("eth0", "0x10000", "write"), null, "another access kind: nobody");
  assert.equal(by("eth0", "0x30000", "read"), null, "an IOVA nobody logged");
  assert.equal(by("eth9", "0x10000", "read"), null, "no such device");
  assert.equal(by("eth0", "nowhere", "read"), null, "not an IOVA");
  assert.equal(faultConsumer(v.buffer, SPEC, "a", {}), null, "no detail at all");
});

Deno.test("the most recent refusal in its log wins, a tie names both; an overwritten one is not found", () => {
  const v = viommu(2);
  refuse(v, 0, 0x10000, "read");
  refuse(v, 2, 0x10000, "read");
  const at = (iova: string) =>
    faultConsumer(v.buffer, SPEC, "a", { device: "eth0", iova, access: "read" });
  assert.equal(at("0x10000"), "a:eth0 or b:eth0", "both logs end with it");
  refuse(v, 0, 0x30000, "read");
  assert.equal(at("0x10000"), "b:eth0", "b's log ends with it, a's has one after");
  // Two more refusals of eth0's own: the first record of slot 0 is overwritten.
  refuse(v, 0, 0x40000, "read");
  refuse(v, 0, 0x50000, "read");
  refuse(v, 2, 0x60000, "write");
  refuse(v, 2, 0x70000, "write");
  assert.equal(
    faultConsumer(v.buffer, SPEC, "a", { device: "eth0", iova: "0x10000", access: "read" }),
    null,
  );
  assert.equal(
    faultConsumer(v.buffer, SPEC, "a", { device: "eth0", iova: "0x50000", access: "read" }),
    "a:eth0",
  );
});
