import assert from "node:assert/strict";
import { formatDrillIssues, parseDrill } from "./load.ts";

const drill = (steps: string, assertion = "recovery.max_ms < 1000") =>
  `topology: pair\ntimeline:\n${steps}assert:\n  - ${assertion}\n`;

Deno.test("a recovery figure of a drill no step of which times a recovery is refused at validation", async () => {
  // Before, it ran, and the assertion was an ERROR: "nothing was measured".
  for (
    const steps of [
      "  - link: { name: a-b, state: down }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: slow, ms: 200 }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 500 }\n",
      "  - fault: { kind: lost-kick, vm: a, device: eth0, queue: transmitq }\n",
    ]
  ) {
    const r = await parseDrill(drill(steps), "d.yaml");
    assert.ok(!r.ok, steps);
    assert.deepEqual(r.error.map((i) => `${i.line}:${i.column}: ${i.message}`), [
      "5:5: recovery.max_ms has no value in this drill: no step of it times a recovery " +
      "(assert[0], column 1 of the assertion)",
    ]);
    // Which backend crashes are timed: a slow one, or a short hang, is a backend-crash too.
    assert.match(
      r.error[0].hint ?? "",
      /backend-crash \(exit, mid-pass, or a hang of more than 500 ms\)/,
    );
  }
  // A step that times one, recovery.count (0 without any), and a step that does not read
  // (whether it would time one is not known) pass, or bring only their own problem.
  for (
    const [steps, assertion] of [
      ["  - link: { name: a-b, state: down, up_after: 100ms }\n", "recovery.max_ms < 1000"],
      [
        "  - link: { name: a-b, state: down }\n  - link: { name: a-b, state: up }\n",
        "recovery.max_ms < 1000",
      ],
      ["  - fault: { kind: backend-crash, vm: a }\n", "recovery.p99_ms < 1000"],
      // The watchdog may restart a hang of more than 500 ms (it was refused up to 1 s).
      [
        "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 700 }\n",
        "recovery.max_ms < 2000",
      ],
      ["  - fault: { kind: vm-crash, vm: b }\n", "recovery.min_ms < 1000"],
      [
        "  - fault: { kind: guest-bug, vm: a, device: eth0, queue: transmitq, bug: loop }\n",
        "recovery.mean_ms < 1000",
      ],
      [
        "  - link: { name: a-b, state: down }\n",
        "recovery.count == 0 && recovery.unrecovered == 0",
      ],
    ]
  ) {
    const r = await parseDrill(drill(steps, assertion), "d.yaml");
    assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
  }
  const typo = await parseDrill(
    drill("  - link: { name: a-b, state: down, up_aftr: 1s }\n"),
    "d.yaml",
  );
  assert.ok(!typo.ok);
  assert.deepEqual(typo.error.map((i) => i.code), ["unknown-key"]);
});
