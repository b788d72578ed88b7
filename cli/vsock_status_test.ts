/**
 * `vlab status` lists each vsock device's open connections (what the dashboard's Links panel
 * shows): before, status had only the device's counters, and a user without a terminal for the
 * dashboard could not see which connections were open, to whom, or which had no credit left.
 */

import assert from "node:assert/strict";
import { formatStatus } from "./status.ts";
import { formatVsockConnections, unknownVm } from "./vsock.ts";
import type { LabStatus } from "../lab/metrics.ts";
import type { VsockConnectionRow } from "../devices/vsock/conn_table.ts";

const row = (o: Partial<VsockConnectionRow>): VsockConnectionRow => ({
  guestPort: 1024,
  peerCid: 4,
  peerPort: 5000,
  state: "established",
  bytesFromGuest: 0,
  bytesToGuest: 0,
  creditStalls: 0,
  peerCredit: 0,
  guestCredit: 0,
  ...o,
});

function lab(connections: LabStatus["vms"][number]["devices"]): LabStatus {
  return {
    name: "vsock-pair",
    source: "vsock-pair.yaml",
    seed: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    uptimeSeconds: 3,
    pid: 42,
    vms: [{ name: "a", state: "running", nics: [], devices: connections, guestDrops: {} }],
    switches: [],
    links: [],
    partitions: [],
  };
}

Deno.test("vlab status lists a vsock device's open connections under it: peer, state, bytes, credit, stalls", () => {
  const text = formatStatus(lab([{
    name: "vsock0",
    kind: "virtio-vsock",
    detail: "cid 3",
    link: "a-b-vsock",
    status: 0x0f,
    statusNames: ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "DRIVER_OK"],
    features: ["VERSION_1"],
    device: {},
    driver: {},
    connections: {
      total: 2,
      rows: [
        row({ bytesFromGuest: 25_800_000, creditStalls: 11 }),
        row({ guestPort: 7, peerCid: 2, peerPort: 1024, peerCredit: 262_144, creditStalls: 1 }),
      ],
    },
  }]));
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.startsWith("  a:vsock0  virtio-vsock cid 3"));
  assert.ok(at >= 0, text);
  assert.deepEqual(lines.slice(at + 2, at + 5), [
    "    connections: 2",
    "      1024 ⇄ 4:5000 established: sent 25.8 MB, received 0 B, credit 0 B left (11 stalls)",
    "      7 ⇄ host:1024 established: sent 0 B, received 0 B, credit 262.1 kB left (1 stall)",
  ]);
});

Deno.test("formatVsockConnections: none, and a table with more connections than rows says so", () => {
  assert.deepEqual(formatVsockConnections({ total: 0, rows: [] }), ["    connections: none"]);
  assert.equal(
    formatVsockConnections({ total: 40, rows: [row({})] })[0],
    "    connections: 40 (the 1 busiest shown)",
  );
});

Deno.test("vlab vsock given a CID where the VM goes names the VM with that CID, or says no VM has it", () => {
  const dev = (cid: number) => ({
    name: "vsock0",
    kind: "virtio-vsock",
    detail: `cid ${cid}`,
    status: 0x0f,
    statusNames: [],
    features: [],
    device: {},
    driver: {},
  });
  const status = {
    vms: [
      { name: "a", state: "running" as const, nics: [], devices: [dev(3)], guestDrops: {} },
      { name: "b", state: "running" as const, nics: [], devices: [dev(4)], guestDrops: {} },
      { name: "h", state: "running" as const, nics: [], devices: [], guestDrops: {} },
    ],
  };
  const four = unknownVm(status, "4", 5000);
  assert.equal(four.code, "unknown-vm");
  assert.equal(four.message, 'Cannot connect to VM "4": no such VM');
  assert.equal(four.hint, 'vlab vsock takes a VM\'s name: CID 4 is VM "b", `vlab vsock b 5000`');
  assert.match(
    unknownVm(status, "9", 7).hint,
    /no VM has CID 9 either; the lab's vsock CIDs: 3 \(a\), 4 \(b\)$/,
  );
  assert.equal(unknownVm(status, "zz", 7).hint, "The lab's VMs: a, b, h");
});
