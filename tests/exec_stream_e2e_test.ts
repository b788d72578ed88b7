/**
 * `vlab exec` prints a workload's lines as they happen, as iputils' ping prints each reply: the
 * `PING` line and the replies while the ping runs, then the summary at its end, no line twice.
 * It printed everything at the end. `--json` still prints one object at the end and nothing
 * before it; Ctrl-C mid-stream prints the statistics so far after the replies already printed.
 */

import assert from "node:assert/strict";
import { spawnVlab, withLab } from "./run.ts";

const E2E = { sanitizeResources: false, sanitizeOps: false } as const;

/** A line of a child's stdout, with when it came (ms after the child started). */
interface Line {
  text: string;
  at: number;
}

/**
 * Read `child`'s stdout line by line as it comes; `onLine` sees each at once. Resolves at its
 * end with every line, when it ended (ms), the exit code and stderr.
 */
async function readLines(
  child: Deno.ChildProcess,
  t0: number,
  onLine: (line: Line) => void = () => {},
): Promise<{ lines: Line[]; endAt: number; code: number; stderr: string }> {
  const stderr = new Response(child.stderr).text();
  const lines: Line[] = [];
  let held = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    held += chunk;
    for (let nl = held.indexOf("\n"); nl >= 0; nl = held.indexOf("\n")) {
      const line = { text: held.slice(0, nl), at: performance.now() - t0 };
      held = held.slice(nl + 1);
      lines.push(line);
      onLine(line);
    }
  }
  const endAt = performance.now() - t0;
  if (held !== "") lines.push({ text: held, at: endAt });
  const { code } = await child.status;
  return { lines, endAt, code, stderr: await stderr };
}

/** End `child` if it still runs. */
function reap(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already ended.
  }
}

/** Each line once: no reply (nor the PING line) printed again by the summary. */
function assertNoLineTwice(lines: readonly Line[]): void {
  const said = lines.map((l) => l.text).filter((t) => t !== "");
  assert.deepEqual(said, [...new Set(said)], said.join("\n"));
}

Deno.test({
  name:
    "vlab exec prints a ping's first reply while it still runs, then the summary; --json one object at the end",
  ...E2E,
  fn: () =>
    withLab("pair", async (vlab, stateDir) => {
      // 3 pings 0.4 s apart: the first reply about 0.8 s before the ping ends.
      const t0 = performance.now();
      const child = spawnVlab(["exec", "a", "--", "ping", "10.0.0.2", "-c", "3", "-i", "0.4"], {
        stateDir,
      });
      try {
        const run = await readLines(child, t0);
        assert.equal(run.code, 0, run.stderr);
        const text = run.lines.map((l) => l.text);
        assert.equal(text[0], "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.");
        const first = run.lines.find((l) => /^64 bytes from 10\.0\.0\.2: icmp_seq=1 /.test(l.text));
        assert.ok(first, text.join("\n"));
        assert.ok(
          run.endAt - first.at > 500,
          `the first reply was printed ${Math.round(first.at)} ms in, the end ${
            Math.round(run.endAt)
          } ms in: not as it came`,
        );
        assert.deepEqual(text.slice(4, 6), ["", "--- 10.0.0.2 ping statistics ---"]);
        assert.match(text[6], /^3 packets transmitted, 3 received, 0% packet loss/);
        assert.match(text[7], /^rtt min\/avg\/max\/mdev = /);
        assert.equal(text.length, 8, text.join("\n"));
        assertNoLineTwice(run.lines);
      } finally {
        reap(child);
      }

      // --json: one object, printed at the end, nothing before it.
      const json = await vlab(
        "exec",
        "--json",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-c",
        "2",
        "-i",
        "0.2",
      );
      assert.equal(json.code, 0, json.stderr);
      const o = JSON.parse(json.stdout);
      assert.equal(o.kind, "ping");
      assert.equal(o.received, 2);
      assert.equal(o.cancelled, null);
      assert.match(o.text, /^PING 10\.0\.0\.2 .*\n64 bytes from 10\.0\.0\.2: icmp_seq=1 /);
    }),
});

Deno.test({
  name:
    "vlab exec: Ctrl-C mid-stream prints the statistics so far after the replies printed, exit 130",
  ...E2E,
  fn: () =>
    withLab("pair", async (_vlab, stateDir) => {
      // 100 pings 0.1 s apart: 10 s unless interrupted.
      const t0 = performance.now();
      const child = spawnVlab(["exec", "a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"], {
        stateDir,
      });
      try {
        let interruptedAt = Infinity;
        const run = await readLines(child, t0, (line) => {
          // Interrupted once its second reply is printed: the ping is under way.
          if (interruptedAt === Infinity && /icmp_seq=2 /.test(line.text)) {
            interruptedAt = line.at;
            child.kill("SIGINT");
          }
        });
        assert.ok(interruptedAt < Infinity, "no second reply was printed before the end");
        assert.equal(run.code, 130, run.stderr);
        assert.ok(run.endAt - interruptedAt < 5000, "it ended at once, not after its 100 pings");
        const text = run.lines.map((l) => l.text);
        const stats = text.findIndex((t) => t === "--- 10.0.0.2 ping statistics ---");
        assert.ok(stats > 2, text.join("\n"));
        const sent = /^(\d+) packets transmitted, (\d+) received/.exec(text[stats + 1]);
        assert.ok(sent && Number(sent[1]) >= 2 && Number(sent[1]) < 100, text[stats + 1]);
        // The replies printed are those the statistics count (one may be on its way).
        const replies = text.filter((t) => /^64 bytes from /.test(t)).length;
        assert.ok(replies >= 2 && replies <= Number(sent[2]), text.join("\n"));
        assertNoLineTwice(run.lines);
      } finally {
        reap(child);
      }
    }),
});

