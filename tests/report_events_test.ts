/**
 * The event log records link changes (docs/cli.md, README "The control socket"): a link going
 * down or up, a partition, a heal, and a live impairment change (`vlab link LINK set`, `clear`).
 */

import assert from "node:assert/strict";
import { EventLog } from "../lab/events.ts";
import { LinkControl } from "../lab/link_control.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";
import { NO_IMPAIRMENT } from "../lab/host/impair.ts";

Deno.test("a live impairment change is an event: the link, the direction, both directions' netem", () => {
  const t = topologyFromObject({
    name: "report-impair",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.ok(t.ok);
  const events = new EventLog(null);
  const posted: string[] = [];
  const links = new LinkControl(planLab(t.value), events, (kind, owner) => {
    posted.push(`${kind} ${owner}`);
  });
  assert.ok(links.setImpairment("a-b", { ...NO_IMPAIRMENT, delayUs: 20_000 }, "forward"));
  assert.ok(links.setImpairment("a-b", NO_IMPAIRMENT, "both"));
  assert.deepEqual(posted, ["device a", "device a", "device b"]);
  // The log said nothing of either change: a run's log could not tell when its netem changed.
  assert.deepEqual(
    events.recent().map((e) => [e.kind, e.subject, e.detail]),
    [
      ["impair", "a-b", { direction: "forward", forward: "delay 20ms", reverse: "no impairment" }],
      ["impair", "a-b", { direction: "both", forward: "no impairment", reverse: "no impairment" }],
    ],
  );
  assert.equal(links.setImpairment("x-y", NO_IMPAIRMENT, "both"), false);
  assert.equal(events.recent().length, 2, "an unknown link is no change");
});
