import assert from "node:assert/strict";
import { didYouMean, formatIssues, pathToString, suggest } from "./issues.ts";

Deno.test("paths render as dotted keys and bracketed indices", () => {
  assert.equal(pathToString(["links", 0, "endpoints", 1]), "links[0].endpoints[1]");
  assert.equal(pathToString(["vms", "a", "nics", "eth0", "ip"]), "vms.a.nics.eth0.ip");
  assert.equal(pathToString(["vms", "A B"]), 'vms["A B"]');
  assert.equal(pathToString([]), "");
});

Deno.test("suggestions need a close match and never replace a whole short word", () => {
  assert.equal(suggest("lyout", ["layout", "mtu"]), "layout");
  assert.equal(suggest("sw", ["sw1", "a"]), "sw1");
  assert.equal(suggest("c", ["a", "b"]), null);
  assert.equal(suggest("memory", ["links"]), null);
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
