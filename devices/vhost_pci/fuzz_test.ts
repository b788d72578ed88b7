/**
 * A fuzzed vhost-pci peer: `a`'s driver posts chains whose buffers point anywhere (inside the
 * window, on the canary pages, across the window's end, past `a`'s memory), `b` serves them,
 * moves frames both ways and probes its window at random; `a` remaps and hands over again after
 * each failed connection. Whatever happens, no access outside the window succeeds, the canary
 * pages are never written, and no byte of them reaches `b`. Seeded (the seed is in the test
 * name); `VLAB_FUZZ_RUNS` runs more steps.
 */

import assert from "node:assert/strict";
import { Prng } from "../base/prng.ts";
import type { Layout } from "../virtio/queue.ts";
import { VhostPciCounter } from "./config.ts";
import { CANARY, DOMAIN, vhostPciRig, WINDOW_END } from "./testing.ts";

const STEPS = Number(Deno.env.get("VLAB_FUZZ_RUNS") ?? "") || 400;
const MEM = 1 << 20;

function address(p: Prng): number {
  switch (p.below(6)) {
    case 0:
      return CANARY.start + p.below(CANARY.end - CANARY.start); // on a canary page
    case 1:
      return WINDOW_END - 1 - p.below(64); // across the window's end
    case 2:
      return MEM - p.below(32); // across the end of a's memory
    case 3:
      return p.below(MEM); // anywhere
    default:
      return 0x10000 + p.below(0x60000); // in the buffer area of the window
  }
}

for (const layout of ["split", "packed"] as Layout[]) {
  for (const seed of [1, 2, 3]) {
    Deno.test(`a fuzzed peer never gets past the window and canary pages never leak (${layout}, seed ${seed})`, () => {
      const p = Prng.fromSeed(seed).fork(layout);
      const r = vhostPciRig(layout, { iommu: true, size: 16 });
      const v = r.viommu!;
      let conn = 1;
      r.handOver(conn);
      r.backend.poll();
      let leaked = 0;
      let delivered = 0;
      const sinkBuf = { buf: new Uint8Array(0) };
      const sink = {
        reserve: (max: number) => (sinkBuf.buf = new Uint8Array(max)),
        commit: (len: number) => {
          delivered++;
          for (let i = 0; i < len; i++) if (sinkBuf.buf[i] === CANARY.byte) leaked++;
        },
      };
      for (let step = 0; step < STEPS; step++) {
        // Reclaim what b completed, so the rings keep room.
        for (let i = 0; i < 32; i++) {
          const u = r.tx.getUsed();
          if (!u.ok || u.value === null) break;
        }
        for (let i = 0; i < 32; i++) {
          const u = r.rx.getUsed();
          if (!u.ok || u.value === null) break;
        }
        const op = p.below(7);
        if (op === 0 || op === 1) {
          const addr = address(p);
          const len = 1 + p.below(1600);
          // In-window bytes are never CANARY.byte: a leak is visible.
          if (addr + len <= WINDOW_END && addr >= 0x10000) r.mem.u8.fill(0x11, addr, addr + len);
          if (r.tx.add({ readable: [[addr, len]], writable: [] }, step).ok) r.tx.publish();
        } else if (op === 2) {
          const addr = address(p);
          if (r.rx.add({ readable: [], writable: [[addr, 64 + p.below(2048)]] }, step).ok) {
            r.rx.publish();
          }
        } else if (op === 3) {
          r.backend.poll();
          r.backend.transmit(sink, 1 + p.below(8));
          r.backend.finish();
        } else if (op === 4) {
          const f = new Uint8Array(14 + p.below(1500)).fill(0x22);
          r.backend.receive(f);
          r.backend.finish();
        } else if (op === 5) {
          // b probes its window directly: whatever resolves must lie inside it.
          const addr = address(p);
          const len = 1 + p.below(4096);
          const gpa = r.window.resolve(addr, len, p.chance(0.5) ? "read" : "write");
          if (gpa >= 0) {
            assert.ok(gpa + len <= WINDOW_END, `b reached [${gpa}, ${gpa + len}) past the window`);
          }
        } else if (!r.backend.up) {
          // a resets its NIC (fresh rings) and hands its queues over again (the window maps the
          // same pages).
          r.resetQueues();
          v.unmap(DOMAIN, 0, WINDOW_END - 1);
          v.map(DOMAIN, { start: 0, end: WINDOW_END - 1, gpa: 0, perms: 3 });
          v.invalidate();
          r.handOver(++conn);
          r.backend.poll();
        }
        for (let i = CANARY.start; i < CANARY.end; i += 64) {
          if (r.mem.u8[i] !== CANARY.byte) {
            assert.fail(`canary byte ${i} was written (step ${step})`);
          }
        }
      }
      assert.equal(leaked, 0, "no canary byte reached b");
      assert.ok(
        r.mem.u8.subarray(CANARY.start, CANARY.end).every((b) => b === CANARY.byte),
        "every canary byte intact",
      );
      // The run did exercise both outcomes.
      assert.ok(delivered > 0, "some frames crossed");
      assert.ok(r.window.refusals > 0, "some accesses were refused");
      assert.equal(r.counters[VhostPciCounter.faults] > 0, true);
    });
  }
}
