/**
 * Credit-based flow control as a property (virtio 1.2 §5.10.6.3): for random interleavings of
 * writes, reads and packet deliveries of random sizes, a sender never has more bytes
 * outstanding than the receiver's buffer, the receiver never resets for a credit violation, and
 * the stream arrives whole: no byte lost, duplicated or reordered. Bounded case count in CI;
 * `VLAB_FUZZ_RUNS` runs more.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Connection } from "./connection.ts";
import type { VsockHeader } from "./header.ts";

const RUNS = Number(Deno.env.get("VLAB_FUZZ_RUNS") ?? "") || 120;
const SEED = Number(Deno.env.get("VLAB_FUZZ_SEED") ?? "") || 0x5eed_0011;
const PARAMS = { numRuns: RUNS, seed: SEED };

type Action =
  | { kind: "write"; n: number }
  | { kind: "read"; n: number }
  | { kind: "deliver"; toB: boolean; k: number };

/** Actions with writes and reads of 1…`max` bytes. */
const actions = (max: number): fc.Arbitrary<Action[]> =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant("write" as const), n: fc.integer({ min: 1, max }) }),
      fc.record({ kind: fc.constant("read" as const), n: fc.integer({ min: 1, max }) }),
      fc.record({
        kind: fc.constant("deliver" as const),
        toB: fc.boolean(),
        k: fc.integer({ min: 1, max: 8 }),
      }),
    ),
    { minLength: 1, maxLength: 200 },
  );

const byteAt = (i: number) => (i * 31 + 7) & 0xff;
/** The stream repeats every 256 bytes: a write is a view of this table (no per-byte fill). */
const STREAM = new Uint8Array(256 + (1 << 20)).map((_, i) => byteAt(i));
const streamFrom = (at: number, n: number) => STREAM.subarray(at & 0xff, (at & 0xff) + n);

/** One case: random actions between two connections, then a drain. */
function creditCase(acts: Action[], bufAlloc: number, maxPayload: number): void {
  const toA: [VsockHeader, Uint8Array | null][] = [];
  const toB: [VsockHeader, Uint8Array | null][] = [];
  const base = { bufAlloc, maxPayload, localCid: 0, peerCid: 0 };
  const a = Connection.connect({
    ...base,
    localCid: 3,
    peerCid: 4,
    localPort: 1024,
    peerPort: 5,
    emit: (h, p) => toB.push([h, p]),
  });
  let b: Connection | null = null;
  const deliver = (toBSide: boolean, k: number) => {
    const q = toBSide ? toB : toA;
    for (let i = 0; i < k && q.length > 0; i++) {
      const [h, p] = q.shift()!;
      if (toBSide) {
        if (b === null) {
          b = Connection.accept({
            ...base,
            localCid: 4,
            peerCid: 3,
            localPort: 5,
            peerPort: 1024,
            emit: (h2, p2) => toA.push([h2, p2]),
          }, h);
        } else b.receive(h, p);
      } else a.receive(h, p);
    }
  };
  let written = 0;
  let readCount = 0;
  const check = () => {
    // Bytes a sent that b has not consumed never exceed b's buffer.
    const outstanding = (a.txCnt - (b?.fwdCnt ?? 0)) >>> 0;
    assert.ok(outstanding <= bufAlloc, `outstanding ${outstanding} > buf_alloc ${bufAlloc}`);
    assert.ok(b === null || b.rxQueued <= bufAlloc);
    assert.notEqual(b?.closeReason, "credit-violation");
  };
  const readSome = (n: number) => {
    if (b === null) return;
    const into = new Uint8Array(n);
    const got = b.read(into);
    for (let i = 0; i < got; i++) {
      assert.equal(into[i], byteAt(readCount + i), `byte ${readCount + i}`);
    }
    readCount += got;
  };
  for (const act of acts) {
    if (act.kind === "write") {
      written += a.write(streamFrom(written, act.n));
    } else if (act.kind === "read") readSome(act.n);
    else deliver(act.toB, act.k);
    check();
  }
  // Drain: deliver everything, read everything, keep writing the rest of a fixed total.
  const total = written + 3000;
  for (let round = 0; round < 10_000 && readCount < total; round++) {
    if (written < total) {
      const data = new Uint8Array(total - written).map((_, i) => byteAt(written + i));
      written += a.write(data);
    }
    deliver(true, toB.length);
    readSome(bufAlloc);
    deliver(false, toA.length);
    check();
  }
  assert.equal(readCount, total, "every byte arrives exactly once");
  assert.equal(a.state, "established");
}

Deno.test("a sender never exceeds the peer's credit and the stream arrives whole (property)", () => {
  fc.assert(
    fc.property(
      actions(5000),
      fc.integer({ min: 1, max: 8192 }), // receiver buffer
      fc.integer({ min: 1, max: 2048 }), // max payload per packet
      creditCase,
    ),
    PARAMS,
  );
});

Deno.test("with the lab's windows (up to 2 MiB) and 64 KiB packets, credit still binds (property)", () => {
  fc.assert(
    fc.property(
      actions(256 * 1024),
      fc.integer({ min: 64 * 1024, max: 2 << 20 }), // receiver buffer: 1 MiB in the lab
      fc.integer({ min: 4096, max: 65536 }), // max payload per packet: 64 KiB in the lab
      creditCase,
    ),
    { ...PARAMS, numRuns: Math.max(1, Math.floor(RUNS / 4)) },
  );
});
