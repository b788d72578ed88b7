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

/**
 * A vsock device over a backend whose `held` the test sets, recording the source port of each
 * packet sent; `midPass` runs once, right after the next packet went (the worker's state changing
 * mid-pass); `add` places a REQUEST from `port` in the transmitq (published separately).
 */
function heldRig(layout: "split" | "packed") {
  const state = { held: false, midPass: null as (() => void) | null };
  const ports: number[] = [];
  const r = vsockRig({
    layout,
    cid: 3,
    backend: {
      held: () => state.held,
      send(h: Readonly<VsockHeader>) {
        ports.push(h.srcPort);
        const hook = state.midPass;
        state.midPass = null;
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
  return { r, state, ports, add };
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a chain published while the backend says held waits for the next transmit [${layout}]`, () => {
    const { r, state, ports, add } = heldRig(layout);
    const publish = (port: number) => {
      add(port);
      r.tx.driver.publish();
    };
    publish(1);
    // Mid-pass, right after the first packet went: the worker's state changes (held), then the
    // guest publishes a second packet.
    state.midPass = () => {
      state.held = true;
      publish(2);
    };
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "the packet published after held was not taken");
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "still held: it waits");
    state.held = false;
    publish(3);
    r.device.transmit(64);
    assert.deepEqual(ports, [1, 2, 3], "then it goes first, in order");
  });
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a chain revealed with a malformed one while the backend says held waits too [${layout}]`, () => {
    const { r, state, ports, add } = heldRig(layout);
    add(1);
    r.tx.driver.publish();
    // Mid-pass: held, then the guest publishes, in one go, a chain whose buffer is outside guest
    // memory (a pop error the device completes and goes on from) and a packet. The load that
    // revealed both was followed by no question to the backend: the packet went under the old
    // state.
    state.midPass = () => {
      state.held = true;
      const bad = r.tx.driver.add({ readable: [[r.mem.size + 4096, 64]], writable: [] }, 60);
      assert.ok(bad.ok);
      add(2);
      r.tx.driver.publish();
    };
    r.device.transmit(64);
    assert.deepEqual(ports, [1], "the packet published after held was not taken");
    state.held = false;
    r.device.transmit(64);
    assert.deepEqual(ports, [1, 2], "then it goes");
  });
}
