import assert from "node:assert/strict";
import { Prng } from "../../devices/base/prng.ts";
import { type Impairment, ImpairStage, NO_IMPAIRMENT } from "./impair.ts";

const SEED = 1234;

function stage(imp: Partial<Impairment>, seed = SEED): ImpairStage {
  return new ImpairStage({ ...NO_IMPAIRMENT, ...imp }, Prng.fromSeed(seed).fork("test link"));
}

function frame(seq: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  new DataView(f.buffer).setUint32(0, seq);
  return f;
}

function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(0);
}

/** Drain in 1 µs steps up to `untilUs`, returning [time, seq, bytes] of every emitted frame. */
function run(s: ImpairStage, untilUs: number): Array<[number, number, number[]]> {
  const got: Array<[number, number, number[]]> = [];
  for (
    let t = 0;
    t <= untilUs && s.nextDueUs() !== Infinity;
    t = Math.max(t + 1, Math.ceil(s.nextDueUs()))
  ) {
    s.drain(t, (f) => got.push([t, seqOf(f), Array.from(f)]) > 0);
  }
  return got;
}

Deno.test("passthrough is true only when every knob is 0", () => {
  assert.equal(stage({}).passthrough, true);
  for (
    const k of [
      "delayUs",
      "jitterUs",
      "lossPct",
      "corruptPct",
      "duplicatePct",
      "reorderPct",
      "rateBps",
    ]
  ) {
    assert.equal(stage({ [k]: 1 }).passthrough, false, k);
  }
});

Deno.test("constructor rejects a negative knob or a percentage above 100", () => {
  assert.throws(() => stage({ delayUs: -1 }), /delayUs must be a finite number >= 0, got -1/);
  assert.throws(() => stage({ lossPct: 101 }), /lossPct above 100/);
});

Deno.test("delay holds a frame until it is due", () => {
  const s = stage({ delayUs: 500 });
  s.offer(frame(1), 100);
  assert.equal(s.nextDueUs(), 600);
  let n = 0;
  s.drain(599, () => ++n > 0);
  assert.equal(n, 0);
  s.drain(600, () => ++n > 0);
  assert.equal(n, 1);
  assert.equal(s.nextDueUs(), Infinity);
  assert.equal(s.counters.delivered, 1);
});

Deno.test("a held frame keeps its offset past a multiple of 8 (its ring's frame phase) and its bytes", () => {
  const s = stage({ delayUs: 10 });
  const ring = new Uint8Array(new SharedArrayBuffer(4096));
  const out: [number, number[]][] = [];
  for (const at of [4, 4 + 2048, 0, 7]) {
    const f = ring.subarray(at, at + 1500).fill(at & 0xff);
    s.offer(f, 0);
    s.drain(10, (held) => out.push([held.byteOffset & 7, [held[0], held[1499], held.length]]) > 0);
  }
  assert.deepEqual(out, [[4, [4, 4, 1500]], [4, [4, 4, 1500]], [0, [0, 0, 1500]], [7, [
    7,
    7,
    1500,
  ]]]);
});

Deno.test("the stage counts how late held frames leave, not the ones reorder sends ahead", () => {
  const s = stage({ delayUs: 500 });
  s.offer(frame(1), 100); // due at 600
  s.offer(frame(2), 300); // due at 800
  s.drain(650, () => true); // the first, 50 µs late
  s.drain(1000, () => true); // the second, 200 µs late
  assert.equal(s.counters.delayed, 2);
  assert.ok(Math.abs(s.counters.lateSeconds - 250e-6) < 1e-12, `${s.counters.lateSeconds} s`);
  const r = stage({ delayUs: 500, reorderPct: 100, reorderGap: 1 });
  r.offer(frame(3), 2000);
  r.drain(2500, () => true); // sent ahead, never held
  assert.deepEqual([r.counters.delivered, r.counters.delayed, r.counters.lateSeconds], [1, 0, 0]);
});

