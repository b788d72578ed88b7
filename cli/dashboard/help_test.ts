import assert from "node:assert/strict";
import { SNAPSHOT_EVENTS } from "../../lab/snapshot.ts";
import { allHelpLines, helpLines } from "./help.tsx";

Deno.test("the help's panels say what they list: partitions, vsock, the events a snapshot keeps", () => {
  // It said "Links … impairments; switches" and "Events the lab's event log": the partitions
  // and vsock connections the Links panel lists were not named, and the Events panel shows only
  // the last events a snapshot carries, not the whole log.
  const text = allHelpLines({ foreground: true, width: 80, height: 20, colors: false })
    .map((l) => l.map((s) => s.text).join("")).join("\n").replace(/\n +/g, " ");
  assert.match(text, /Links +.*partitions, switches, vsock/);
  assert.match(text, new RegExp(`Events +the lab's last ${SNAPSHOT_EVENTS} events`));
  assert.match(text, /Overview +VMs, their state and recovery/);
});

Deno.test("the help scrolled on a small screen says how many lines are above and below", () => {
  // Scrolled, it began "    to stop it)" with nothing to say there was more above.
  const props = { foreground: true, width: 40, height: 8, colors: false };
  const all = allHelpLines(props).length;
  const text = (scroll: number) =>
    helpLines({ ...props, scroll }).map((l) => l.map((s) => s.text).join(""));
  assert.doesNotMatch(text(0)[0], /above/);
  const mid = text(5);
  assert.equal(mid.length, 8);
  assert.equal(mid[0], "  ↑ 6 lines above");
  assert.equal(mid[7], `  ↓ ${all - 5 - 8 + 1} more lines (↑↓ scroll)`);
  const last = text(all);
  assert.equal(last[0], `  ↑ ${all - 8 + 1} lines above`);
  assert.doesNotMatch(last[7], /more lines/);
});
