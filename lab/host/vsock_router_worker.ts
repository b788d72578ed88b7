/**
 * The vsock router worker: joins the vsock devices of every VM linked to it (`vsock_routers` in
 * a topology), one port per VM, over the same shared-memory link rings as frames. It reads each
 * port's packets and routes them by `dst_cid` to the port of the VM with that CID; a packet for
 * a CID no port has (or whose port's link is down) is answered with RST on the port it came
 * from, never dropped silently. A packet whose `src_cid` is not its port's VM's CID (spoofing),
 * or that is too short for a header, is dropped and counted. A `peerResetNotice` (a VM's device
 * worker restarted and lost its connections) goes to every other port whose link is up, all at
 * once when each has room (`switch_peer_reset_notices`).
 *
 * Back-pressure, not drops: when the destination's ring (or, for an RST, the source's) is full,
 * the packet stays in its port's ring and that port is not read further until there is room, so
 * credit-based flow control holds end to end. Control messages: a port's link down or up
 * (`port-link`), and the partitions in force (`partitions`: the router refuses a packet whose
 * (source CID, destination CID) pair a partition cuts as it refuses one with no route, by RST,
 * counted as `switch_rst_partition`; the VMs' device workers reset their connections across the
 * cut and refuse it first, so the router sees only what was in flight). Statistics:
 * `switch_forwarded`, `switch_rst_no_route`, `switch_rst_partition`, `switch_spoofed`,
 * `switch_malformed` (the `switch_` prefix: the lab shows a router among its switches).
 *
 * No impairment on a router's ports: the topology refuses one on a link to a router
 * (`vsock-impairment`) and so does a live change (`LinkControl.impairmentProblem`). The router
 * relies on that: it plans no timer wake-up (`nextTimerMs` is Infinity), so a stage holding a
 * delayed packet would release it only at the next unrelated wake-up. The invariant is checked,
 * not assumed: a start message with an impaired port ring is refused (the worker fails to start),
 * and an `impair` message that is not a pass-through is refused with a `worker-error` event.
 *
 * @module
 */