Deno.test("jitter stays within ±jitter and keeps FIFO order", () => {
  const s = stage({ delayUs: 1000, jitterUs: 400, limit: 2000 });
  for (let i = 0; i < 1000; i++) s.offer(frame(i), i * 10);
  const got = run(s, 1e9);
  assert.deepEqual(got.map((g) => g[1]), Array.from({ length: 1000 }, (_, i) => i));
  for (const [t, seq] of got) assert.ok(t >= seq * 10 + 600, `frame ${seq} at ${t}`);
  // frames are spread, not all at delay: some leave before the nominal delay
  assert.ok(got.some(([t, seq]) => t < seq * 10 + 1000));
});

Deno.test("loss drops about lossPct of frames (seeded)", () => {
  const s = stage({ lossPct: 10, limit: 20000 });
  for (let i = 0; i < 10000; i++) s.offer(frame(i), 0);
  const got = run(s, 0);
  assert.equal(got.length + s.counters.lost, 10000);
  assert.ok(
    s.counters.lost > 850 && s.counters.lost < 1150,
    `seed ${SEED}: lost ${s.counters.lost}`,
  );
  assert.equal(stage({ lossPct: 100 }).passthrough, false);
});

Deno.test("duplicate 100% delivers every frame twice, identical", () => {
  const s = stage({ duplicatePct: 100 });
  for (let i = 0; i < 5; i++) s.offer(frame(i), 0);
  const got = run(s, 0);
  assert.deepEqual(got.map((g) => g[1]), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  assert.deepEqual(got[0][2], got[1][2]);
  assert.equal(s.counters.duplicated, 5);
});

Deno.test("a loss that meets a duplicate drops nothing: offered + duplicated - lost = delivered (netem)", () => {
  const s = stage({ lossPct: 50, duplicatePct: 50 });
  const got: number[] = [];
  for (let i = 0; i < 2000; i++) {
    s.offer(frame(i), 0);
    s.drain(0, (f) => got.push(seqOf(f)) > 0);
  }
  const c = s.counters;
  assert.equal(got.length, c.delivered);
  assert.equal(c.droppedLimit, 0);
  assert.equal(
    c.offered + c.duplicated - c.lost,
    c.delivered,
    `seed ${SEED}: ${JSON.stringify(c)}`,
  );
  // A frame is gone only when every copy was lost: about 1/2 (no dup) x 1/2 (lost) of them.
  const gone = 2000 - new Set(got).size;
  assert.ok(c.lost >= gone, `seed ${SEED}: lost ${c.lost}, frames gone ${gone}`);
  assert.ok(gone > 350 && gone < 650, `seed ${SEED}: frames gone ${gone}`);
});

Deno.test("corrupt flips exactly one bit of the copy, never the caller's buffer", () => {
  const s = stage({ corruptPct: 100 });
  const original = new Uint8Array(100).fill(0x55);
  for (let i = 0; i < 50; i++) s.offer(original, 0);
  const got = run(s, 0);
  assert.equal(got.length, 50);
  for (const [, , bytes] of got) {
    let bits = 0;
    for (let i = 0; i < bytes.length; i++) {
      let x = bytes[i] ^ 0x55;
      for (; x; x &= x - 1) bits++;
    }
    assert.equal(bits, 1);
  }
  assert.ok(original.every((b) => b === 0x55));
  assert.equal(s.counters.corrupted, 50);
});

Deno.test("reorder sends a frame at once, ahead of delayed ones", () => {
  const s = stage({ delayUs: 1000, reorderPct: 25 });
  const got: Array<[number, number, number[]]> = [];
  for (let i = 0; i < 100; i++) {
    s.offer(frame(i), i);
    s.drain(i, (f) => got.push([i, seqOf(f), []]) > 0);
  }
  got.push(...run(s, 1e6));
  assert.equal(got.length, 100);
  const early = got.filter(([t, seq]) => t === seq);
  assert.equal(early.length, s.counters.reordered);
  assert.ok(s.counters.reordered > 10 && s.counters.reordered < 45, `seed ${SEED}`);
  const order = got.map((g) => g[1]);
  assert.notDeepEqual(order, [...order].sort((a, b) => a - b));
});

Deno.test("reorder without delay does nothing, as in netem", () => {
  const s = stage({ reorderPct: 100 });
  s.offer(frame(0), 0);
  assert.equal(s.counters.reordered, 0);
});

Deno.test("rate makes a frame due when the link has serialised it", () => {
  const s = stage({ rateBps: 1_000_000 });
  for (let i = 0; i < 3; i++) s.offer(frame(i, 125), 0); // 1000 bits = 1000 µs each
  const got = run(s, 1e6);
  assert.deepEqual(got.map((g) => g[0]), [1000, 2000, 3000]);
  s.offer(frame(3, 125), 10_000); // link idle again: no backlog
  assert.equal(s.nextDueUs(), 11_000);
});

Deno.test("limit drops frames beyond the frames held", () => {
  const s = stage({ delayUs: 10, limit: 3 });
  for (let i = 0; i < 5; i++) s.offer(frame(i), 0);
  assert.equal(s.held, 3);
  assert.equal(s.counters.droppedLimit, 2);
  assert.deepEqual(run(s, 100).map((g) => g[1]), [0, 1, 2]);
  s.offer(frame(9), 200);
  assert.equal(s.counters.droppedLimit, 2, "pool buffers are returned");
});

Deno.test("a frame the consumer refuses stays queued, in order", () => {
  const s = stage({});
  s.offer(frame(1), 0);
  s.offer(frame(2), 0);
  const got: number[] = [];
  s.drain(0, (f) => got.length < 1 && got.push(seqOf(f)) > 0);
  assert.deepEqual(got, [1]);
  s.drain(0, (f) => got.push(seqOf(f)) > 0);
  assert.deepEqual(got, [1, 2]);
});

Deno.test("the same seed and input times give the same output; another seed differs", () => {
  const all = {
    delayUs: 200,
    jitterUs: 150,
    lossPct: 5,
    corruptPct: 5,
    duplicatePct: 5,
    reorderPct: 5,
    rateBps: 100_000_000,
  };
  const go = (seed: number) => {
    const s = stage(all, seed);
    for (let i = 0; i < 2000; i++) s.offer(frame(i, 60 + (i % 100)), i * 3);
    return JSON.stringify([run(s, 1e9), s.counters]);
  };
  assert.equal(go(7), go(7));
  assert.notEqual(go(7), go(8));
});

Deno.test("reorder with gap sends exactly every gap-th frame at once (netem reorder 100% gap 5)", () => {
  const s = stage({ delayUs: 10_000, reorderPct: 100, reorderGap: 5 });
  for (let i = 1; i <= 12; i++) s.offer(frame(i), 0);
  const got = run(s, 1e9).map(([t, seq]) => [t, seq]);
  assert.deepEqual(got, [
    [0, 5],
    [0, 10],
    ...[1, 2, 3, 4, 6, 7, 8, 9, 11, 12].map((seq) => [10_000, seq]),
  ]);
  assert.equal(s.counters.reordered, 2);
});

Deno.test("rate counts the packet overhead in each frame's serialisation time", () => {
  // 1 mbit/s: (100 + 24) bytes take 992 µs; a negative overhead shortens it.
  const s = stage({ rateBps: 1_000_000, overheadBytes: 24 });
  s.offer(frame(1, 100), 0);
  s.offer(frame(2, 100), 0);
  assert.deepEqual(run(s, 1e9).map(([t, seq]) => [t, seq]), [[992, 1], [1984, 2]]);
  const neg = stage({ rateBps: 1_000_000, overheadBytes: -20 });
  neg.offer(frame(1, 100), 0);
  assert.equal(neg.nextDueUs(), 640);
});

Deno.test("normal jitter spreads due times around the delay; correlation smooths them", () => {
  const spread = (corr: number) => {
    const s = stage({
      delayUs: 10_000,
      jitterUs: 1000,
      distribution: "normal",
      delayCorrPct: corr,
    });
    const dues: number[] = [];
    // Each frame is offered after the previous one is due: no FIFO clamping.
    for (let i = 0; i < 2000; i++) {
      const t = i * 100_000;
      s.offer(frame(i), t);
      dues.push(s.nextDueUs() - t);
      s.drain(Infinity, () => true);
    }
    const m = dues.reduce((a, b) => a + b, 0) / dues.length;
    const sd = Math.sqrt(dues.reduce((a, b) => a + (b - m) ** 2, 0) / dues.length);
    let step = 0;
    for (let i = 1; i < dues.length; i++) step += Math.abs(dues[i] - dues[i - 1]);
    return { m, sd, step: step / (dues.length - 1) };
  };
  const free = spread(0);
  assert.ok(Math.abs(free.m - 10_000) < 100, `mean ${free.m}`);
  assert.ok(Math.abs(free.sd - 1000) < 100, `sd ${free.sd}`);
  const smooth = spread(90);
  assert.ok(smooth.step < free.step / 3, `steps ${smooth.step} vs ${free.step}`);
});

Deno.test("a live change keeps the due times of held frames and applies to new ones", () => {
  const s = stage({ delayUs: 10_000 });
  s.offer(frame(1), 0);
  s.setImpairment({ ...NO_IMPAIRMENT, lossPct: 100 });
  s.offer(frame(2), 1);
  assert.equal(s.counters.lost, 1);
  assert.deepEqual(run(s, 1e9).map(([t, seq]) => [t, seq]), [[10_000, 1]]);
  s.setImpairment(NO_IMPAIRMENT);
  assert.equal(s.passthrough, true);
  assert.equal(s.held, 0);
});

/** A net link's stage: after a live change of its timing, new frames may pass held ones. */
const netLinkStage = (imp: Impairment) =>
  new ImpairStage(imp, Prng.fromSeed(SEED).fork("test link"), null, true);

Deno.test("reorderOnChange: after a change without a rate, new frames pass the held ones (netem)", () => {
  const s = netLinkStage({ ...NO_IMPAIRMENT, delayUs: 1_000_000 });
  s.offer(frame(1), 0);
  s.offer(frame(2), 100);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 10_000 });
  s.offer(frame(3), 200);
  s.offer(frame(4), 300);
  assert.equal(s.nextDueUs(), 10_200);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 500_000 });
  s.offer(frame(5), 400);
  assert.deepEqual(run(s, 1e9).map(([t, seq]) => [t, seq]), [
    [10_200, 3],
    [10_300, 4],
    [500_400, 5],
    [1_000_000, 1],
    [1_000_100, 2],
  ]);
  assert.equal(s.counters.delayed, 5);
});