Deno.test({
  name: "vlab exec: a vm-crash mid-stream prints the statistics of what the ping had sent and " +
    "heard, then the error, exit 1",
  ...E2E,
  fn: () =>
    withLab("pair", async (vlab, stateDir) => {
      // 100 pings 0.1 s apart: 10 s unless a crashes.
      const t0 = performance.now();
      const child = spawnVlab(["exec", "a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"], {
        stateDir,
      });
      try {
        let crashed: Promise<unknown> | null = null;
        const run = await readLines(child, t0, (line) => {
          if (crashed === null && /icmp_seq=2 /.test(line.text)) {
            crashed = vlab("fault", "vm-crash", "a");
          }
        });
        assert.ok(crashed !== null, "no second reply was printed before the end");
        assert.equal(run.code, 1, run.stderr);
        // It printed the replies, then the error alone: what the ping had sent was lost.
        const text = run.lines.map((l) => l.text);
        const stats = text.findIndex((t) => t === "--- 10.0.0.2 ping statistics ---");
        assert.ok(stats > 2, text.join("\n"));
        assert.equal(text[stats - 1], "");
        const sent = /^(\d+) packets transmitted, (\d+) received/.exec(text[stats + 1]);
        assert.ok(sent && Number(sent[1]) >= 2 && Number(sent[1]) < 100, text[stats + 1]);
        const replies = text.filter((t) => /^64 bytes from /.test(t)).length;
        assert.equal(replies, Number(sent[2]), text.join("\n"));
        assert.match(text[stats + 2], /^rtt min\/avg\/max\/mdev = /);
        assert.equal(text.length, stats + 3, text.join("\n"));
        assertNoLineTwice(run.lines);
        assert.equal(
          run.stderr.split("\n")[0],
          'vlab: VM "a" crashed before it answered',
          run.stderr,
        );
      } finally {
        reap(child);
      }
    }),
});

Deno.test({
  name: "vlab exec whose reader stalls while vlab down stops the lab prints the statistics of " +
    "what the ping had done once its reader reads, then the cut-short error",
  ...E2E,
  fn: () =>
    withLab("pair", async (vlab, stateDir) => {
      // 1000 pings a second: the 64 KiB pipe nobody reads is full within about a second.
      const t0 = performance.now();
      const child = spawnVlab(
        ["exec", "a", "--", "ping", "10.0.0.2", "-c", "100000", "-i", "0.001"],
        { stateDir },
      );
      try {
        // The reader stalls (nothing reads the pipe) while the lab stops: the command used to
        // be blocked in its write, the lab's answer never reached it, and it said only
        // 'Lab "pair" is not running any more'. The pipe is full once 2000 requests went
        // (2000 lines of 56 bytes and more).
        const deadline = performance.now() + 20_000;
        for (;;) {
          const status = await vlab("status", "--json");
          const sent = JSON.parse(status.stdout).links[0].forward.frames;
          if (sent >= 2000) break;
          assert.ok(performance.now() < deadline, `only ${sent} frames from a in 20 s`);
          await new Promise((r) => setTimeout(r, 500));
        }
        const down = await vlab("down");
        assert.equal(down.code, 0, down.stderr);
        const run = await readLines(child, t0);
        const text = run.lines.map((l) => l.text);
        const replies = text.filter((t) => /^64 bytes from /.test(t)).length;
        assert.ok(replies * 56 > 64 * 1024, `only ${replies} replies: the pipe never filled`);
        const stats = text.lastIndexOf("--- 10.0.0.2 ping statistics ---");
        assert.ok(stats > 0, text.slice(-5).join("\n") + "\n" + run.stderr);
        assert.match(text[stats + 1], /^\d+ packets transmitted, \d+ received/);
        assertNoLineTwice(run.lines);
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          run.stderr,
          /^vlab: The workload was cut short: lab "pair" stopped while it ran/,
        );
      } finally {
        reap(child);
      }
    }),
});

Deno.test({
  name: "vlab exec --json: a vm-crash mid-run prints the object of what the ping had done " +
    '(cancelled "vm-crash"), then the error, exit 1',
  ...E2E,
  fn: () =>
    withLab("pair", async (vlab, stateDir) => {
      // 100 pings 0.1 s apart: 10 s unless a crashes (it does at about 1 s).
      const child = spawnVlab(
        ["exec", "a", "--json", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"],
        { stateDir },
      );
      try {
        const out = new Response(child.stdout).text();
        const err = new Response(child.stderr).text();
        await new Promise((r) => setTimeout(r, 1000));
        const crash = await vlab("fault", "vm-crash", "a");
        assert.equal(crash.code, 0, crash.stderr);
        const { code } = await child.status;
        const stderr = await err;
        // It printed the error alone: what the ping had sent and heard was lost.
        const r = JSON.parse(await out);
        assert.equal(r.cancelled, "vm-crash");
        assert.ok(r.transmitted >= 2 && r.transmitted < 100, String(r.transmitted));
        assert.match(r.text, /--- 10\.0\.0\.2 ping statistics ---\n\d+ packets transmitted/);
        assert.equal(code, 1, stderr);
        assert.equal(stderr.split("\n")[0], 'vlab: VM "a" crashed before it answered', stderr);
      } finally {
        reap(child);
      }
    }),
});
