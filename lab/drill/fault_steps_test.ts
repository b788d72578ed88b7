/**
 * The `fault` step kind: checked against the topology when the drill loads (file:line:col), and
 * the shipped fault drills (backend crash under a flood, ring corruption and reset, lost kick
 * and watchdog) pass against a real lab.
 */

import assert from "node:assert/strict";
import { formatDrillIssues, parseDrill } from "./load.ts";
import { runDrill } from "./run.ts";
import { LAB_TEST } from "../testing.ts";

async function inStateDir<T>(body: () => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-fault-" });
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", dir);
  try {
    return await body();
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("a fault step naming an unknown VM, queue-less lost-kick or unknown bug is refused at its line", async () => {
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: zz }\n" +
      "  - fault: { kind: lost-kick, vm: a }\n" +
      "  - fault: { kind: guest-bug, vm: a, device: eth0, queue: transmitq, bug: meteor }\n" +
      'assert:\n  - count(events, kind = "fault") == 3\n',
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  const text = formatDrillIssues(r.error);
  assert.match(text, /d\.yaml:3:\d+: Unknown VM "zz"/);
  assert.match(text, /d\.yaml:4:\d+: Cannot inject lost-kick: name the device and the queue/);
  assert.match(text, /d\.yaml:5:\d+: .*meteor/);
});

for (
  const name of ["backend-crash-flood", "ring-corruption", "lost-kick-watchdog", "iommu-revocation"]
) {
  Deno.test({
    name: `the shipped ${name} drill passes`,
    ...LAB_TEST,
    fn: () =>
      inStateDir(async () => {
        const file = new URL(`../../drills/${name}.yaml`, import.meta.url).pathname;
        const r = await runDrill(file);
        const failed = r.assertions.filter((a) => a.verdict !== "pass");
        assert.deepEqual(failed, [], JSON.stringify(failed));
        assert.ok(r.passed);
      }),
  });
}
