import assert from "node:assert/strict";
import { VlabError } from "./errors.ts";
import { impairmentWords, partitionSides } from "./lab_links.ts";

const isError = (code: string, message: RegExp) => (e: unknown) =>
  e instanceof VlabError && e.code === code && message.test(e.message) && e.exitCode === 2;

Deno.test("KEY=VALUE words read like YAML: plain numbers stay numbers, the rest strings", () => {
  assert.deepEqual(
    impairmentWords(["delay=20ms", "jitter=2ms", "gap=5", "loss_gemodel=1%,10%", "overhead=-4"]),
    { delay: "20ms", jitter: "2ms", gap: 5, loss_gemodel: "1%,10%", overhead: -4 },
  );
  assert.deepEqual(impairmentWords(["loss=1"]), { loss: 1 });
  assert.deepEqual(impairmentWords([]), {});
});

Deno.test("bad KEY=VALUE words are bad-impairment usage errors naming the key", () => {
  assert.throws(() => impairmentWords(["delay"]), isError("bad-impairment", /expected KEY=VALUE/));
  assert.throws(() => impairmentWords(["=5ms"]), isError("bad-impairment", /expected KEY=VALUE/));
  assert.throws(
    () => impairmentWords(["delay=20"]),
    isError("bad-impairment", /Cannot read delay "20"/),
  );
  assert.throws(
    () => impairmentWords(["__proto__=1ms"]),
    isError("bad-impairment", /Unknown impairment key "__proto__"/),
  );
  assert.throws(
    () => impairmentWords(["loss=\x1b[31m"]),
    (e: unknown) => e instanceof VlabError && !e.message.includes("\x1b"),
  );
});

Deno.test("partition sides: a slash between two comma lists, with or without spaces", () => {
  assert.deepEqual(partitionSides(["a,b", "/", "c,d"]), [["a", "b"], ["c", "d"]]);
  assert.deepEqual(partitionSides(["a,b/c"]), [["a", "b"], ["c"]]);
  assert.deepEqual(partitionSides(["a", "b", "/", "c"]), [["a", "b"], ["c"]]);
  for (const bad of [["a", "c"], ["a", "/"], ["/", "c"], ["a", "/", "b", "/", "c"]]) {
    assert.throws(() => partitionSides(bad), isError("bad-partition", /Cannot read partition/));
  }
});
