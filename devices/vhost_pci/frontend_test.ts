import assert from "node:assert/strict";
import { OK_VOID } from "../base/result.ts";
import type { VirtioDeviceModel } from "../virtio/device_model.ts";
import { kickTarget, RegFileWord, regFileWords } from "../virtio/mmio.ts";
import { peerServing, VhostPciFrontend } from "./frontend.ts";

function inner(): VirtioDeviceModel & { resets: number; activations: number } {
  return {
    deviceId: 1,
    queueCount: 2,
    queueMaxSize: 256,
    offered: 1n << 32n,
    configSize: 0,
    resets: 0,
    activations: 0,
    readConfig: () => 0,
    activate(): typeof OK_VOID {
      this.activations++;
      return OK_VOID;
    },
    reset() {
      this.resets++;
    },
  };
}

Deno.test("a's model hands its queues over at DRIVER_OK: kicks ring the peer, a new connection number", () => {
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  let rung = 0;
  const m = inner();
  const f = new VhostPciFrontend(m, { regs, peerThread: 7, ringPeer: () => rung++ });
  assert.equal(kickTarget(regs, 0), -1, "before: kicks ring a's device worker");
  assert.ok(f.activate({ negotiated: 0n, queues: [] }).ok);
  assert.equal(m.activations, 1);
  assert.equal(kickTarget(regs, 0), 7);
  assert.equal(kickTarget(regs, 1), 7);
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 1);
  assert.equal(rung, 1, "the peer was told");
  assert.equal(peerServing(regs), false, "link down until the peer serves");
  Atomics.store(regs, RegFileWord.VHOST_PEER, 1);
  assert.equal(peerServing(regs), true);
  // A restored worker activates again: the connection stays as it is.
  assert.ok(f.activate({ negotiated: 0n, queues: [] }).ok);
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 1);
});

Deno.test("a's reset takes the queues back only after the peer acknowledged, and says when it did not", () => {
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const m = inner();
  const waited: number[] = [];
  // The peer acknowledges while a waits (as b's next pass does).
  const f = new VhostPciFrontend(m, {
    regs,
    peerThread: 3,
    ringPeer: () => {},
    waitAck: (r, conn) => {
      waited.push(conn);
      Atomics.store(r, RegFileWord.VHOST_PEER, 0);
      return true;
    },
  });
  f.activate({ negotiated: 0n, queues: [] });
  Atomics.store(regs, RegFileWord.VHOST_PEER, 1);
  f.reset();
  assert.deepEqual(waited, [1], "a waited for connection 1's acknowledgement");
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 0);
  assert.equal(kickTarget(regs, 0), -1, "kicks ring a's device worker again");
  assert.equal(f.lastRevokeAcked, true);
  assert.equal(m.resets, 1);
  // The next handover is a new connection.
  f.activate({ negotiated: 0n, queues: [] });
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 2);
  // A dead peer never acknowledges: the bounded wait gives up and says so.
  Atomics.store(regs, RegFileWord.VHOST_PEER, 2);
  const g = new VhostPciFrontend(m, {
    regs,
    peerThread: 3,
    ringPeer: () => {},
    waitAck: () => false,
  });
  assert.equal(g.revoke(), false);
  assert.equal(g.lastRevokeAcked, false);
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 0);
});

Deno.test("each connection the peer fails is reported once, even after a reset and a handover within one pass", () => {
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const f = new VhostPciFrontend(inner(), {
    regs,
    peerThread: 3,
    ringPeer: () => {},
    waitAck: (r) => {
      Atomics.store(r, RegFileWord.VHOST_PEER, 0);
      return true;
    },
  });
  assert.equal(f.takePeerFailure(), 0, "nothing handed over");
  f.activate({ negotiated: 0n, queues: [] });
  Atomics.store(regs, RegFileWord.VHOST_PEER, 1);
  assert.equal(f.takePeerFailure(), 0, "served");
  Atomics.store(regs, RegFileWord.VHOST_PEER, -1); // b's device error on connection 1
  assert.equal(f.takePeerFailure(), 1);
  assert.equal(f.takePeerFailure(), 0, "reported once");
  // a's driver resets and hands over again, and b fails the new connection too, all before a's
  // device worker looks again (one pass served the whole reset and bring-up).
  f.reset();
  f.activate({ negotiated: 0n, queues: [] });
  assert.equal(Atomics.load(regs, RegFileWord.VHOST_CONN), 2);
  Atomics.store(regs, RegFileWord.VHOST_PEER, -2);
  assert.equal(f.takePeerFailure(), 2, "the new connection's failure is reported too");
  assert.equal(f.takePeerFailure(), 0);
});
