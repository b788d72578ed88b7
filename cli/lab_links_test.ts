import assert from "node:assert/strict";
import { VlabError } from "./errors.ts";
import {
  checkUpDown,
  healedLine,
  impairmentWords,
  partitionSides,
  wordBeforeAction,
} from "./lab_links.ts";

const isError = (code: string, message: RegExp) => (e: unknown) =>
  e instanceof VlabError && e.code === code && message.test(e.message) && e.exitCode === 2;

Deno.test("KEY=VALUE words read like YAML: plain numbers stay numbers, the rest strings", () => {
  assert.deepEqual(
    impairmentWords([
      "delay=20ms",
      "jitter=2ms",
      "gap=5",
      "loss_gemodel=1%,10%",
      "rate=1mbit",
      "overhead=-4",
    ]),
    { delay: "20ms", jitter: "2ms", gap: 5, loss_gemodel: "1%,10%", rate: "1mbit", overhead: -4 },
  );
  assert.deepEqual(impairmentWords(["loss=1"]), { loss: 1 });
  assert.deepEqual(impairmentWords([]), {});
});

Deno.test("KEY=VALUE integers with a leading zero are refused, as a file's leading-zero", () => {
  // limit=010 was taken as 10, where a YAML 1.1 tool reads 8.
  assert.throws(
    () => impairmentWords(["limit=010"]),
    (e: unknown) =>
      e instanceof VlabError && e.code === "bad-impairment" && e.exitCode === 2 &&
      e.message === "limit 010 is written with a leading zero, which YAML 1.1 tools read as " +
          "octal (8) and vlab (YAML 1.2) as 10" &&
      e.hint === "write limit=10 (or limit=0o10 for octal 8)",
  );
  assert.deepEqual(impairmentWords(["limit=0o10", "overhead=0"]), { limit: 8, overhead: 0 });
  // 5 to tc's and YAML 1.1's octal too: taken.
  assert.deepEqual(impairmentWords(["limit=05"]), { limit: 5 });
});

