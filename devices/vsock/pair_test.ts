/**
 * Two VMs back to back in one process: driver A ↔ device A ↔ in-memory router ↔ device B ↔
 * driver B, over real rings in two guest memories, split and packed.
 */
import assert from "node:assert/strict";
import type { Connection } from "./connection.ts";
import { VsockCounter, VsockDriverCounter } from "./metrics.ts";
import { vsockPair } from "./testing.ts";

const MIB = 1 << 20;
const byteAt = (i: number) => (i * 131 + (i >>> 12)) & 0xff;

/** FNV-1a over a byte stream. */
function fnv(h: number, b: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  return h;
}

interface Sink {
  conn: Connection | null;
  bytes: number;
  hash: number;
  mismatches: number;
}

/** b listens on 5000 and reads everything, checking each byte and hashing the stream. */
function sinkOn(lab: ReturnType<typeof vsockPair>): Sink {
  const s: Sink = { conn: null, bytes: 0, hash: 0x811c9dc5, mismatches: 0 };
  const buf = new Uint8Array(64 * 1024);
  lab.b.sockets.listen(5000, (conn) => {
    s.conn = conn;
    conn.onEvent = (e) => {
      if (e !== "readable") return;
      for (let i = 0; i < 1024; i++) {
        const n = conn.read(buf);
        if (n === 0) break;
        for (let k = 0; k < n; k++) if (buf[k] !== byteAt(s.bytes + k)) s.mismatches++;
        s.hash = fnv(s.hash, buf, n);
        s.bytes += n;
      }
    };
  });
  return s;
}

function pattern(total: number): { data: Uint8Array; hash: number } {
  const data = new Uint8Array(total).map((_, i) => byteAt(i));
  return { data, hash: fnv(0x811c9dc5, data, total) };
}

const STREAM = pattern(4 * MIB);

for (const layout of ["split", "packed"] as const) {
  Deno.test(`two VMs stream 4 MiB with a checksum, nothing lost, credit never exceeded [${layout}]`, () => {
    const lab = vsockPair(layout);
    const sink = sinkOn(lab);
    const conn = lab.a.sockets.connect(4, 5000);
    let written = 0;
    let closed = false;
    const rounds = lab.run(() => {
      if (conn.state === "established") {
        for (let i = 0; i < 64 && written < STREAM.data.length; i++) {
          const n = conn.write(
            STREAM.data,
            written,
            Math.min(64 * 1024, STREAM.data.length - written),
          );
          if (n === 0) break;
          written += n;
        }
        if (written === STREAM.data.length && !closed) {
          conn.close();
          closed = true;
        }
      }
      return conn.state === "closed" && sink.conn?.state === "closed";
    }, 20_000);
    assert.ok(rounds < 20_000, `did not finish: wrote ${written}, read ${sink.bytes}`);
    assert.equal(sink.bytes, STREAM.data.length);
    assert.equal(sink.mismatches, 0);
    assert.equal(sink.hash, STREAM.hash);
    assert.equal(conn.closeReason, "done");
    assert.equal(sink.conn!.closeReason, "done");
    for (const vm of [lab.a, lab.b]) {
      for (
        const k of [
          "creditViolations",
          "peerCreditViolations",
          "malformedShort",
          "malformedLen",
          "malformedOp",
          "noConnection",
        ] as const
      ) assert.equal(vm.dc[VsockCounter[k]], 0, `${k}`);
      assert.equal(vm.dc[VsockCounter.connections], 0);
      assert.equal(vm.driver.fault, null);
      assert.equal(vm.device.fault, null);
    }
    assert.equal(lab.a.dc[VsockCounter.txBytes], STREAM.data.length);
    assert.equal(lab.b.dc[VsockCounter.rxBytes], STREAM.data.length);
    assert.ok(lab.a.gc[VsockDriverCounter.creditStalls] > 0, "the 256 KiB window was used up");
  });

  Deno.test(`a reset in mid-stream gives TRANSPORT_RESET and the peer sees RST [${layout}]`, () => {
    const lab = vsockPair(layout);
    const sink = sinkOn(lab);
    const conn = lab.a.sockets.connect(4, 5000);
    let written = 0;
    let reset = false;
    const rounds = lab.run(() => {
      if (conn.state === "established") {
        const n = conn.write(
          STREAM.data,
          written,
          Math.min(64 * 1024, STREAM.data.length - written),
        );
        written += n;
      }
      if (!reset && sink.bytes >= MIB) {
        lab.a.device.transportReset();
        reset = true;
      }
      return conn.state === "closed" && sink.conn?.state === "closed";
    }, 20_000);
    assert.ok(rounds < 20_000);
    assert.ok(reset);
    assert.deepEqual(lab.a.events, [0]);
    assert.equal(conn.closeReason, "transport-reset");
    assert.equal(sink.conn!.closeReason, "reset");
    assert.equal(sink.mismatches, 0); // what arrived before the reset is intact
    assert.equal(lab.b.dc[VsockCounter.connections], 0);
    // The socket table still works after the reset: a new connection goes through.
    const again = lab.a.sockets.connect(4, 5000);
    lab.run(() => again.state === "established", 100);
    assert.equal(again.state, "established");
  });

  Deno.test(`connecting to an unbound port or an unreachable CID is refused with RST [${layout}]`, () => {
    const lab = vsockPair(layout);
    const unbound = lab.a.sockets.connect(4, 7777);
    const nowhere = lab.a.sockets.connect(9, 80);
    lab.run(() => unbound.state === "closed" && nowhere.state === "closed", 100);
    assert.equal(unbound.closeReason, "refused");
    assert.equal(nowhere.closeReason, "refused");
    assert.equal(lab.b.gc[VsockDriverCounter.rstSent], 1);
    assert.equal(lab.a.dc[VsockCounter.connections], 0);
  });

  Deno.test(`a REQUEST that nobody answers times out and is reset (F9) [${layout}]`, () => {
    const lab = vsockPair(layout);
    // Stop as soon as the REQUEST left: b's guest has not answered yet when the clock jumps.
    const conn = lab.a.sockets.connect(4, 5000);
    lab.a.clock.now = 0;
    lab.run(() => lab.a.dc[VsockCounter.txPackets] > 0, 10);
    lab.a.clock.now = 2500;
    lab.run(() => conn.state === "closed", 10);
    assert.equal(conn.closeReason, "timeout");
  });
}