import {
  decodeHeader,
  emptyHeader,
  encodeHeader,
  isPeerResetNotice,
  rstFor,
  VSOCK_HDR_SIZE,
  VsockOp,
} from "../../devices/vsock/mod.ts";
import { ControlGate } from "../wire/control_gate.ts";
import { setThreadState, ThreadState } from "../wire/doorbell.ts";
import { hostWait, loopCounters, runLoop } from "../wire/loop.ts";
import type { SwitchStart } from "../wire/messages.ts";
import { controlApplied, onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { type Impairment, isPassthrough } from "./impair.ts";
import { LinkIn, LinkOut, nowUs } from "./link_ends.ts";
import { VsockmonRecorder } from "./vsockmon.ts";
import { newVsockRouterCounters } from "./vsock_router_counters.ts";

/**
 * Why a router port cannot take `impair` on link `link`, or null for a pass-through (see the
 * module's essay: a router plans no timer, so a held packet would be released late).
 */
function portImpairmentProblem(router: string, link: string, impair: Impairment): string | null {
  if (isPassthrough(impair)) return null;
  return `Vsock router "${router}" cannot impair its port on link "${link}": a link to a vsock ` +
    "router takes no impairment (the router plans no timer to release a held packet)";
}

async function start(msg: SwitchStart): Promise<void> {
  const bells = new Int32Array(msg.doorbells);
  const cids = msg.vsockCids ?? [];
  for (const p of msg.ports) {
    const problem = portImpairmentProblem(msg.name, p.link, p.tx.impair);
    if (problem !== null) throw new Error(problem);
  }
  // Packets are taken from a port only after the load that revealed them found no control message
  // pending (`control_gate.ts`): the partitions and a port's link posted before they were sent
  // act on them.
  const gate = new ControlGate(bells, msg.thread, controlApplied);
  const ports = msg.ports.map((p, i) => ({
    link: p.link,
    cid: cids[i],
    in: new LinkIn(p.rx, bells, gate),
    out: new LinkOut(p.tx, bells, "backpressure"),
    up: true,
    /** Its next packet waits for room in a full ring (that ring's space wakes the worker). */
    stalled: false,
  }));
  const byCid = new Map(ports.map((p, i) => [p.cid, i]));
  const counters = newVsockRouterCounters();
  /** The (source CID, destination CID) pairs partitions cut, as `src * 2^32 + dst`. */
  let cut = new Set<number>();
  const pairKey = (src: number, dst: number) => src * 0x1_0000_0000 + dst;

  /** Hand a peer-reset notice from port `from` to every other port; false: one is full. */
  const broadcast = (from: number, frame: Uint8Array): boolean => {
    if (!ports[from].up) return true;
    const to = ports.filter((p, i) => i !== from && p.up);
    // All or none, so that a retry sends no port the notice twice.
    const slots = to.map((p) => p.out.reserve(frame.length));
    if (slots.some((s) => s === null)) return false;
    for (let i = 0; i < to.length; i++) {
      slots[i]!.set(frame);
      to[i].out.commit(frame.length);
    }
    counters.peerResetNotices++;
    return true;
  };
  const stats = new StatsWriter(
    new Float64Array(msg.stats),
    (names) => post({ type: "stats-names", names }),
  );
  const h = emptyHeader();
  const rst = new Uint8Array(VSOCK_HDR_SIZE);

  /** Route one packet from port `from`; false when its destination is full (keep it). */
  const route = (from: number, frame: Uint8Array): boolean => {
    if (frame.length < VSOCK_HDR_SIZE) {
      counters.malformed++;
      return true;
    }
    decodeHeader(frame, 0, h);
    if (h.srcCid !== ports[from].cid) {
      counters.spoofed++;
      return true;
    }
    if (isPeerResetNotice(h)) return broadcast(from, frame);
    const to = byCid.get(h.dstCid);
    const isCut = cut.size > 0 && cut.has(pairKey(h.srcCid, h.dstCid));
    if (to !== undefined && to !== from && ports[to].up && ports[from].up && !isCut) {
      const slot = ports[to].out.reserve(frame.length);
      if (slot === null) return false;
      slot.set(frame);
      ports[to].out.commit(frame.length);
      counters.forwarded++;
      return true;
    }
    if (h.op === VsockOp.RST || !ports[from].up) return true; // never an RST for an RST
    const slot = ports[from].out.reserve(VSOCK_HDR_SIZE);
    if (slot === null) return false;
    encodeHeader(rst, 0, rstFor(h));
    slot.set(rst);
    ports[from].out.commit(VSOCK_HDR_SIZE);
    if (isCut) counters.rstPartition++;
    else counters.rstNoRoute++;
    return true;
  };

  // A capture of a port's link records what the router takes from the VM (the other direction
  // is recorded by the VM's device worker), as vsockmon shows it: the switch worker's rule.
  const monitor = new VsockmonRecorder();

  const pump = (): boolean => {
    let work = false;
    for (let p = 0; p < ports.length; p++) {
      const link = ports[p].in;
      let frame: Uint8Array | null;
      let n = 0;
      ports[p].stalled = false;
      const capturing = link.tap.enabled();
      while (n < 256 && (frame = link.ring.peek()) !== null) {
        if (!route(p, frame)) {
          ports[p].stalled = true; // destination full: the packet waits in its ring
          break;
        }
        if (capturing) monitor.record(link.tap, frame, nowUs());
        link.ring.release();
        n++;
      }
      if (n > 0) {
        link.finish();
        work = true;
      }
    }
    for (const port of ports) port.out.flush();
    return work;
  };

  onControl((m) => {
    if (m.type === "port-link") {
      for (const p of ports) if (p.link === m.link) p.up = m.up;
    } else if (m.type === "partitions") {
      cut = new Set((m.vsockCuts ?? []).map(([s, d]) => pairKey(s, d)));
    } else if (m.type === "impair") {
      // A pass-through (`vlab link r-a set delay=0`) changes nothing; anything else the lab
      // refused before sending it, so it is a bug: refused here too (a worker-error event).
      const port = ports.find((p) => p.out.ringIndex === m.ring);
      const problem = portImpairmentProblem(msg.name, port?.link ?? `ring ${m.ring}`, m.impair);
      if (problem !== null) throw new RangeError(problem);
    }
  });

  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  const loop = loopCounters();
  const publish = () => {
    stats.setAll("switch_", counters);
    stats.setAll("loop_", loop);
    stats.flush();
  };
  publish(); // at once: an idle router would otherwise show no counters (see switch_worker.ts)
  await runLoop(
    {
      bells,
      thread: msg.thread,
      pollUs: 0,
      counters: loop,
      control: gate,
      ...hostWait(msg.hotMs),
    },
    {
      pump,
      prepareSleep: () => {
        let pending = false;
        for (const p of ports) {
          if (!p.out.prepareSleep()) pending = true;
          if (!p.in.prepareSleep() && !p.stalled) pending = true;
        }
        return pending;
      },
      nextTimerMs: () => Infinity,
      periodic: publish,
    },
  );
}

runWorker<SwitchStart>(start);
