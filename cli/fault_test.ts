import assert from "node:assert/strict";
import { VlabError } from "./errors.ts";
import { checkFault } from "./fault.ts";

const usage = (message: RegExp) => (e: unknown) =>
  e instanceof VlabError && e.code === "bad-option" && e.exitCode === 2 && message.test(e.message);

Deno.test("a fault option the mode does not use is a usage error (exit 2), as the lab reads it", () => {
  assert.throws(
    () => checkFault({ kind: "backend-crash", vm: "a", mode: "exit", ms: 5 }),
    usage(/\(--ms, .*\) is how long a hang or a slow-down lasts, not exit's/),
  );
  assert.throws(
    () => checkFault({ kind: "backend-crash", vm: "a", mode: "exit", after: 3 }),
    usage(/\(--after, .*\) counts the frames before a mid-pass crash, not exit's/),
  );
  assert.throws(
    () => checkFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", ms: 5 }),
    usage(/is how long/),
  );
});

Deno.test("faults the lab would take pass the CLI's check unchanged", () => {
  assert.deepEqual(checkFault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 200 }), {
    kind: "backend-crash",
    vm: "a",
    mode: "hang",
    ms: 200,
    after: undefined,
  });
  assert.equal(
    checkFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", after: 3 }).kind,
    "backend-crash",
  );
  assert.equal(
    checkFault({ kind: "lost-kick", vm: "a", device: "eth0", queue: "transmitq", count: 2 }).kind,
    "lost-kick",
  );
  assert.equal(
    checkFault({ kind: "guest-bug", vm: "a", device: "eth0", queue: "transmitq", bug: "loop" })
      .kind,
    "guest-bug",
  );
});

Deno.test("vlab fault vm-crash is a subcommand taking a VM and its guest's boot time, checked as the lab reads it", async () => {
  const { faultCommand } = await import("./fault.ts");
  const vm = faultCommand().commands.find((c) => c.name() === "vm-crash");
  assert.ok(vm !== undefined);
  assert.deepEqual(vm.registeredArguments.map((a) => a.name()), ["vm"]);
  assert.deepEqual(vm.options.map((o) => o.long), ["--ms", "--lab"]);
  assert.deepEqual(checkFault({ kind: "vm-crash", vm: "b" }), { kind: "vm-crash", vm: "b" });
  assert.deepEqual(checkFault({ kind: "vm-crash", vm: "b", ms: 0 }), {
    kind: "vm-crash",
    vm: "b",
    ms: 0,
  });
  // A bad --ms is refused before any lab is asked (no lab runs here).
  await assert.rejects(
    () => vm.parseAsync(["b", "--ms", "2s"], { from: "user" }),
    usage(/^--ms must be an integer from 0 to 60000, got "2s"$/),
  );
});
