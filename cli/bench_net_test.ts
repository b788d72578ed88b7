import assert from "node:assert/strict";
import { parseNetOptions } from "./bench_net.ts";
import { VlabError } from "./errors.ts";

const RAW = {
  layout: "both",
  sizes: "64,1500",
  seconds: "2",
  runs: "3",
  pings: "200",
  delays: "0,2,10",
  scale: "2,16,64",
  idleSeconds: "3",
  pollUs: "0",
  queueSize: "256",
};

Deno.test("bench net options parse into the benchmark's options", () => {
  const o = parseNetOptions(RAW);
  assert.deepEqual(o.layouts, ["split", "packed"]);
  assert.deepEqual(o.frameSizes, [64, 1500]);
  assert.deepEqual(o.delaysMs, [0, 2, 10]);
  assert.deepEqual(o.scale, [2, 16, 64]);
  assert.equal(o.dashboard, false);
  assert.equal(o.vhostPci, true, "the vhost-pci row is measured by default");
  assert.equal(parseNetOptions({ ...RAW, vhostPci: false }).vhostPci, false, "--no-vhost-pci");
  assert.deepEqual(parseNetOptions({ ...RAW, scale: "none", layout: "packed" }).scale, []);
  assert.deepEqual(o.csum, [true], "checksum offload on by default");
  assert.deepEqual(parseNetOptions({ ...RAW, csum: "off,on" }).csum, [false, true]);
  assert.deepEqual(parseNetOptions({ ...RAW, csum: "off" }).csum, [false]);
  assert.deepEqual(o.placement, ["auto"], "the lab's own placement by default");
  assert.deepEqual(parseNetOptions({ ...RAW, placement: "auto,off" }).placement, ["auto", "off"]);
  assert.deepEqual(parseNetOptions({ ...RAW, placement: "off,off" }).placement, ["off"]);
  assert.equal(o.warmupSeconds, 1, "a second of warm-up by default");
  assert.equal(parseNetOptions({ ...RAW, warmup: "0" }).warmupSeconds, 0, "--warmup 0");
});

Deno.test("bad bench net options are usage errors naming the option", () => {
  for (
    const [key, value, option] of [
      ["sizes", "59", "--sizes"],
      ["layout", "ring", "--layout"],
      ["delays", "2,x", "--delays"],
      ["queueSize", "4", "--queue-size"],
      ["csum", "yes", "--csum"],
      ["placement", "pinned", "--placement"],
      ["warmup", "-1", "--warmup"],
      ["seconds", "2,3", "--seconds"],
      ["runs", "1e1", "--runs"],
    ] as const
  ) {
    assert.throws(
      () => parseNetOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.code === "bad-option" && e.message.startsWith(option),
    );
  }
});
