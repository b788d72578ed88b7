/**
 * What a drill step with a problem in its arguments says: an empty list is named as such, a hint
 * never dangles, and a key its schema refused hides none of the step's other problems (the names
 * that did read are still checked), nor brings one that only follows from it.
 */

import assert from "node:assert/strict";
import { type DrillIssue, formatDrillIssues, parseDrill } from "./load.ts";

async function problems(text: string): Promise<DrillIssue[]> {
  const r = await parseDrill(text, "d.yaml");
  assert.ok(!r.ok, "the drill should not validate");
  return r.error;
}

/** Each problem as `line:col: message` and its hint line. */
function lines(issues: DrillIssue[]): string[] {
  return issues.map((i) => `${i.line}:${i.column}: ${i.message} / hint: ${i.hint}`);
}

Deno.test("an empty argv or partition side is named as an empty list, with a hint to fill it", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [] }\n" +
      "  - partition: { a: [], b: [b] }\n" +
      "  - partition: { a: [a], b: [] }\n",
  );
  assert.deepEqual(lines(issues), [
    "3:26: argv needs at least one word: the workload's name / hint: write the workload and its arguments, as in argv: [ping, 10.0.0.2, -c, 3]",
    "4:21: partition side a lists no VM / hint: list the VMs of side a, as in a: [a]",
    "5:29: partition side b lists no VM / hint: list the VMs of side b, as in b: [b]",
  ]);
  const text = formatDrillIssues(issues);
  assert.doesNotMatch(text, /\?/, text);
});

Deno.test("a vm-crash fault given another kind's key says its keys", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n  - fault: { kind: vm-crash, vm: b, mode: hang }\n",
  );
  assert.deepEqual(lines(issues), [
    "3:37: A vm-crash fault takes no mode / hint: its keys: kind, vm, ms",
  ]);
});

Deno.test("a fault key of the wrong type hides neither the unknown VM nor the unknown queue", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: c, mode: hang, ms: 2s }\n" +
      "  - fault: { kind: guest-bug, vm: a, device: eth0, queue: txq, bug: lop }\n" +
      // An unreadable mode must not make ms look like exit's (exit is mode's default).
      "  - fault: { kind: backend-crash, vm: a, mode: hnag, ms: 500 }\n" +
      // An unreadable bug is not a missing bug.
      "  - fault: { kind: guest-bug, vm: a, device: eth9, queue: transmitq, bug: 3 }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column}: ${i.message}`), [
    '3:39: Unknown VM "c"',
    '3:58: ms must be a number, got "2s"',
    '4:59: Device "a:eth0" has no queue "txq"',
    '4:69: Unknown bug "lop"',
    '5:48: Unknown mode "hnag"',
    '6:46: VM "a" has no device "eth9"',
    "6:75: Unknown bug 3",
  ]);
});

Deno.test("an impair step with a bad direction still has its link and its impairment keys checked", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - impair: { link: a-b, set: { dealy: 20ms }, direction: sideways }\n" +
      "  - impair: { link: a-c, set: [delay] }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column}: ${i.message}`), [
    '3:33: Unknown impairment key "dealy"',
    '3:59: Unknown direction "sideways"',
    '4:21: Unknown link "a-c"',
    "4:31: set must be a map, got a list",
  ]);
});

Deno.test("exec, link, wait_for and partition steps with one unreadable key still check their names", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: c, argv: [ping, 10.0.0.2], background: maybe }\n" +
      "  - exec: { vm: a, argv: [pnig], as: 7 }\n" +
      "  - link: { name: a-c, state: dwon }\n" +
      "  - wait_for: { workload: nope, timeout: lots }\n" +
      "  - partition: { a: [c], b: [b], one_way: sure }\n",
  );
  const text = issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
  assert.deepEqual(text.filter((t) => /^3:/.test(t)), [
    '3:17: Unknown VM "c"',
    '3:56: background must be true or false, got "maybe"',
  ]);
  assert.ok(text.some((t) => /^4:\d+: Unknown workload "pnig"/.test(t)), text.join("\n"));
  assert.deepEqual(text.filter((t) => /^5:/.test(t)), [
    '5:19: Unknown link "a-c"',
    '5:31: Unknown state "dwon"',
  ]);
  assert.ok(
    text.some((t) => t === '6:27: No earlier step starts a workload named "nope"'),
    text.join("\n"),
  );
  assert.ok(text.some((t) => t === '7:22: Unknown VM "c"'), text.join("\n"));
});

