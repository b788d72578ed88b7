/**
 * The dashboard in a real terminal: tmux runs `vlab up topologies/pair.yaml`, the test sends keys
 * and reads the screen with `capture-pane`. The VMs appear, counters move while a ping runs, the
 * ring view opens, and `q` then `y` stops the lab and leaves nothing behind.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";

const decoder = new TextDecoder();

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", env }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

Deno.test({
  name: "the dashboard in tmux: VMs, moving counters, the ring view, q stops the lab cleanly",
  // The lab runs in a tmux pane, not in this process; subprocesses are awaited.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    assert.equal((await run("sh", ["-c", "command -v tmux"])).code, 0, "tmux is not installed");
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-tmux-" });
    const socket = `vlab-test-${crypto.randomUUID().slice(0, 8)}`;
    const tmux = (...args: string[]) => run("tmux", ["-L", socket, ...args]);
    const screen = async () => (await tmux("capture-pane", "-p", "-t", "lab")).stdout;
    const waitFor = async (what: string, test: (s: string) => boolean, ms = 30_000) => {
      const deadline = Date.now() + ms;
      let s = "";
      while (Date.now() < deadline) {
        s = await screen();
        if (test(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`);
    };
    const up = [Deno.execPath(), ...vlabRunArgs(["up", "topologies/pair.yaml"])]
      .map(shellQuote).join(" ");
    const env = `VLAB_STATE_DIR=${shellQuote(stateDir)} NO_COLOR=1`;
    try {
      const started = await tmux(
        "new-session",
        "-d",
        "-s",
        "lab",
        "-x",
        "100",
        "-y",
        "30",
        `cd ${shellQuote(Deno.cwd())} && env ${env} ${up}; echo "EXITED $?"; sleep 60`,
      );
      assert.equal(started.code, 0, started.stderr);
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));
      const first = await screen();
      assert.match(first, /vlab pair · seed 1/);
      assert.match(first, /features .*VERSION_1/);

      // Counters move while a ping runs: the queues panel shows request rates above zero.
      const ping = run(
        Deno.execPath(),
        vlabRunArgs(["exec", "a", "--", "ping", "10.0.0.2", "-c", "40", "-i", "0.05"]),
        {
          VLAB_STATE_DIR: stateDir,
        },
      );
      await tmux("send-keys", "-t", "lab", "Tab");
      const queues = await waitFor(
        "request rates",
        (s) => /\[Queues\]/.test(s) && /req [1-9][\d.]*/.test(s),
      );
      assert.match(queues, /a\/eth0 tx +split +256/);

      // The ring view of the selected queue: the descriptor table with decoded flags and the
      // markers of where each side's index points.
      await tmux("send-keys", "-t", "lab", "Enter");
      const ring = await waitFor(
        "the ring view",
        (s) => /receiveq · split · 256 entries/.test(s) && /◀/.test(s),
      );
      assert.match(ring, /WRITE/);
      assert.match(ring, /avail\.idx \d+/);
      assert.equal((await ping).code, 0);

      // q asks whether to stop the foreground lab; y stops it.
      await tmux("send-keys", "-t", "lab", "q");
      await waitFor("the stop question", (s) => /Stop the lab\? \(y\/n\)/.test(s));
      await tmux("send-keys", "-t", "lab", "y");
      await waitFor("vlab up to exit", (s) => /EXITED 0/.test(s));
      // Only the run's event log is kept.
      assert.deepEqual([...Deno.readDirSync(stateDir)].map((e) => e.name), ["logs"]);
      const ls = await run(Deno.execPath(), vlabRunArgs(["ls"]), { VLAB_STATE_DIR: stateDir });
      assert.match(ls.stdout, /no lab is running/);
    } finally {
      await tmux("kill-server");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
