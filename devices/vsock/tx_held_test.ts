/**
 * A backend that says `held` (a lab worker with a control message posted and not yet read) gets
 * no chain the driver published after it said so: the chain revealed by that pop waits, not yet
 * judged, and goes at the first `transmit` after `held` turns false, in order.
 */
import assert from "node:assert/strict";
import {
  emptyHeader,
  encodeHeader,
  VSOCK_HDR_SIZE,
  type VsockHeader,
  VsockOp,
  VsockType,
} from "./header.ts";
import { RAW_GPA, vsockRig } from "./testing.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a chain published while the backend says held waits for the next transmit [${layout}]`, () => {
    let held = false;
    let midPass: (() => void) | null = null;
    const ports: number[] = [];
    const r = vsockRig({
      layout,
      cid: 3,
      backend: {
        held: () => held,
        send(h: Readonly<VsockHeader>) {
          ports.push(h.srcPort);
          const hook = midPass;
          midPass = null;
          hook?.();
          return true;
        },
      },
    });
    let at = RAW_GPA;
    const publish = (port: number) => {
      const b = new Uint8Array(VSOCK_HDR_SIZE);
      encodeHeader(b, 0, {
        ...emptyHeader(),
        srcCid: 3,
        dstCid: 4,
        srcPort: port,
        dstPort: 80,
        type: VsockType.STREAM,
        op: VsockOp.REQUEST,
        bufAlloc: 4096,
      });
      r.mem.u8.set(b, at);
      const a = r.tx.driver.add({ readable: [[at, b.length]], writable: [] }, port & 63);
      assert.ok(a.ok);
      at += 64;
      r.tx.driver.publish();
    };
    publish(1);
    // Mid-pass, right after the first packet went: the worker's state changes (held), then the
    // guest publishes a second packet.
    midPass = () => {
      held = true;
      publish(2);
    };
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "the packet published after held was not taken");
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "still held: it waits");
    held = false;
    publish(3);
    r.device.transmit(64);
    assert.deepEqual(ports, [1, 2, 3], "then it goes first, in order");
  });
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a chain revealed with a malformed one while the backend says held waits too [${layout}]`, () => {
    let held = false;
    let midPass: (() => void) | null = null;
    const ports: number[] = [];
    const r = vsockRig({
      layout,
      cid: 3,
      backend: {
        held: () => held,
        send(h: Readonly<VsockHeader>) {
          ports.push(h.srcPort);
          const hook = midPass;
          midPass = null;
          hook?.();
          return true;
        },
      },
    });
    let at = RAW_GPA;
    const add = (port: number) => {
      const b = new Uint8Array(VSOCK_HDR_SIZE);
      encodeHeader(b, 0, {
        ...emptyHeader(),
        srcCid: 3,
        dstCid: 4,
        srcPort: port,
        dstPort: 80,
        type: VsockType.STREAM,
        op: VsockOp.REQUEST,
        bufAlloc: 4096,
      });
      r.mem.u8.set(b, at);
      assert.ok(r.tx.driver.add({ readable: [[at, b.length]], writable: [] }, port & 63).ok);
      at += 64;
    };
    add(1);
    r.tx.driver.publish();
    // Mid-pass: held, then the guest publishes, in one go, a chain whose buffer is outside guest
    // memory (a pop error the device completes and goes on from) and a packet. The load that
    // revealed both was followed by no question to the backend: the packet went under the old
    // state.
    midPass = () => {
      held = true;
      const bad = r.tx.driver.add({ readable: [[r.mem.size + 4096, 64]], writable: [] }, 60);
      assert.ok(bad.ok);
      add(2);
      r.tx.driver.publish();
    };
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "the packet published after held was not taken");
    held = false;
    r.device.transmit(64);
    assert.deepEqual(ports, [1, 2], "then it goes");
  });
}
