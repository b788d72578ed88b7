import assert from "node:assert/strict";
import { parseIommuOptions } from "./bench_iommu.ts";
import { VlabError } from "./errors.ts";

const RAW = { modes: "none,static", sizes: "64,1500", frames: "1000", runs: "2", warmup: "3" };

Deno.test("bench iommu options parse into modes, sizes, frames and runs", () => {
  assert.deepEqual(parseIommuOptions(RAW), {
    modes: ["none", "static"],
    frameSizes: [64, 1500],
    frames: 1000,
    runs: 2,
    warmupSeconds: 3,
  });
});

Deno.test("bench iommu takes every DMA mode and refuses an unknown one with a hint", () => {
  assert.deepEqual(parseIommuOptions({ ...RAW, modes: "strict,lazy" }).modes, ["strict", "lazy"]);
  assert.throws(() => parseIommuOptions({ ...RAW, modes: "eager" }), (e: unknown) => {
    assert.ok(e instanceof VlabError);
    assert.equal(e.code, "bad-option");
    assert.match(e.message, /--modes takes none, strict, lazy, static, passthrough, got "eager"/);
    assert.match(e.hint ?? "", /For example --modes/);
    return true;
  });
  // Exact, as every option value is; a near miss gets a did-you-mean.
  assert.throws(
    () => parseIommuOptions({ ...RAW, modes: "none,STATIC" }),
    (e) =>
      e instanceof VlabError && /got "STATIC"/.test(e.message) &&
      e.hint === "Did you mean static? (for example --modes none,strict,lazy,static,passthrough)",
  );
  assert.throws(() => parseIommuOptions({ ...RAW, sizes: "9000" }), /--sizes must be/);
  assert.throws(() => parseIommuOptions({ ...RAW, warmup: "-1" }), /--warmup must be/);
  // Seconds now, as in `bench net`: a frame count of old is refused, not waited out.
  assert.throws(
    () => parseIommuOptions({ ...RAW, warmup: "50000" }),
    /--warmup must be an integer from 0 to 60, got "50000"/,
  );
  // One value, not a list's first item.
  assert.throws(
    () => parseIommuOptions({ ...RAW, runs: "100,200" }),
    /--runs must be an integer from 1 to 500, got "100,200"/,
  );
});

Deno.test("a DMA mode or a frame size named twice is measured once", () => {
  assert.deepEqual(parseIommuOptions({ ...RAW, sizes: "64,64" }).frameSizes, [64]);
  assert.deepEqual(parseIommuOptions({ ...RAW, modes: "static, static,none" }).modes, [
    "static",
    "none",
  ]);
});
