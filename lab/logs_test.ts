import assert from "node:assert/strict";
import { eventLogPath, KEEP_LOGS, logsDir, pruneLogs } from "./logs.ts";
import { inStateDir } from "./testing.ts";

Deno.test("event logs are pruned to the newest, never a running lab's log or a file vlab did not name", () =>
  inStateDir("vlab-logs-", async (tmp) => {
    const paths: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = eventLogPath(i % 2 ? "pair" : "star", new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
      Deno.writeTextFileSync(p, "{}\n");
      paths.push(p);
    }
    assert.equal(paths[0], `${tmp}/logs/star-2026-01-01T00-00-00.000Z.jsonl`);
    assert.equal(Deno.statSync(logsDir()).mode! & 0o777, 0o700);
    await Deno.writeTextFile(`${logsDir()}/notes.txt`, "mine");
    // paths[1] is the log of a lab still running: kept although it is old.
    const removed = pruneLogs({ keep: 3, inUse: new Set([paths[1]]) });
    assert.deepEqual(removed.sort(), [paths[0], paths[2]].sort());
    const left = [...Deno.readDirSync(logsDir())].map((e) => `${logsDir()}/${e.name}`).sort();
    assert.deepEqual(left, [...paths.slice(3), paths[1], `${logsDir()}/notes.txt`].sort());
    assert.ok(KEEP_LOGS >= 5 && KEEP_LOGS <= 100, `KEEP_LOGS is ${KEEP_LOGS}`);
  }));