Deno.test("KEY=VALUE numbers are YAML's: 1e3 and 0x10 are numbers; 1e400, .inf and .nan out of range", () => {
  // limit=1e3 was "limit must be a number, got "1e3"" though a file's `limit: 1e3` is 1000.
  assert.deepEqual(impairmentWords(["limit=1e3", "gap=0x10", "rate=1mbit", "overhead=+4"]), {
    limit: 1000,
    gap: 16,
    rate: "1mbit",
    overhead: 4,
  });
  const refused = (word: string, message: RegExp) =>
    assert.throws(() => impairmentWords([word]), isError("bad-impairment", message), word);
  refused("limit=1e400", /^limit must be between 1 and 1000000, got Infinity$/);
  refused("gap=.inf", /^gap must be between 1 and 1000000, got Infinity$/);
  refused("loss=.nan", /^loss must be between 0% and 100%, got NaN$/);
  refused("delay=.inf", /^delay must be between 0 and 60s, got Infinity$/);
  // A negative duration is said to be one, not an unreadable value.
  refused("jitter=-1ms", /^jitter must not be negative, got -1ms$/);
  refused("rate=-1mbit", /^rate must not be negative, got -1mbit$/);
  // Words that are no number stay strings, for the units' reader.
  refused("delay=1e3ms", /^Cannot read delay "1e3ms": expected a duration$/);
  assert.deepEqual(impairmentWords(["loss=0.5%"]), { loss: "0.5%" });
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

Deno.test("a distribution without a jitter is refused naming the link, as a reorder without a delay", () => {
  assert.throws(
    () => impairmentWords(["delay=5ms", "distribution=pareto"], "a-b"),
    isError("bad-impairment", /^Cannot set a distribution on link "a-b" without a jitter$/),
  );
  assert.throws(
    () => impairmentWords(["loss=1%", "loss_gemodel=1%"], "a-b"),
    isError("bad-impairment", /^Cannot use more than one of .* on link "a-b"$/),
  );
});

Deno.test("a key given twice is refused naming both words, as a topology file's duplicate-key", () => {
  assert.throws(
    () => impairmentWords(["delay=5ms", "loss=1%", "delay=6ms"]),
    isError("bad-impairment", /^Cannot set "delay" twice: "delay=5ms" and "delay=6ms"$/),
  );
  // Values may repeat; keys may not.
  assert.deepEqual(impairmentWords(["delay=5ms", "jitter=5ms"]), { delay: "5ms", jitter: "5ms" });
});

Deno.test("link up and down take no values and no --direction: refused, not ignored", () => {
  checkUpDown("up", [], undefined);
  checkUpDown("down", [], undefined);
  assert.throws(() => checkUpDown("up", ["extra"], undefined), isError("usage", /takes no values/));
  assert.throws(
    () => checkUpDown("down", [], "forward"),
    isError("bad-option", /^--direction is for set and clear, not with down/),
  );
  // The hint names the link, and a one-way cut that works on any link (a vhost-pci or vsock link
  // refuses loss=100%).
  assert.throws(
    () => checkUpDown("down", [], "forward", "a-b"),
    (e: unknown) =>
      e instanceof VlabError &&
      /vlab link a-b set loss=100% --direction forward/.test(e.hint ?? "") &&
      /vlab partition A \/ B --one-way/.test(e.hint ?? ""),
  );
  // "both" is still a direction the user gave: up and down have none to choose.
  assert.throws(() => checkUpDown("up", [], "both"), isError("bad-option", /--direction/));
});

Deno.test("partition sides: a slash between two comma lists, with or without spaces", () => {
  assert.deepEqual(partitionSides(["a,b", "/", "c,d"]), [["a", "b"], ["c", "d"]]);
  assert.deepEqual(partitionSides(["a,b/c"]), [["a", "b"], ["c"]]);
  assert.deepEqual(partitionSides(["a", "b", "/", "c"]), [["a", "b"], ["c"]]);
  for (const bad of [["a", "c"], ["a", "/"], ["/", "c"], ["a", "/", "b", "/", "c"]]) {
    assert.throws(() => partitionSides(bad), isError("bad-partition", /Cannot read partition/));
  }
});

Deno.test("partition sides: an empty name between commas, an empty side or a slash too many says which", () => {
  // `a, / b` was read as `a / b`: the comma's missing VM went unnoticed.
  assert.deepEqual(partitionSides(["a, b / c"]), [["a", "b"], ["c"]]);
  const cases: [string, string][] = [
    ["a, / b", 'the first set "a," ends with a comma and no VM after it'],
    [",a / b", 'the first set ",a" starts with a comma and no VM before it'],
    ["a,,b / c", 'the first set "a,,b" has two commas and no VM between them'],
    ["a / b, ,c", 'the second set "b, ,c" has two commas and no VM between them'],
    ["a /", "the second set names no VM"],
    ["/ b", "the first set names no VM"],
    ["a b", "it has no slash between the two sets of VMs"],
    ["a / b / c", "it has 2 slashes; one goes between the sets"],
  ];
  for (const [words, why] of cases) {
    assert.throws(
      () => partitionSides([words]),
      (e) =>
        e instanceof VlabError && e.code === "bad-partition" && e.exitCode === 2 &&
        e.message === `Cannot read partition "${words}": ${why}`,
      words,
    );
  }
});

Deno.test("vlab heal names the partitions it healed, by the ids vlab partition printed", () => {
  // It printed "healed 1" (a count?) and "no partition".
  assert.equal(healedLine([1]), "healed partition 1");
  assert.equal(healedLine([2, 5]), "healed partitions 2 and 5");
  assert.equal(healedLine([1, 2, 3]), "healed partitions 1, 2 and 3");
  assert.equal(healedLine([]), "no partition was in force: nothing to heal");
});

Deno.test("vlab link pair a-b down, the lab's name first, shows the command with the link alone", () => {
  // It said 'Link action must be "up", "down", "set" or "clear", got "a-b"', with the hint
  // 'For example: vlab link pair set delay=20ms loss=1%', the lab's name as the link.
  const e = wordBeforeAction("pair", "a-b", ["down"], undefined);
  assert.ok(e instanceof VlabError);
  assert.equal(
    e.message,
    'Two words stand before the action, "pair" and "a-b": link takes one link',
  );
  assert.equal(
    e.hint,
    "Give the link alone: vlab link a-b down (a lab's name goes in --lab: vlab link --lab pair a-b down)",
  );
  assert.equal(
    wordBeforeAction("pair", "a-b", ["set", "delay=5ms"], "x")?.hint,
    "Give the link alone: vlab link --lab x a-b set delay=5ms",
  );
  // A plain wrong action is left to the action's own error.
  assert.equal(wordBeforeAction("a-b", "dwon", [], undefined), null);
  assert.equal(wordBeforeAction("a-b", "dwon", ["x"], undefined), null);
});
