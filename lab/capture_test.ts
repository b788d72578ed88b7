/**
 * A live capture keeps up with a fast link: a burst of vsock-sized packets larger than a
 * drain's old share reaches the reader whole, and no frame is dropped by the tap.
 */

import assert from "node:assert/strict";
import { LinkCapture, mergePcapRecords, PcapRecordCounter, WholeRecords } from "./capture.ts";
import { TAP_MIN_RECORDS, tapCapacity, TapReader, TapWriter } from "./host/tap.ts";

/** LINKTYPE_VSOCK's record size: vsockmon header, virtio-vsock header, a 64 KiB payload. */
const VSOCK_SNAPLEN = 16 + 44 + 65536;

function records(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (let at = 0; at + 16 <= bytes.length && n < 10_000; n++) {
    at += 16 + dv.getUint32(at + 8, true);
  }
  return n;
}

Deno.test("a tap holds a burst of its largest records (64 KiB vsock packets need more than 1 MiB)", () => {
  assert.equal(tapCapacity(1514), 1 << 20);
  const capacity = tapCapacity(VSOCK_SNAPLEN);
  assert.ok(capacity >= TAP_MIN_RECORDS * VSOCK_SNAPLEN, `${capacity}`);
  assert.equal(capacity & (capacity - 1), 0, "a power of two");
});

Deno.test("one drain hands the reader every pending frame, however many bytes they are", () => {
  const taps = [0, 1].map(() => TapReader.create(tapCapacity(VSOCK_SNAPLEN), VSOCK_SNAPLEN));
  const capture = new LinkCapture(taps, mergePcapRecords, 60_000);
  let got = 0;
  const stop = capture.add((r) => got += records(r));
  try {
    const w = TapWriter.attach(taps[0].buffer);
    if (!w.ok) assert.fail(JSON.stringify(w.error));
    // 40 packets of 64 KiB (2.6 MB) between two drains: a 100 MB/s stream in 26 ms.
    const packet = new Uint8Array(VSOCK_SNAPLEN);
    for (let i = 0; i < 40; i++) assert.ok(w.value.capture(packet, { tsUs: i, direction: 0 }));
    assert.equal(taps[0].counters().tapDropped, 0);
  } finally {
    stop(); // the last reader leaving drains once more
  }
  assert.equal(got, 40);
});

/**
 * A pcap stream: a 24-byte global header (zeros) and a record of each size, record i's frame
 * filled with `fill` (default i + 1); `ends` holds where the header and each record end.
 */
function pcapStream(sizes: number[], fill?: number): { bytes: Uint8Array; ends: number[] } {
  const bytes = new Uint8Array(24 + sizes.reduce((s, n) => s + 16 + n, 0));
  const dv = new DataView(bytes.buffer);
  const ends = [24];
  for (const [i, n] of sizes.entries()) {
    dv.setUint32(ends.at(-1)! + 8, n, true);
    bytes.fill(fill ?? i + 1, ends.at(-1)! + 16, ends.at(-1)! + 16 + n);
    ends.push(ends.at(-1)! + 16 + n);
  }
  return { bytes, ends };
}

Deno.test("PcapRecordCounter counts the records of a stream cut at any byte", () => {
  // A global header, then records of 0, 60 and 1514 bytes whose payload bytes would read as
  // huge lengths.
  const { bytes } = pcapStream([0, 60, 1514], 0xff);
  for (const cut of [1, 7, 16, 24, 25, 40, 41, 100, bytes.length]) {
    const counter = new PcapRecordCounter();
    for (let i = 0; i < bytes.length; i += cut) counter.push(bytes.subarray(i, i + cut));
    assert.equal(counter.records, 3, `chunks of ${cut} bytes`);
  }
  const records = new PcapRecordCounter(0);
  records.push(bytes.subarray(24));
  assert.equal(records.records, 3);
});

Deno.test("PcapRecordCounter says how many bytes after the last whole record a cut would tear", () => {
  const { bytes, ends } = pcapStream([60, 0, 1514]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const counter = new PcapRecordCounter();
    counter.push(bytes.subarray(0, Math.min(cut, 10)));
    counter.push(bytes.subarray(Math.min(cut, 10), cut));
    const lastEnd = cut < 24 ? 0 : Math.max(...ends.filter((e) => e <= cut));
    assert.equal(counter.partialBytes, cut - lastEnd, `cut at ${cut}`);
    assert.equal(counter.complete, ends.filter((e) => e > 24 && e <= cut).length, `cut at ${cut}`);
  }
});

