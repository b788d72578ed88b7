import assert from "node:assert/strict";
import { parseVsockBenchOptions } from "./bench_vsock.ts";
import { VlabError } from "./errors.ts";

const RAW = { bytes: "1048576", runs: "3", connections: "20", pings: "100" };

Deno.test("bench vsock options parse into the benchmark's options", () => {
  assert.deepEqual(parseVsockBenchOptions(RAW), {
    bytes: 1 << 20,
    runs: 3,
    connections: 20,
    pings: 100,
  });
});

Deno.test("bad bench vsock options are usage errors naming the option", () => {
  for (
    const [key, value, option] of [
      ["bytes", "0", "--bytes"],
      ["runs", "x", "--runs"],
      ["connections", "-1", "--connections"],
      ["pings", "1.5", "--pings"],
    ] as const
  ) {
    assert.throws(
      () => parseVsockBenchOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.code === "bad-option" && e.message.startsWith(option),
    );
  }
});
