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

Deno.test("bench net refuses what a lab would refuse or measure otherwise, before any lab runs", () => {
  const refuses = (raw: Partial<Parameters<typeof parseNetOptions>[0]>, message: RegExp) =>
    assert.throws(
      () => parseNetOptions({ ...RAW, ...raw }),
      (e) => e instanceof VlabError && e.code === "bad-option" && message.test(e.message),
    );
  // Split rings need a power of 2: the first lab would fail after the first bare-ring run.
  refuses(
    { queueSize: "100" },
    /^--queue-size must be a power of 2 for the split layout, got 100$/,
  );
  refuses({ queueSize: "100", layout: "split" }, /power of 2/);
  assert.equal(parseNetOptions({ ...RAW, queueSize: "100", layout: "packed" }).queueSize, 100);
  // A scale lab is N/2 pairs: 3 would be measured as a 2-VM lab, under the name 2.
  refuses({ scale: "2,3" }, /^--scale takes even lab sizes \(N\/2 linked pairs\), got 3$/);
  assert.deepEqual(parseNetOptions({ ...RAW, scale: "16,2,16" }).scale, [16, 2], "each size once");
  // Modes that replace the rest cannot be combined with each other or with the veth comparison.
  refuses({ star: true, dashboard: true }, /--star and --dashboard/);
  refuses({ star: true, vsVeth: true }, /^--vs-veth .* --star does not measure$/);
  refuses({ dashboard: true, vsVeth: true }, /--dashboard does not measure$/);
  assert.equal(parseNetOptions({ ...RAW, vsVeth: true }).star, false);
});

Deno.test("bench net's --csum and --placement errors name only values they take", () => {
  for (
    const [key, value, good] of [["csum", "both", "off,on"], ["placement", "both", "auto,off"]]
  ) {
    assert.throws(
      () => parseNetOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.message.includes(good) && !/\bor both\b/.test(e.message),
    );
    parseNetOptions({ ...RAW, [key]: good }); // what the message offers is taken
  }
});
