/**
 * The switch worker: one L2 learning bridge of the lab. It reads every port's incoming link
 * ring, learns source MACs, and copies each frame to the out ring of the port that owns the
 * destination (or floods it), through the out link's impairment stage. A full out ring drops the
 * frame and counts it: a switch never waits for a slow port. Control messages change a port's
 * impairment live (`impair`), the partitions every port filters on (`partitions`) and a port's
 * link state (`port-link`: frames for a port whose link is down are dropped and counted, and so
 * are what its out direction's impairment stage held when the link went down and what arrives on
 * the port meanwhile: nothing crosses a link that is down); it answers `inspect` with its MAC
 * table.
 *
 * Statistics it publishes: `switch_*` (the bridge's counters) and, for each port whose out
 * direction is impaired, `LINK_impair_*` (the stage's counters, as a device worker publishes
 * `NIC_impair_*`), `LINK_partition_dropped` and `LINK_link_down_dropped` (the port's out
 * direction); what it discards on a down port's way in is counted in that ring's
 * `linkDownDropped`.
 *
 * @module
 */

import { settleChecksum } from "../../devices/net/checksum.ts";
import { ControlGate } from "../wire/control_gate.ts";
import { ringSelf, setThreadState, ThreadState } from "../wire/doorbell.ts";
import { hostWait, loopCounters, runLoop } from "../wire/loop.ts";
import type { SwitchStart } from "../wire/messages.ts";
import { controlApplied, onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { LinkIn, LinkOut, nowUs } from "./link_ends.ts";
import { PartitionFilter } from "../wire/partition.ts";
import { LearningSwitch } from "./switch.ts";

async function start(msg: SwitchStart): Promise<void> {
  const bells = new Int32Array(msg.doorbells);
  const partition = new PartitionFilter();
  // Frames are taken from a port only after the load that revealed them found no control message
  // pending (`control_gate.ts`): a partition, a port's link or an impairment posted before they
  // were published acts on them.
  const gate = new ControlGate(bells, msg.thread, controlApplied);
  const ports = msg.ports.map((p) => {
    // An Ethernet link: after a live change, new frames pass the ones held before it (netem).
    const out = new LinkOut(p.tx, bells, "drop", partition, settleChecksum, true);
    return {
      link: p.link,
      in: new LinkIn(p.rx, bells, gate),
      out,
      /**
       * The link's state, kept by its out end: a frame for a port whose link is down is dropped
       * and counted, and setting it down drops what the out stage holds (`LinkOut.setLinkUp`).
       */
      get up(): boolean {
        return out.up;
      },
      set up(up: boolean) {
        out.setLinkUp(up);
      },
    };
  });
  const bridge = new LearningSwitch({
    ports: ports.length,
    agingMs: msg.agingMs ?? 300_000,
    maxEntries: Math.max(16, msg.portsMax * 16),
  });
  const stats = new StatsWriter(
    new Float64Array(msg.stats),
    (names) => post({ type: "stats-names", names }),
  );
  let current: Uint8Array = new Uint8Array(0);
  let currentMeta = 0;
  const send = (port: number) => {
    const out = ports[port].out;
    if (!out.up) {
      out.linkDownDropped++;
      return;
    }
    const slot = out.reserve(current.length);
    if (slot === null) return;
    slot.set(current);
    out.commit(current.length, currentMeta);
  };

  const pump = (): boolean => {
    const nowMs = performance.now();
    // Stations past their age go when they are due (nextTimerMs wakes the loop for them), not
    // only when a new one is learned: an idle switch counted them in its table for ever.
    let work = bridge.age(nowMs) > 0;
    for (let p = 0; p < ports.length; p++) {
      const link = ports[p].in;
      if (!ports[p].up) {
        // Nothing crosses a link that is down: what was in flight on it is not forwarded.
        if (link.discardLinkDown(256) > 0) work = true;
        continue;
      }
      let frame: Uint8Array | null;
      let n = 0;
      // One atomic load a batch, not one a frame: a capture turned on starts with the next.
      const capturing = link.tap.enabled();
      while (n < 256 && (frame = link.ring.peek()) !== null) {
        if (capturing) link.tap.capture(frame, { tsUs: nowUs(), direction: 0 });
        current = frame;
        currentMeta = link.ring.peekedMeta();
        bridge.forward(p, frame, nowMs, send);
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
    if (m.type === "impair") {
      ports.find((p) => p.out.ringIndex === m.ring)?.out.setImpairment(m.impair);
      ringSelf(bells, msg.thread); // re-plan the next wake-up
    } else if (m.type === "partitions") {
      partition.set(m.cuts);
    } else if (m.type === "port-link") {
      ports.forEach((p, i) => {
        if (p.link !== m.link) return;
        p.up = m.up;
        // The stations behind a port that went down are unknown again (Linux's bridge flushes).
        // Published at once: the loop publishes after work, and an idle switch has none, so
        // `vlab status` counted the forgotten stations in its MAC table until traffic came.
        if (!m.up && bridge.flushPort(i) > 0) publish();
      });
    } else if (m.type === "inspect") {
      // The MAC table (`vlab fdb`): the main thread names the ports.
      const info = { agingMs: bridge.agingMs, macs: bridge.macTable(performance.now()) };
      post({ type: "inspect-result", id: m.id, info });
    }
  });

  const loop = loopCounters();
  const publish = () => {
    stats.setAll("switch_", bridge.counters);
    stats.setAll("loop_", loop);
    // Impairments of the switch's out directions, as a device worker publishes its NICs'.
    for (const port of ports) {
      if (port.out.stage) stats.setAll(`${port.link}_impair_`, port.out.stage.counters);
      if (port.out.partitionDropped) {
        stats.set(`${port.link}_partition_dropped`, port.out.partitionDropped);
      }
      if (port.out.linkDownDropped) {
        stats.set(`${port.link}_link_down_dropped`, port.out.linkDownDropped);
      }
    }
    stats.flush();
  };
  // Running before "ready": the supervisor reads the state word as soon as it hears.
  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  // Publish the (zero) counters at once: the loop publishes only after work, or on an idle pass
  // 100 ms into the worker's life, so an idle switch showed no counters at all.
  publish();
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
      prepareSleep: () => ports.map((p) => p.in.prepareSleep()).some((empty) => !empty),
      nextTimerMs: () =>
        Math.min(bridge.nextExpiryMs(performance.now()), ...ports.map((p) => p.out.nextDueMs())),
      periodic: publish,
    },
  );
}

runWorker<SwitchStart>(start);
