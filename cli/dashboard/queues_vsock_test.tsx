/**
 * The Queues panel lists every device's queues through the snapshot, whatever the kind: a VM
 * with a vsock device shows its rx, tx and event queues beside the NIC's (issue 11, section 1).
 */
import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { listQueues, queueLabel, queuesLines } from "./queues.tsx";
import { loadFixture } from "./testing.tsx";

/** The recorded pair snapshot with a vsock device added to VM a (queues as the kind names them). */
function withVsock(): LabSnapshot {
  const snap = loadFixture<LabSnapshot>("pair_1");
  const nic = snap.vms[0].devices[0];
  snap.vms[0].devices.push({
    ...nic,
    nic: "vsock0",
    kind: "virtio-vsock",
    mac: null,
    ip: null,
    link: "a-b-vsock",
    queues: ["rx", "tx", "event"].map((name, index) => ({ ...nic.queues[0], index, name })),
  });
  return snap;
}

Deno.test("the Queues panel lists a vsock device's rx, tx and event queues after the NIC's", () => {
  const snap = withVsock();
  const labels = listQueues(snap).filter((r) => r.vm === "a").map(queueLabel);
  assert.deepEqual(labels, [
    "a/eth0 rx",
    "a/eth0 tx",
    "a/vsock0 rx",
    "a/vsock0 tx",
    "a/vsock0 event",
  ]);
  const text = queuesLines({
    snapshot: snap,
    rates: null,
    history: null,
    selected: 0,
    width: 100,
    height: 30,
    colors: false,
  }).map((line) => line.map((s) => s.text).join("")).join("\n");
  assert.match(text, /a\/vsock0 rx/);
  assert.match(text, /a\/vsock0 ev/);
});
