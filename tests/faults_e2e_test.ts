/**
 * `vlab fault …` end to end, the way a user runs it: each fault kind against a detached lab,
 * the events it leaves (read from the control socket) and the refusals (unknown names exit 1,
 * bad option values exit 2).
 */

import assert from "node:assert/strict";
import { vlabIn } from "./run.ts";
import { twoAtOnce } from "./two_at_once.ts";

interface Event {
  kind: string;
  subject?: string;
  detail?: Record<string, unknown>;
}

Deno.test({
  name:
    "vlab fault: backend-crash (exit, hang, slow), lost-kick, lost-irq and guest-bug, each recorded and recovered from",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-faults-" });
    const vlab = vlabIn(stateDir);
    const client = Deno.createHttpClient({
      proxy: { transport: "unix", path: `${stateDir}/pair/control.sock` },
    });
    const events = async (): Promise<Event[]> =>
      await (await fetch("http://vlab/events", { client })).json();
    const waitEvent = async (what: string, ok: (e: Event[]) => boolean, ms = 10_000) => {
      const deadline = performance.now() + ms;
      while (!ok(await events())) {
        assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const restarts = (e: Event[]) => e.filter((x) => x.kind === "backend-restarted").length;
    // -W 3: a dropped used-buffer interrupt (lost-irq) stalls that queue until its guest's next
    // wake-up, as a lost interrupt does in Linux; the replies come, later.
    const ping = async () => {
      const r = await vlab(
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-c",
        "2",
        "-i",
        "0.05",
        "-W",
        "3",
      );
      assert.equal(r.code, 0, `ping after the fault:\n${r.stdout}${r.stderr}`);
    };
    try {
      const up = await vlab("up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);

      const exit = await vlab("fault", "backend-crash", "a");
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stdout, /^injected backend-crash on a \(mode=exit\)$/m);
      await waitEvent("a restart after exit", (e) => restarts(e) === 1);
      await ping();

      const hang = await vlab("fault", "backend-crash", "a", "--mode", "hang", "--ms", "1500");
      assert.equal(hang.code, 0, hang.stderr);
      await waitEvent("a restart after a hang", (e) => restarts(e) === 2);
      const crashes = (await events()).filter((x) => x.kind === "backend-crash");
      assert.deepEqual(crashes.map((x) => x.detail?.cause), ["exit", "hang"]);
      await ping();

      const slow = await vlab("fault", "backend-crash", "a", "--mode", "slow", "--ms", "200");
      assert.equal(slow.code, 0, slow.stderr);
      await ping();
      assert.equal(restarts(await events()), 2, "a slow worker is not replaced");

      for (const [kind, queue, n] of [["lost-kick", "transmitq", 1], ["lost-irq", "receiveq", 2]]) {
        const r = await vlab("fault", String(kind), "b", "eth0", String(queue), "-n", String(n));
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          new RegExp(`^injected ${kind} on b \\(device=eth0 queue=${queue} count=${n}\\)$`, "m"),
        );
      }
      const bug = await vlab("fault", "guest-bug", "a", "eth0", "transmitq", "head-out-of-range");
      assert.equal(bug.code, 0, bug.stderr);
      await waitEvent("the guest's reset", (e) => e.some((x) => x.kind === "device-reset"));
      // b's reply whose kick is lost stays in b's transmitq (the device serves it on kicks) until
      // b's transmit watchdog (5 s) resets the device.
      void vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "1", "-W", "1");
      // Faults the CLI refuses inject nothing: they are asked meanwhile, two at once, and checked
      // at the end.
      const refusals = twoAtOnce([
        ["backend-crash", "zz"],
        ["lost-kick", "a", "eth0", "toString"],
        ["guest-bug", "a", "eth0", "transmitq", "meteor"],
        ["backend-crash", "a", "--mode", "hang", "--ms", "soon"],
      ], (args) => vlab("fault", ...args)).then((runs) => ({ runs }), (error) => ({ error }));
      await waitEvent(
        "b's tx-timeout reset",
        (e) => e.some((x) => x.kind === "device-reset" && x.subject === "b"),
        15_000,
      );
      await ping();

      const faults = (await events()).filter((x) => x.kind === "fault");
      assert.deepEqual(
        faults.map((x) => x.detail?.fault),
        ["backend-crash", "backend-crash", "backend-crash", "lost-kick", "lost-irq", "guest-bug"],
      );
      // The boot time is named as typed (--ms), in the answer and the events: it said bootMs=200.
      const reboot = await vlab("fault", "vm-crash", "b", "--ms", "200");
      assert.equal(reboot.code, 0, reboot.stderr);
      assert.match(reboot.stdout, /^injected vm-crash on b \(ms=200\)$/m);
      await waitEvent("b's reboot", (e) => e.some((x) => x.kind === "vm-restarted"));
      const crashed = (await events()).filter((x) =>
        x.kind === "vm-crash" || x.kind === "fault" && x.detail?.fault === "vm-crash"
      );
      assert.deepEqual(crashed.map((x) => x.detail?.ms), [200, 200]);

      const refused = await refusals;
      if ("error" in refused) throw refused.error;
      const [noVm, noQueue, badBug, badMs] = refused.runs;
      assert.equal(noVm.code, 1);
      assert.match(noVm.stderr, /Cannot inject backend-crash: the lab has no VM "zz"/);
      assert.equal(noQueue.code, 1);
      assert.match(noQueue.stderr, /has no queue "toString"/);
      assert.match(noQueue.stderr, /receiveq, transmitq/);
      assert.equal(badBug.code, 2);
      assert.match(badBug.stderr, /Unknown guest bug "meteor"/);
      assert.equal(badMs.code, 2);
      assert.match(badMs.stderr, /--ms must be an integer from 1 to 60000, got "soon"/);
    } finally {
      client.close();
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