Deno.test("WholeRecords hands on a stream cut anywhere in whole records, a torn last one left out", () => {
  const { bytes, ends } = pcapStream([60, 0, 1514, 42]);
  for (const chunk of [1, 5, 16, 17, 100, 700, bytes.length]) {
    for (const stop of [0, 23, 24, 30, 100, 1700, bytes.length - 1, bytes.length]) {
      const whole = new WholeRecords();
      const out: number[] = [];
      for (let i = 0; i < stop; i += chunk) {
        for (const part of whole.push(bytes.subarray(i, Math.min(i + chunk, stop)))) {
          out.push(...part);
        }
      }
      const lastEnd = stop < 24 ? 0 : Math.max(...ends.filter((e) => e <= stop));
      const what = `chunks of ${chunk}, cut at ${stop}`;
      assert.deepEqual(new Uint8Array(out), bytes.subarray(0, lastEnd), what);
      assert.equal(whole.records, ends.filter((e) => e > 24 && e <= stop).length, what);
    }
  }
});

Deno.test("WholeRecords with a limit hands on the header and the first N records, then nothing", () => {
  const sizes = [60, 0, 1514, 42, 98];
  const { bytes, ends } = pcapStream(sizes);
  for (const limit of [1, 2, 4, 5, 9]) {
    for (const chunk of [1, 7, 16, 24, 40, 1600, bytes.length]) {
      const whole = new WholeRecords(limit);
      const out: number[] = [];
      for (let i = 0; i < bytes.length; i += chunk) {
        for (const part of whole.push(bytes.subarray(i, i + chunk))) out.push(...part);
      }
      const what = `limit ${limit}, chunks of ${chunk}`;
      const n = Math.min(limit, sizes.length);
      assert.deepEqual(new Uint8Array(out), bytes.subarray(0, ends[n]), what);
      assert.equal(whole.records, n, what);
      assert.equal(whole.full, limit <= sizes.length, what);
    }
  }
  assert.throws(() => new WholeRecords(0), RangeError);
  assert.throws(() => new WholeRecords(1.5), RangeError);
});

/** A link's two taps, each with the writer its link direction's consumer would attach. */
function linkTaps(): { taps: TapReader[]; writers: TapWriter[] } {
  const taps = [0, 1].map(() => TapReader.create(1 << 16, 1514));
  const writers = taps.map((t) => {
    const w = TapWriter.attach(t.buffer);
    if (!w.ok) assert.fail(JSON.stringify(w.error));
    return w.value;
  });
  return { taps, writers };
}

Deno.test("a capture's timeline holds across drains: a record published during a drain waits for the next", async () => {
  const { taps, writers } = linkTaps();
  const frame = new Uint8Array(60);
  // While the forward tap is drained, each direction's consumer delivers one more frame: the
  // forward one (175 µs) before the reverse one (181 µs).
  let injected = false;
  const forward = {
    capacity: taps[0].capacity,
    setEnabled: (on: boolean) => taps[0].setEnabled(on),
    head: () => taps[0].head(),
    drain: (maxBytes: number, upTo?: number) => {
      const records = taps[0].drain(maxBytes, upTo);
      if (!injected) {
        injected = true;
        assert.ok(writers[0].capture(frame, { tsUs: 175, direction: 0 }));
        assert.ok(writers[1].capture(frame, { tsUs: 181, direction: 0 }));
      }
      return records;
    },
  } as unknown as TapReader;
  const capture = new LinkCapture([forward, taps[1]], mergePcapRecords, 5);
  const times: number[] = [];
  const stop = capture.add((r) => {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    for (let at = 0; at + 16 <= r.length; at += 16 + dv.getUint32(at + 8, true)) {
      times.push(dv.getUint32(at, true) * 1e6 + dv.getUint32(at + 4, true));
    }
  });
  assert.ok(writers[0].capture(frame, { tsUs: 100, direction: 0 }));
  const deadline = performance.now() + 5_000;
  while (!injected) {
    assert.ok(performance.now() < deadline, "no drain ran");
    await new Promise((r) => setTimeout(r, 5));
  }
  stop(); // the last drain
  assert.deepEqual(times, [100, 175, 181]);
});

Deno.test("a record its worker published late still comes out in time order: the newest records wait for the next drain", async () => {
  const { taps, writers } = linkTaps();
  const frame = new Uint8Array(60);
  let now = 1_000_000; // µs, the records' clock
  const capture = new LinkCapture(taps, mergePcapRecords, 5, { holdMs: 50, nowUs: () => now });
  const times: number[] = [];
  const drained = () => new Promise((r) => setTimeout(r, 30));
  const stop = capture.add((r) => {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    for (let at = 0; at + 16 <= r.length; at += 16 + dv.getUint32(at + 8, true)) {
      times.push(dv.getUint32(at, true) * 1e6 + dv.getUint32(at + 4, true));
    }
  });
  // The reverse direction's frame at 1 000 020 µs is published and drained at once; the forward
  // worker stamped its frame at 1 000 010 µs but publishes it only after that drain.
  assert.ok(writers[1].capture(frame, { tsUs: 1_000_020, direction: 1 }));
  await drained();
  assert.deepEqual(times, [], "younger than the hold: kept back");
  assert.ok(writers[0].capture(frame, { tsUs: 1_000_010, direction: 0 }));
  now = 1_060_000;
  await drained();
  assert.deepEqual(times, [1_000_010, 1_000_020]);
  assert.ok(writers[0].capture(frame, { tsUs: 1_059_000, direction: 0 }));
  await drained();
  assert.deepEqual(times.length, 2, "still inside the hold");
  stop(); // the last drain hands on everything
  assert.deepEqual(times, [1_000_010, 1_000_020, 1_059_000]);
});

