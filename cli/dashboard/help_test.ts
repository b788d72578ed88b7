import assert from "node:assert/strict";
import { SNAPSHOT_EVENTS } from "../../lab/snapshot.ts";
import { allHelpLines } from "./help.tsx";

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