Deno.test("a backend-crash's ms of 0 is refused at its key in the drill's words (a vm-crash's 0 is its default)", async () => {
  // The schema takes 0 since ms became a vm-crash's boot time too; before this, a backend-crash's
  // 0 was refused at the fault's map with the CLI's words ("the duration (--ms, or key "ms")").
  for (const mode of ["hang", "slow"]) {
    const issues = await problems(
      `topology: pair\ntimeline:\n  - fault: { kind: backend-crash, vm: b, mode: ${mode}, ms: 0 }\n`,
    );
    assert.deepEqual(lines(issues), [
      `3:${54 + mode.length}: ms must be between 1 and 60000 for a backend-crash, got 0 / hint: ` +
      "write a whole number of milliseconds from 1 to 60000, or leave ms out",
    ]);
  }
  const ok = await parseDrill(
    "topology: pair\ntimeline:\n  - fault: { kind: vm-crash, vm: b, ms: 0 }\n",
    "d.yaml",
  );
  assert.ok(ok.ok, ok.ok ? "" : formatDrillIssues(ok.error)); // Below its kind's least, each kind says its own range (a backend-crash's -5 was told "between
  // 0 and 60000", the vm-crash's range).
  const low = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: b, mode: hang, ms: -5 }\n" +
      "  - fault: { kind: vm-crash, vm: b, ms: -1 }\n",
  );
  assert.deepEqual(lines(low), [
    "3:58: ms must be between 1 and 60000 for a backend-crash, got -5 / hint: " +
    "write a whole number of milliseconds from 1 to 60000, or leave ms out",
    "4:41: ms must be between 0 and 60000 for a vm-crash, got -1 / hint: " +
    "write a whole number of milliseconds from 0 to 60000, or leave ms out",
  ]);
  // Above its most: the schema's bound, told without zod's safe-integer floor (it read "between
  // -9007199254740991 and 60000").
  const high = await problems(
    "topology: pair\ntimeline:\n  - fault: { kind: vm-crash, vm: b, ms: 60001 }\n",
  );
  assert.deepEqual(lines(high), [
    "3:41: ms must be at most 60000, got 60001 / hint: write a number no larger than 60000",
  ]);
});

Deno.test("a fault's ms given as a duration with its unit (ms: 2s) gets the number it means as its hint", async () => {
  // Before: 'write a number here; docs/drills.md describes `ms`', where every other duration of
  // a drill (wait: 2s, up_after: 200ms) takes its unit.
  for (
    const [written, ms] of [["2s", "2000"], ["500ms", "500"], ["1.5s", "1500"]] as const
  ) {
    const issues = await problems(
      `topology: pair\ntimeline:\n  - fault: { kind: vm-crash, vm: b, ms: ${written} }\n`,
    );
    assert.deepEqual(lines(issues), [
      `3:41: ms must be a number, got "${written}" / hint: write it in milliseconds, without a ` +
      `unit: ms: ${ms}`,
    ]);
  }
  // Not a whole number of milliseconds, or no duration: the hint stays the generic one.
  for (const written of ["250us", "soon"]) {
    const issues = await problems(
      `topology: pair\ntimeline:\n  - fault: { kind: backend-crash, vm: b, mode: hang, ms: ${written} }\n`,
    );
    assert.equal(issues[0].hint, "write a number here; docs/drills.md describes `ms`");
  }
});
