import assert from "node:assert/strict";
import { closestName, didYouMean, formatIssues, pathToString } from "./issues.ts";
import { loadTopologyFile } from "./files.ts";
import { parseTopology } from "./load.ts";

Deno.test("paths render as dotted keys and bracketed indices", () => {
  assert.equal(pathToString(["links", 0, "endpoints", 1]), "links[0].endpoints[1]");
  assert.equal(pathToString(["vms", "a", "nics", "eth0", "ip"]), "vms.a.nics.eth0.ip");
  assert.equal(pathToString(["vms", "A B"]), 'vms["A B"]');
  assert.equal(pathToString([]), "");
});

Deno.test("suggestions need a close match and never replace a whole short word", () => {
  assert.equal(closestName("lyout", ["layout", "mtu"]), "layout");
  assert.equal(closestName("sw", ["sw1", "a"]), "sw1");
  assert.equal(closestName("c", ["a", "b"]), undefined);
  assert.equal(closestName("memory", ["links"]), undefined);
  assert.equal(didYouMean("c", ["a", "b", "a"]), "expected one of `a`, `b`");
  assert.equal(didYouMean("x", []), null);
});

Deno.test("issues print as file:line:col with a hint line", () => {
  const text = formatIssues([
    {
      code: "unknown-key",
      path: "vms.a.lyout",
      line: 4,
      column: 5,
      message: 'Unknown key "lyout" in vms.a',
      hint: "did you mean `layout`?",
    },
    { code: "unreadable", path: "", line: null, column: null, message: "Cannot read", hint: null },
  ], "lab.yaml");
  assert.equal(
    text,
    'lab.yaml:4:5: Unknown key "lyout" in vms.a\n  hint: did you mean `layout`?\nlab.yaml: Cannot read',
  );
  assert.equal(formatIssues([], "lab.yaml"), "");
});

Deno.test("a file that cannot be read prints its path once, not `file: file: …`", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/lab.yaml`;
    const r = await loadTopologyFile(missing);
    assert.ok(!r.ok);
    assert.equal(
      formatIssues(r.error, missing).split("\n")[0],
      `Cannot read topology file "${missing}": no such file`,
    );
    const folder = await loadTopologyFile(dir);
    assert.ok(!folder.ok);
    assert.equal(
      formatIssues(folder.error, dir).split("\n")[0],
      `Cannot read topology file "${dir}": it is a folder`,
    );
    // A problem with no line whose message does not name the file keeps the path in front.
    const issue = { code: "x", path: "", line: null, column: null, message: "Bad", hint: null };
    assert.equal(formatIssues([issue], missing), `${missing}: Bad`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatIssues refuses what is no list of problems with a TypeError naming it", () => {
  const bad: [unknown, unknown, RegExp][] = [
    [null, "x", /^formatIssues: issues must be an array of problems .*, got null$/],
    ["oops", "x", /^formatIssues: issues must be an array of problems .*, got string$/],
    [[null], "x", /^formatIssues: issues\[0\] must be a problem .*, got null$/],
    [[{}], "x", /^formatIssues: issues\[0\]\.message must be a string, got undefined$/],
    [[{ message: "m", line: "3" }], "x", /^formatIssues: issues\[0\]\.line must be a number/],
    [[], undefined, /^formatIssues: source must be the file's path \(a string\), got undefined$/],
  ];
  for (const [issues, source, message] of bad) {
    assert.throws(
      () => formatIssues(issues as never, source as never),
      (e) => e instanceof TypeError && message.test(e.message),
      String(issues),
    );
  }
  // An issue built without line or hint prints neither (no "undefined").
  assert.equal(formatIssues([{ message: "Bad" } as never], "lab.yaml"), "lab.yaml: Bad");
});

Deno.test("suggestions count a swap of two letters as one edit and ignore case", () => {
  assert.equal(closestName("dealy", ["name", "kind", "delay", "jitter"]), "delay");
  assert.equal(closestName("STATIC", ["strict", "lazy", "static", "passthrough"]), "static");
  // The command line's cases (cli/errors_test.ts), for one mechanism.
  assert.equal(closestName("spilt", ["split", "packed", "both"]), "split");
  assert.equal(closestName("PACKD", ["split", "packed", "both"]), "packed");
  assert.equal(closestName("notfy", ["poll", "notify", "both"]), "notify");
  assert.equal(closestName("xyz", ["split", "packed", "both"]), undefined);
  assert.equal(closestName("", ["split"]), undefined);
  assert.equal(closestName("split", []), undefined);
});

Deno.test("a long word is compared in bounded time", () => {
  const names = Array.from({ length: 1024 }, (_, i) => `${"v".repeat(60)}${i}`);
  const t0 = performance.now();
  assert.equal(closestName("v".repeat(200_000), names), undefined);
  assert.equal(closestName("x".repeat(64), names), undefined);
  assert.ok(performance.now() - t0 < 2000, "bounded");
});

Deno.test("a misspelt key or value in a file gets its did-you-mean", () => {
  const r = parseTopology(
    "name: x\nvms:\n  a: { iommu: { mode: STATIC }, nics: { e0: {} } }\n  b: { nics: { e0: {} } }\n" +
      "links:\n  - endpoints: [a, b]\n    dealy: 5ms\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => [i.message, i.hint]), [
    ['Unknown mode "STATIC"', "did you mean `static`?"],
    ['Unknown key "dealy" in links[0]', "did you mean `delay`?"],
  ]);
});
