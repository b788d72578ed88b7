/**
 * The dashboard in a real terminal on `vsock-pair`: tmux runs `vlab up topologies/vsock-pair.yaml`;
 * the Queues panel lists each VM's vsock rx, tx and event queues beside its NIC's, and the Links
 * panel lists a guest's connection to a host listener (`vsock.sock_6000`) that does not read,
 * with no credit left.
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
  name: "the dashboard in tmux on vsock-pair: vsock queues, and a stalled host connection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    assert.equal((await run("sh", ["-c", "command -v tmux"])).code, 0, "tmux is not installed");
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-tmux-vsock-" });
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
    const up = [Deno.execPath(), ...vlabRunArgs(["up", "topologies/vsock-pair.yaml"])]
      .map(shellQuote).join(" ");
    const env = `VLAB_STATE_DIR=${shellQuote(stateDir)} NO_COLOR=1`;
    let listener: Deno.UnixListener | null = null;
    let held: Deno.UnixConn | null = null;
    try {
      const started = await tmux(
        "new-session",
        "-d",
        "-s",
        "lab",
        "-x",
        "140",
        "-y",
        "40",
        `cd ${shellQuote(Deno.cwd())} && env ${env} ${up}; echo "EXITED $?"; sleep 60`,
      );
      assert.equal(started.code, 0, started.stderr);
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));

      await tmux("send-keys", "-t", "lab", "Tab");
      const queues = await waitFor("the Queues panel", (s) => /\[Queues\]/.test(s));
      // The label column cuts "event" to "eve…".
      for (const q of ["rx ", "tx ", "eve"]) {
        assert.match(queues, new RegExp(`a/vsock0 ${q}\\S* +split +128`), queues);
        assert.match(queues, new RegExp(`b/vsock0 ${q}\\S* +split +128`), queues);
      }

      // A host listener that never reads: a's vsock-send to it stalls on credit.
      listener = Deno.listen({
        transport: "unix",
        path: `${stateDir}/vsock-pair/a/vsock.sock_6000`,
      });
      const accepted = listener.accept();
      const send = run(
        Deno.execPath(),
        vlabRunArgs(["exec", "a", "--", "vsock-send", "2", "6000", "-b", "4000000"]),
        { VLAB_STATE_DIR: stateDir },
      );
      held = await accepted;
      await tmux("send-keys", "-t", "lab", "Tab");
      const links = await waitFor(
        "a's stalled connection in the Links panel",
        (s) => /\[Links\]/.test(s) && /host:6000 +established .* 0 B /.test(s),
      );
      assert.match(links, /a\/vsock0 {2}vsock {2}1 connection/);
      held.close();
      held = null;
      await send;
      await tmux("send-keys", "-t", "lab", "q");
      await waitFor("the stop question", (s) => /Stop the lab\? \(y\/n\)/.test(s));
      await tmux("send-keys", "-t", "lab", "y");
      await waitFor("vlab up to exit", (s) => /EXITED 0/.test(s));
    } finally {
      held?.close();
      listener?.close();
      await tmux("kill-server");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