Deno.test("a capture beside another of its link gets its own frames: none from before it began, all up to its end", () => {
  // The captures of a link share one drain that keeps the newest records back (the hold): one
  // that ended while another ran lacked the frames kept back then (its last 50 ms), and one that
  // began while another ran got the frames kept back from before it began (a ping's previous
  // reply, in lab.capture with a signal). No drain timer runs here: joins and leaves alone.
  const { taps, writers } = linkTaps();
  const frame = new Uint8Array(60);
  const capture = new LinkCapture(taps, mergePcapRecords, 60_000, { nowUs: () => 1_000_000 });
  const stamps = (into: number[]) => (r: Uint8Array) => {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    for (let at = 0; at + 16 <= r.length; at += 16 + dv.getUint32(at + 8, true)) {
      into.push(dv.getUint32(at, true) * 1e6 + dv.getUint32(at + 4, true));
    }
  };
  const first: number[] = [];
  const second: number[] = [];
  const stopFirst = capture.add(stamps(first));
  assert.ok(writers[0].capture(frame, { tsUs: 1_000_010, direction: 0 }));
  const stopSecond = capture.add(stamps(second));
  // The reverse worker stamped a frame before the second capture began and publishes it after.
  assert.ok(writers[1].capture(frame, { tsUs: 1_000_005, direction: 1 }));
  assert.ok(writers[1].capture(frame, { tsUs: 1_000_030, direction: 1 }));
  stopFirst();
  assert.deepEqual(first, [1_000_005, 1_000_010, 1_000_030], "every frame up to its end");
  assert.ok(writers[0].capture(frame, { tsUs: 1_000_040, direction: 0 }));
  stopSecond(); // the last reader: the last drain
  assert.deepEqual(second, [1_000_030, 1_000_040], "none from before it began");
  assert.equal(capture.readers, 0);
});

Deno.test("a reader that throws gets no more frames and its error reaches its onEnd, or is reported", async () => {
  // A script's capture callback that threw was dropped without a word: its frames went missing.
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    reported.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const { taps, writers } = linkTaps();
    const capture = new LinkCapture(taps, mergePcapRecords, 60_000);
    const ends: { reader: string; ended: unknown }[] = [];
    let calls = 0;
    let good = 0;
    capture.add(() => {
      calls++;
      throw new Error("a bug in the reader");
    }, (ended) => ends.push({ reader: "with onEnd", ended }));
    capture.add(() => {
      throw new Error("a reader without onEnd");
    });
    capture.add((r) => good += r.length, (ended) => ends.push({ reader: "good", ended }));
    assert.ok(writers[0].capture(new Uint8Array(60), { tsUs: 1, direction: 0 }));
    capture.close(); // the last drain, then the readers left are told the lab stopped
    assert.equal(calls, 1);
    assert.equal(good, 16 + 60, "the other readers go on");
    assert.equal(ends.length, 2);
    assert.equal(ends[0].reader, "with onEnd");
    assert.match(String((ends[0].ended as { error: unknown }).error), /a bug in the reader/);
    assert.deepEqual(ends[1], { reader: "good", ended: undefined });
    assert.deepEqual(reported, [], "reported once the drain is done, not inside it");
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(reported.length, 1);
    assert.match(String(reported[0]), /a reader without onEnd/);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("an async reader whose promise rejects is taken out as one that throws, its error to its onEnd", async () => {
  // Its rejection was an unhandled rejection (the process ended), and the reader stayed.
  const { taps, writers } = linkTaps();
  const capture = new LinkCapture(taps, mergePcapRecords, 5, { holdMs: 0 });
  const ends: unknown[] = [];
  let calls = 0;
  // deno-lint-ignore require-await
  capture.add(async () => {
    calls++;
    throw new Error("the file is closed");
  }, (ended) => ends.push(ended));
  let other = 0;
  capture.add((r) => other += r.length); // another reader keeps the capture going
  try {
    assert.ok(writers[0].capture(new Uint8Array(60), { tsUs: 1, direction: 0 }));
    const deadline = performance.now() + 5000;
    while (ends.length === 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(ends.length, 1);
    assert.match(String((ends[0] as { error: unknown }).error), /the file is closed/);
    assert.equal(capture.readers, 1);
    assert.ok(writers[1].capture(new Uint8Array(60), { tsUs: 2, direction: 0 }));
  } finally {
    capture.close();
  }
  assert.equal(calls, 1, "no more frames after it rejected");
  assert.equal(other, 2 * (16 + 60));
});
