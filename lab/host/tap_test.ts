import assert from "node:assert/strict";
import { pcapGlobalHeader } from "./pcap.ts";
import { TapOffset, TapReader, TapWriter } from "./tap.ts";

function frame(src: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, src], 6);
  f[12] = 0x08;
  return f;
}

/** Parse pcap records into [tsUs, inclLen, origLen, src byte] tuples. */
function parse(bytes: Uint8Array): Array<[number, number, number, number]> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Array<[number, number, number, number]> = [];
  for (let at = 0; at < bytes.length && out.length < 10_000;) {
    const incl = dv.getUint32(at + 8, true);
    out.push([
      dv.getUint32(at, true) * 1e6 + dv.getUint32(at + 4, true),
      incl,
      dv.getUint32(at + 12, true),
      bytes[at + 16 + 11],
    ]);
    at += 16 + incl;
  }
  return out;
}

function pair(capacity = 1 << 12, snaplen = 256): { r: TapReader; w: TapWriter } {
  const r = TapReader.create(capacity, snaplen);
  const w = TapWriter.attach(r.buffer);
  assert.ok(w.ok);
  return { r, w: w.value };
}

Deno.test("nothing is captured until the tap is enabled", () => {
  const { r, w } = pair();
  assert.equal(w.capture(frame(1, 60), { tsUs: 1, direction: 0 }), false);
  assert.equal(r.drain(1 << 16).length, 0);
  r.setEnabled(true);
  assert.equal(w.capture(frame(1, 60), { tsUs: 1, direction: 0 }), true);
  assert.deepEqual(parse(r.drain(1 << 16)), [[1, 60, 60, 1]]);
});

Deno.test("drained records keep order, timestamps and snaplen across many wraps", () => {
  const { r, w } = pair(1 << 10, 200);
  r.setEnabled(true);
  const got: Array<[number, number, number, number]> = [];
  for (let i = 0; i < 500; i++) {
    const len = 60 + ((i * 37) % 300);
    assert.ok(w.capture(frame(i & 0xff, len), { tsUs: 1e15 + i, direction: i & 1 }), `frame ${i}`);
    if (i % 3 === 2) got.push(...parse(r.drain(1 << 16)));
  }
  got.push(...parse(r.drain(1 << 16)));
  assert.equal(got.length, 500);
  got.forEach(([ts, incl, orig, src], i) => {
    const len = 60 + ((i * 37) % 300);
    assert.deepEqual([ts, incl, orig, src], [1e15 + i, Math.min(len, 200), len, i & 0xff]);
  });
  assert.equal(r.counters().tapFrames, 500);
});

Deno.test("a frame is kept at its phase past a multiple of 8, across wraps, and drained whole", () => {
  const { r, w } = pair(1 << 10, 200);
  r.setEnabled(true);
  const ring = new Uint8Array(new SharedArrayBuffer(4096));
  const tap = new Uint8Array(r.buffer);
  const got: Array<[number, number, number, number]> = [];
  const head = () => Atomics.load(new Int32Array(r.buffer), TapOffset.head / 4) >>> 0;
  for (let i = 0; i < 300; i++) {
    const phase = (i * 3) % 8;
    const len = 60 + ((i * 37) % 150);
    const f = ring.subarray(64 + phase, 64 + phase + len);
    f.set(frame(i & 0xff, len));
    // Drained after every capture: the record starts at the head, or at 0 if it would not fit.
    const pos = head() & 1023;
    const start = TapOffset.dataStart + (pos + align8(24 + phase + len) > 1024 ? 0 : pos);
    assert.ok(w.capture(f, { tsUs: i, direction: 0 }), `frame ${i}`);
    // The record's copy of the frame starts at the frame's own phase.
    assert.equal(tap[start + 17], phase);
    assert.equal((start + 24 + phase) % 8, phase);
    assert.equal(tap[start + 24 + phase + 11], i & 0xff);
    got.push(...parse(r.drain(1 << 16)));
  }
  assert.deepEqual(
    got.map(([ts, incl]) => [ts, incl]),
    got.map((_, i) => [i, Math.min(200, 60 + ((i * 37) % 150))]),
  );
  assert.deepEqual(got.map((g) => g[3]), got.map((_, i) => i & 0xff));
  // A record whose phase byte is out of range is a corrupt tap: drain discards it.
  assert.ok(w.capture(frame(1, 60), { tsUs: 1, direction: 0 }));
  const at = TapOffset.dataStart +
    ((Atomics.load(new Int32Array(r.buffer), TapOffset.tail / 4) >>> 0) & 1023);
  tap[at + 17] = 9;
  assert.equal(r.drain(1 << 16).length, 0);
});

