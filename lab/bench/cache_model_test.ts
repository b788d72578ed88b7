import assert from "node:assert/strict";
import { CoherenceModel, runCacheModel, Side } from "./cache_model.ts";

Deno.test("a read of a line the other side wrote moves it; a second read does not", () => {
  const m = new CoherenceModel();
  m.access(Side.Driver, 0x1000, true);
  assert.equal(m.transfers, 0, "a cold write moves nothing");
  m.access(Side.Device, 0x103f, false);
  assert.equal(m.transfers, 1, "same 64-byte line");
  m.access(Side.Device, 0x1000, false);
  assert.equal(m.transfers, 1, "the device holds it now");
  m.access(Side.Device, 0x1040, false);
  assert.equal(m.transfers, 1, "the next line is cold: served by memory");
});

Deno.test("a write to a shared line invalidates the other copy, and the next read moves it", () => {
  const m = new CoherenceModel();
  m.access(Side.Driver, 0x2000, true);
  m.access(Side.Device, 0x2000, false);
  m.access(Side.Driver, 0x2002, true);
  assert.equal(m.invalidations, 1);
  m.access(Side.Driver, 0x2004, true);
  assert.equal(m.invalidations, 1, "the driver already holds the only copy");
  m.access(Side.Device, 0x2000, false);
  assert.equal(m.transfers, 2);
});

function lines(layout: "split" | "packed", batch: number, notify = false): number {
  return runCacheModel({
    layout,
    queueSize: 256,
    batch,
    outstanding: false,
    requests: 4096,
    notify,
  })
    .linesPerRequest;
}

Deno.test("the model gives the talk's split figures: about 5 lines unbatched, 1.25 at batch 4", () => {
  assert.ok(Math.abs(lines("split", 1) - 5) < 0.1, `batch 1: ${lines("split", 1)}`);
  assert.ok(lines("split", 4) > 1.1 && lines("split", 4) < 1.5, `batch 4: ${lines("split", 4)}`);
});

Deno.test("the model gives the talk's packed figures: 2 to 4 unbatched, 0.5 to 1 at batch 4", () => {
  assert.equal(lines("packed", 1), 2);
  assert.equal(lines("packed", 4), 0.5);
});

Deno.test("lines per request fall with batch size for both layouts", () => {
  for (const layout of ["split", "packed"] as const) {
    let previous = Infinity;
    for (const batch of [1, 2, 4, 8, 16, 32, 64]) {
      const now = lines(layout, batch);
      assert.ok(now <= previous, `${layout} batch ${batch}: ${now} > ${previous}`);
      previous = now;
    }
  }
});

Deno.test("notify mode adds the event-suppression lines on top of polling", () => {
  for (const layout of ["split", "packed"] as const) {
    assert.ok(lines(layout, 1, true) > lines(layout, 1), layout);
  }
});

Deno.test("runCacheModel refuses a batch or a request count it could never finish with", () => {
  const base = {
    layout: "split" as const,
    queueSize: 256,
    batch: 4,
    outstanding: false,
    requests: 64,
    notify: false,
  };
  for (const batch of [0, -1, 1.5, 257, NaN]) {
    assert.throws(
      () => runCacheModel({ ...base, batch }),
      (e: unknown) =>
        e instanceof RangeError &&
        /batch must be a whole number from 1 to the queue size/.test(e.message),
      `batch ${batch}`,
    );
  }
  for (const requests of [0, 2.5, Infinity]) {
    assert.throws(() => runCacheModel({ ...base, requests }), RangeError, `requests ${requests}`);
  }
  assert.equal(runCacheModel({ ...base, batch: 256 }).requests >= 64, true);
});
