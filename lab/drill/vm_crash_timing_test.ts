import assert from "node:assert/strict";
import { countingWorkers, inStateDir, LAB_TEST } from "../testing.ts";
import { runDrill } from "./run.ts";

Deno.test({
  name:
    "a drill's vm-crash reboots its VM without constructing a worker: the steps due then start on time",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-crash-timing-", async () => {
      // Before, the reboot constructed its device worker in the crash's own turn and its guest
      // worker some 20 to 60 ms later, each blocking the main thread 10 to 105 ms: the steps due
      // then started late (up to 77 ms measured) and, their cursor on time, said nothing.
      let timeline = false;
      const r = await countingWorkers(() => timeline, (made) =>
        runDrill({
          topology: "pair",
          timeline: [
            { at: "200ms", fault: { kind: "vm-crash", vm: "b" } },
            { at: "220ms", wait: "0ms" },
            { at: "240ms", wait: "0ms" },
            { at: "260ms", wait: "0ms" },
            { at: "280ms", wait: "0ms" },
            { at: "300ms", wait: "0ms" },
            { at: "500ms", wait: "0ms" },
          ],
          assert: ['count(events, kind = "vm-restarted", subject = "b") == 1'],
        }, {
          onProgress: (l) => {
            if (l.includes(" drill ")) timeline = true;
            if (l.includes("#6 wait")) timeline = false;
          },
        }).then((result) => ({ result, made })));
      assert.ok(r.result.passed, JSON.stringify(r.result.assertions) + r.result.error);
      assert.deepEqual(r.made, [], "no worker constructed while the timeline ran");
      for (const s of r.result.steps.slice(1)) {
        // On time within a loaded machine's slack, or late and saying how late.
        const late = s.startedMs - s.plannedMs;
        assert.ok(
          late < 25 || Math.abs((s.lateMs ?? 0) - late) < 0.2,
          JSON.stringify(r.result.steps),
        );
      }
    }),
});