Deno.test("reorderOnChange: a change of loss alone keeps a jittered link's frames in order", () => {
  const jittered = { ...NO_IMPAIRMENT, delayUs: 10_000, jitterUs: 5_000 };
  const s = netLinkStage(jittered);
  for (let i = 0; i < 20; i++) s.offer(frame(i), i * 10);
  s.setImpairment({ ...jittered, lossPct: 0.001 });
  for (let i = 20; i < 40; i++) s.offer(frame(i), i * 10);
  const seqs = run(s, 1e9).map(([, seq]) => seq);
  assert.equal(seqs.length, 40);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "jitter never reorders");
});

Deno.test("reorderOnChange: a change to a rate serialises new frames after every held one (netem)", () => {
  const s = netLinkStage({ ...NO_IMPAIRMENT, delayUs: 1_000_000 });
  s.offer(frame(1), 0);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 10_000 });
  s.offer(frame(2), 100);
  s.setImpairment({ ...NO_IMPAIRMENT, rateBps: 1_000_000 }); // 64 bytes: 512 µs
  s.offer(frame(3), 200);
  assert.deepEqual(run(s, 1e9).map(([t, seq]) => [t, seq]), [
    [10_100, 2],
    [1_000_000, 1],
    [1_000_512, 3],
  ]);
});

