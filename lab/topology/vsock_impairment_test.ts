import assert from "node:assert/strict";
import { NO_IMPAIRMENT } from "../host/impair.ts";
import { parseTopology } from "./mod.ts";
import { parseImpairment } from "./impairment.ts";
import { VSOCK_IMPAIRMENT_HINT, vsockImpairmentProblem } from "./vsock_impairment.ts";

const PAIR = (link: string) =>
  "name: x\nvms:\n  a: { vsock: { cid: 3 } }\n  b: { vsock: { cid: 4 } }\n" +
  `links:\n  - kind: vsock\n    endpoints: [a, b]\n${link}`;

function problems(yaml: string): string[] {
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok, `expected problems in:\n${yaml}`);
  return r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`);
}

Deno.test("a vsock link takes delay, rate, overhead and limit, per direction, and plans them", () => {
  const r = parseTopology(
    PAIR("    delay: 5ms\n    rate: 1gbit\n    reverse: { delay: 1ms, limit: 64 }\n") +
      "defaults: { link: { loss: 5%, limit: 4 } }\n",
    "t.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
  const [l] = r.value.vsockLinks;
  assert.deepEqual(
    [l.forward.delayUs, l.forward.rateBps, l.forward.limit, l.forward.lossPct],
    [5000, 1e9, 16, 0], // a default loss is for net links; a default limit 4 is raised to 16
  );
  assert.deepEqual([l.reverse.delayUs, l.reverse.rateBps, l.reverse.limit], [1000, 1e9, 64]);
});

Deno.test("loss, duplicate, corrupt and reorder on a vsock link are refused at their key", () => {
  assert.deepEqual(problems(PAIR("    loss: 1%\n    forward: { corrupt: 2% }\n")), [
    '8:11 vsock-impairment Vsock link "a-b-vsock" cannot have `loss`: vsock is a reliable stream, ' +
    "and a lost, duplicated, corrupted or reordered packet breaks the connection",
    '9:25 vsock-impairment Vsock link "a-b-vsock" cannot have `corrupt`: vsock is a reliable ' +
    "stream, and a lost, duplicated, corrupted or reordered packet breaks the connection",
  ]);
  assert.match(problems(PAIR("    limit: 4\n"))[0], /^8:12 vsock-impairment Cannot set limit 4 on/);
  // In a file, a hint is lower case like every topology problem's (live, a command's is not).
  const small = parseTopology(PAIR("    limit: 4\n"), "t.yaml");
  assert.ok(!small.ok);
  assert.equal(small.error[0].hint, "use limit 16 or more");
  const routed = "name: x\nvms: { a: { vsock: { cid: 3 } } }\nvsock_routers: { r: {} }\n" +
    "links:\n  - kind: vsock\n    endpoints: [a, r]\n    delay: 1ms\n";
  assert.match(problems(routed)[0], /^7:12 vsock-impairment .*to a vsock router takes no/);
});

Deno.test("a vsock link takes jitter (it never reorders), from the file, the defaults and live", () => {
  const r = parseTopology(
    PAIR("    delay: 5ms\n    jitter: 1ms\n    reverse: { distribution: normal }\n") +
      "defaults: { link: { delay_correlation: 25% } }\n",
    "t.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
  const [l] = r.value.vsockLinks;
  assert.deepEqual(
    [l.forward.jitterUs, l.forward.distribution, l.reverse.distribution, l.reverse.delayCorrPct],
    [1000, "uniform", "normal", 25],
  );
  assert.equal(vsockImpairmentProblem("v", { ...NO_IMPAIRMENT, delayUs: 1, jitterUs: 1 }), null);
});

Deno.test("a live change refuses what a vsock link cannot take, with a hint", () => {
  assert.equal(vsockImpairmentProblem("v", { ...NO_IMPAIRMENT, delayUs: 1, rateBps: 1e6 }), null);
  const p = vsockImpairmentProblem("v", { ...NO_IMPAIRMENT, lossPct: 1, reorderPct: 2 });
  assert.match(p!.message, /^Cannot set loss, reorder on vsock link "v": vsock is a reliable/);
  assert.match(p!.hint, /delay \(with jitter\), rate/);
  assert.match(vsockImpairmentProblem("v", { ...NO_IMPAIRMENT, limit: 3 })!.message, /limit 3/);
});

Deno.test("a live reorder on a vsock link says what a vsock link takes, not 'set delay above 0'", () => {
  // `vlab link a-b-vsock set reorder=5%` hinted a delay, which the vsock link then refused too.
  const r = parseImpairment({ reorder: "5%" });
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  const p = vsockImpairmentProblem("a-b-vsock", r.value);
  assert.match(p!.message, /^Cannot set reorder on vsock link "a-b-vsock": vsock is a reliable/);
  assert.equal(p!.hint, VSOCK_IMPAIRMENT_HINT);
});

Deno.test("a live change refuses the loss, corruption, duplication and reorder knobs alone, as a file does", () => {
  // `vlab link a-b-vsock set gap=5` (or reorder_correlation=5%) was taken and did nothing, where
  // the topology file refuses the key on a vsock link.
  for (
    const [raw, key] of [
      [{ gap: 5 }, "gap"],
      [{ reorder_correlation: "5%" }, "reorder_correlation"],
      [{ loss_correlation: "5%" }, "loss_correlation"],
      [{ corrupt_correlation: "5%" }, "corrupt_correlation"],
      [{ duplicate_correlation: "5%" }, "duplicate_correlation"],
    ] as const
  ) {
    const r = parseImpairment(raw);
    assert.ok(r.ok, key);
    const p = vsockImpairmentProblem("a-b-vsock", r.value);
    assert.equal(p?.message.startsWith(`Cannot set ${key} on vsock link "a-b-vsock"`), true, key);
    assert.match(
      problems(PAIR(`    ${key}: ${Object.values(raw)[0]}\n`))[0],
      new RegExp(`\`${key}\``),
    );
  }
  const ok = parseImpairment({ delay: "1ms", delay_correlation: "25%", jitter: "1ms" });
  assert.ok(ok.ok);
  assert.equal(vsockImpairmentProblem("a-b-vsock", ok.value), null);
});
