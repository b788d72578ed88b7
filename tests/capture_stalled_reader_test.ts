/**
 * `vlab capture` into a pipe whose reader stopped reading (a pager, a paused `tshark`): Ctrl-C
 * did nothing until the reader read again, because every write blocked the process's only
 * thread. The writes now wait aside, so Ctrl-C (and SIGTERM) end the capture as the docs say.
 */

import assert from "node:assert/strict";
import { spawnVlab, withLab } from "./run.ts";

Deno.test({
  name:
    "Ctrl-C ends a capture whose stdout reader stopped reading, within the wait for the last frames",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      // Nobody reads its stdout: once the pipe's 64 KiB are full, every write waits.
      const child = spawnVlab(["capture", "a-b"], { stateDir });
      const status = child.status;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let ended: number | null = null;
      try {
        // 100k frames of 80 pcap bytes each: 8 MB for a 64 KiB pipe (the capture must be on).
        const deadline = performance.now() + 20_000;
        while ((await capturedFrames(stateDir)) < 100_000) {
          assert.ok(performance.now() < deadline, "the capture never took a flood");
          const r = await vlab("exec", "a", "--", "udp-flood", "10.0.0.2", "-n", "100000", "--max");
          assert.equal(r.code, 0, r.stderr);
        }
        child.kill("SIGINT");
        ended = await Promise.race([
          status.then((s) => s.code),
          new Promise<null>((r) => timer = setTimeout(() => r(null), 8_000)),
        ]);
        assert.notEqual(ended, null, "Ctrl-C did not end the capture within 8 s");
        assert.equal(ended, 0);
      } finally {
        clearTimeout(timer);
        try {
          child.kill("SIGKILL");
        } catch {
          // Ended.
        }
        await child.stdout.cancel().catch(() => {});
        const stderr = await new Response(child.stderr).text().catch(() => "");
        await status;
        if (ended === 0) {
          // What the lab sent and the stalled reader never took is said, not lost silently.
          const m =
            /^(\d+) frames captured, \d+ dropped.*, (\d+) not written \(the reader stopped reading; given up at the end\)$/m
              .exec(stderr);
          assert.ok(m, stderr);
          assert.ok(Number(m[2]) > 0, stderr);
        }
      }
    });
  },
});

/** Frames the lab's capture taps of a-b took (forward), from /metrics. */
async function capturedFrames(stateDir: string): Promise<number> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: `${stateDir}/pair/control.sock` },
  });
  try {
    const text = await (await fetch("http://vlab/metrics", { client })).text();
    const m = /^vlab_capture_frames_total\{[^}]*link="a-b",direction="forward"\} (\d+)/m.exec(text);
    return m === null ? 0 : Number(m[1]);
  } finally {
    client.close();
  }
}