Deno.test("without reorderOnChange a change keeps every frame in order (a vsock stream)", () => {
  const s = stage({ delayUs: 1_000_000 });
  s.offer(frame(1), 0);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 10_000 });
  s.offer(frame(2), 100);
  assert.deepEqual(run(s, 1e9).map(([t, seq]) => [t, seq]), [[1_000_000, 1], [1_000_000, 2]]);
});

Deno.test("a live change of limit grows the pool or drops at the new, lower limit", () => {
  const s = stage({ delayUs: 1000, limit: 2 });
  for (let i = 0; i < 3; i++) s.offer(frame(i), 0);
  assert.equal(s.counters.droppedLimit, 1);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 1000, limit: 4 });
  for (let i = 3; i < 6; i++) s.offer(frame(i), 0);
  assert.deepEqual([s.held, s.counters.droppedLimit], [4, 2]);
  s.setImpairment({ ...NO_IMPAIRMENT, delayUs: 1000, limit: 1 });
  s.offer(frame(6), 0);
  assert.deepEqual([s.held, s.counters.droppedLimit], [4, 3]);
  assert.deepEqual(run(s, 1e9).map(([, seq]) => seq), [0, 1, 3, 4]);
});

Deno.test("every model is deterministic: the same seed and offer times give the same decisions", () => {
  const all: Partial<Impairment> = {
    delayUs: 300,
    jitterUs: 200,
    delayCorrPct: 25,
    distribution: "paretonormal",
    lossModel: { kind: "gemodel", p: 5, r: 30, oneMinusH: 80, oneMinusK: 1 },
    corruptPct: 5,
    corruptCorrPct: 30,
    duplicatePct: 5,
    duplicateCorrPct: 30,
    reorderPct: 20,
    reorderCorrPct: 10,
    reorderGap: 3,
    rateBps: 50_000_000,
    overheadBytes: 14,
  };
  const go = (seed: number, imp: Partial<Impairment>) => {
    const s = stage(imp, seed);
    for (let i = 0; i < 2000; i++) s.offer(frame(i, 60 + (i % 100)), i * 3);
    return JSON.stringify([run(s, 1e9), s.counters]);
  };
  assert.equal(go(7, all), go(7, all));
  assert.notEqual(go(7, all), go(8, all));
  const state = {
    ...all,
    lossModel: { kind: "state" as const, p13: 3, p31: 40, p32: 10, p23: 20, p14: 1 },
  };
  assert.equal(go(9, state), go(9, state));
});