function align8(n: number): number {
  return (n + 7) & ~7;
}

Deno.test("a full tap drops and counts instead of blocking", () => {
  const { r, w } = pair(1 << 10, 200);
  r.setEnabled(true);
  let accepted = 0;
  for (let i = 0; i < 50; i++) if (w.capture(frame(i, 100), { tsUs: i, direction: 0 })) accepted++;
  assert.ok(accepted > 0 && accepted < 50);
  assert.equal(r.counters().tapDropped, 50 - accepted);
  assert.equal(parse(r.drain(1 << 20)).length, accepted);
  assert.ok(w.capture(frame(1, 100), { tsUs: 0, direction: 0 }), "space again after drain");
});

Deno.test("drain stops near maxBytes but always returns at least one record", () => {
  const { r, w } = pair();
  r.setEnabled(true);
  for (let i = 0; i < 3; i++) w.capture(frame(i, 100), { tsUs: i, direction: 0 });
  assert.equal(r.drain(10).length, 116);
  assert.equal(r.drain(240).length, 232);
  assert.equal(r.drain(240).length, 0);
});

Deno.test("attach rejects a buffer that is not a tap", () => {
  const bad = TapWriter.attach(new SharedArrayBuffer(TapOffset.dataStart + 256));
  assert.equal(bad.ok ? "" : bad.error.kind, "bad-tap-header");
  assert.throws(() => TapReader.create(1000), /power of 2/);
});

Deno.test("tshark reads the drained capture", async () => {
  const canRun = (await Deno.permissions.query({ name: "run", command: "tshark" })).state;
  const canWrite = (await Deno.permissions.query({ name: "write" })).state;
  let hasTshark = false;
  try {
    hasTshark = Deno.statSync("/usr/bin/tshark").isFile;
  } catch { /* absent or not readable */ }
  if (!hasTshark || canRun !== "granted" || canWrite !== "granted") {
    console.log(
      `skipped: needs /usr/bin/tshark (${hasTshark}), --allow-run (${canRun}), --allow-write (${canWrite})`,
    );
    return;
  }
  const { r, w } = pair(1 << 16, 2048);
  r.setEnabled(true);
  const lens = [60, 98, 1514];
  lens.forEach((len, i) => w.capture(frame(i + 1, len), { tsUs: 1.7e15 + i * 1000, direction: 0 }));
  const body = r.drain(1 << 20);
  const file = new Uint8Array(24 + body.length);
  file.set(pcapGlobalHeader(2048));
  file.set(body, 24);
  const path = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    await Deno.writeFile(path, file);
    const res = await new Deno.Command("/usr/bin/tshark", {
      args: ["-r", path, "-T", "fields", "-e", "frame.len", "-e", "eth.src"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
    assert.deepEqual(
      text.trim().split("\n").map((l) => l.trim().split("\t")),
      lens.map((len, i) => [String(len), `02:00:00:00:00:0${i + 1}`]),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("staged records reach the reader at publish; a writer that dies before it leaves none", () => {
  const { r, w } = pair();
  r.setEnabled(true);
  assert.ok(w.stage(frame(1, 60), { tsUs: 1, direction: 0 }));
  assert.equal(r.drain(1 << 16).length, 0, "not before publish");
  w.publish();
  assert.deepEqual(parse(r.drain(1 << 16)), [[1, 60, 60, 1]]);
  // A writer dying mid-pass: what it staged is not seen; its successor starts from the head.
  assert.ok(w.stage(frame(2, 60), { tsUs: 2, direction: 0 }));
  const next = TapWriter.attach(r.buffer);
  assert.ok(next.ok);
  assert.ok(next.value.stage(frame(3, 60), { tsUs: 3, direction: 0 }));
  next.value.publish();
  assert.deepEqual(parse(r.drain(1 << 16)), [[3, 60, 60, 3]]);
  assert.equal(r.counters().tapFrames, 2);
});