Deno.test("frames keep their meta word; a corrupted one is settled first (netem's checksum help)", () => {
  const settled: number[] = [];
  const settle = (frame: Uint8Array, meta: number) => {
    settled.push(meta);
    frame[0] = 0xee; // what completing a checksum would write
    return 0;
  };
  const clean = new ImpairStage({ ...NO_IMPAIRMENT, delayUs: 10 }, Prng.fromSeed(3), settle);
  clean.offer(new Uint8Array(8), 0, 0x8022_0006);
  const out: [number, number][] = [];
  clean.drain(10, (f, meta) => out.push([f[0], meta]) > 0);
  assert.deepEqual(out, [[0, 0x8022_0006]]);
  assert.deepEqual(settled, []);
  const bad = new ImpairStage({ ...NO_IMPAIRMENT, corruptPct: 100 }, Prng.fromSeed(3), settle);
  bad.offer(new Uint8Array(64), 0, 0x8022_0006);
  bad.offer(new Uint8Array(64), 0, 0);
  const got: [number, number][] = [];
  bad.drain(0, (f, meta) => got.push([f[0], meta]) > 0);
  assert.deepEqual(settled, [0x8022_0006]); // a frame without a partial checksum is left alone
  assert.deepEqual(got.map(([, meta]) => meta), [0, 0]);
  assert.equal(bad.counters.corrupted, 2);
});

Deno.test(
  "purge drops every frame held (delayed and sent ahead), frees the pool, and the next " +
    "frame does not wait behind the dropped ones",
  () => {
    // 64 bytes at 8 kbit/s: 64 ms on the wire each.
    const imp = { delayUs: 1000, rateBps: 8000, reorderPct: 100, reorderGap: 3, limit: 4 };
    const s = stage(imp);
    for (let i = 0; i < 4; i++) s.offer(frame(i), 0); // the third one is sent ahead
    assert.equal(s.counters.reordered, 1);
    assert.equal(s.held, 4);
    assert.equal(s.purge(), 4);
    assert.equal(s.held, 0);
    assert.equal(s.nextDueUs(), Infinity);
    assert.deepEqual(run(s, 1_000_000), [], "nothing held comes out later");
    assert.equal(s.counters.delivered, 0);
    // The whole pool is free again, and the rate's queue starts afresh (the dropped frames were
    // due until 193 ms): delay + 64 ms.
    s.setImpairment({ ...NO_IMPAIRMENT, ...imp, reorderPct: 0 });
    for (let i = 10; i < 14; i++) s.offer(frame(i), 50_000);
    assert.equal(s.counters.droppedLimit, 0);
    assert.equal(s.nextDueUs(), 115_000);
    assert.equal(s.purge(), 4);
    assert.equal(s.purge(), 0);
  },
);
