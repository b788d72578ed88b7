/**
 * A script's workload cut short by the lab's stop (`lab.stop()`, `vlab down`, a signal to the
 * lab's process) is no whole run: `lab.vm(x).exec` and `spawn`'s `result` throw a
 * `PartialExecError` with code `no-lab` whose `partial` is what it had measured (they resolved to
 * it, as if it had ended well), and `lab.lab.exec` answers `{ ok: false, code: "no-lab", partial }`.
 * A workload the script's own signal stops still resolves to what it measured. A host vsock
 * stream the lab's stop ends is no stream the guest closed: its read throws `no-lab` (it read
 * null, the end of a whole stream), and so do its write and its writable's writes. Uses its own
 * VLAB_STATE_DIR; the lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import { LabError, PartialExecError, startLab } from "../mod.ts";
import { inStateDir, LAB_TEST } from "./testing.ts";

const MINI = {
  name: "api-stop",
  seed: 5,
  vms: {
    a: { nics: { eth0: { ip: "10.1.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.1.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** A ping of 5 s at most: the lab stops long before its end. */
const LONG_PING = ["ping", "10.1.0.2", "-c", "100", "-i", "0.05"] as const;

/** A stop's default grace for the workloads' answers, ms (`Lab.stop`'s `workloadGraceMs`). */
const DEFAULT_GRACE_MS = 3000;

/** Wait (bounded) until the ping heard `n` replies. */
async function replies(heard: string[], n: number): Promise<void> {
  const deadline = performance.now() + 5000;
  while (heard.filter((l) => l.includes("icmp_seq=")).length < n) {
    assert.ok(performance.now() < deadline, `fewer than ${n} replies: ${heard.join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test({
  name: "exec and spawn cut short by lab.stop() throw a PartialExecError (no-lab) with what " +
    "they had measured; a script's own abort still resolves",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-api-stop-", async () => {
      const lab = await startLab(MINI, { stopOnSignals: false });
      try {
        // The script's own signal: what it asked for, a result.
        const abort = new AbortController();
        const asked: string[] = [];
        const own = lab.vm("a").exec(LONG_PING, {
          signal: abort.signal,
          onLine: (l) => asked.push(l),
        });
        await replies(asked, 2);
        abort.abort();
        const r = await own;
        assert.ok(r.transmitted >= 2 && r.transmitted < 100, String(r.transmitted));

        // The lab's stop: a ping without onLine, a sink through spawn, one through lab.lab.exec.
        // When each settled, from the stop's start: an answer without a partial is right only
        // once the stop's default grace is over (a guest slower than that on a loaded machine).
        let stopAt = Infinity;
        const settledAfter = new Map<string, number>();
        const timed = <T>(what: string, p: Promise<T>) => {
          const note = () => settledAfter.set(what, performance.now() - stopAt);
          p.then(note, note);
          return p;
        };
        const graceOver = (what: string) => (settledAfter.get(what) ?? 0) >= DEFAULT_GRACE_MS - 50;
        const heard: string[] = [];
        const ping = timed("exec", lab.vm("a").exec(LONG_PING));
        const watched = timed(
          "exec with onLine",
          lab.vm("a").exec(LONG_PING, { onLine: (l) => heard.push(l) }),
        );
        const sink = await lab.vm("b").spawn(["sink", "-p", "9000", "-t", "30"]);
        const sunk = timed("spawn", sink.result);
        const raw = timed("lab.lab.exec", lab.lab.exec("a", [...LONG_PING]));
        const outcomes = Promise.allSettled([ping, watched, sunk]);
        await replies(heard, 3);
        // The script's stop, with the default grace (3 s): each cancelled workload's answer is
        // what its guest measured when the guest answers within it, as it does within
        // milliseconds on an idle machine. A grace that did not wait (or a stop that never
        // asked the guests) answers at once without it, which fails below.
        stopAt = performance.now();
        await lab.stop();
        const [p, w, s] = await outcomes;
        for (const [what, settled] of [["exec", p], ["exec with onLine", w]] as const) {
          assert.equal(settled.status, "rejected", `${what} resolved as a whole run`);
          const e = (settled as PromiseRejectedResult).reason;
          if (!(e instanceof PartialExecError) && graceOver(what)) continue; // a slow guest
          assert.ok(e instanceof PartialExecError, `${what}: ${e}, ${settledAfter.get(what)} ms`);
          assert.equal(e.code, "no-lab");
          assert.match(
            e.message,
            /^The workload was cut short: lab "api-stop" stopped while it ran$/,
          );
          assert.equal(e.partial.kind, "ping");
          if (e.partial.kind !== "ping") return;
          assert.ok(
            e.partial.transmitted >= 3 && e.partial.transmitted < 100,
            `${what}: ${e.partial.transmitted}`,
          );
          assert.match(e.partial.text, /--- 10\.1\.0\.2 ping statistics ---/);
        }
        assert.equal(s.status, "rejected", "spawn's result resolved as a whole run");
        const e = (s as PromiseRejectedResult).reason;
        if (e instanceof PartialExecError || !graceOver("spawn")) {
          assert.ok(e instanceof PartialExecError, `${e}, ${settledAfter.get("spawn")} ms`);
          assert.equal(e.code, "no-lab");
          assert.equal(e.partial.kind, "sink");
        }
        const out = await raw;
        assert.equal(out.ok, false, "lab.lab.exec answered a whole run");
        if (out.ok) return;
        assert.equal(out.code, "no-lab");
        if (out.partial !== undefined || !graceOver("lab.lab.exec")) {
          assert.equal(
            (out.partial as { kind?: string } | undefined)?.kind,
            "ping",
            `${settledAfter.get("lab.lab.exec")} ms`,
          );
        }
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a vsock stream the lab's stop ends throws no-lab from read, readable, write and " +
    "writable; the guest's close still reads as its end",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-api-stop-vsock-", async () => {
      const lab = await startLab("vsock-pair", { stopOnSignals: false });
      try {
        await lab.vm("a").spawn(["vsock-echo", "-p", "7"]);
        const bytes = new TextEncoder().encode("hi");
        // The guest's close (its echo answers SHUTDOWN with its own): the end, as before.
        const whole = await lab.vm("a").vsockConnect(7);
        await whole.write(bytes);
        await whole.closeWrite();
        let echoed = 0;
        for await (const chunk of whole.readable) echoed += chunk.length;
        assert.equal(echoed, 2);
        whole.close();
        // The lab's stop: read and readable throw, after the bytes that came.
        const raw = await lab.vm("a").vsockConnect(7);
        const streamed = await lab.vm("a").vsockConnect(7);
        await raw.write(bytes);
        // Through writable, as through write (its writer stays open across the stop).
        const writer = streamed.writable.getWriter();
        await writer.write(bytes);
        const buf = new Uint8Array(16);
        assert.equal(await raw.read(buf), 2);
        const reader = streamed.readable.getReader();
        assert.equal((await reader.read()).value?.length, 2);
        // Both pending while the lab stops (settled here, so no rejection goes unhandled).
        const pending = raw.read(buf);
        const next = reader.read();
        const settled = Promise.allSettled([pending, next]);
        await lab.stop();
        await settled;
        const cut = (e: unknown) => {
          assert.ok(e instanceof LabError, String(e));
          assert.equal(e.code, "no-lab");
          assert.match(
            e.message,
            /^The vsock stream to port 7 of VM "a" was cut short: lab "vsock-pair" stopped while it was open$/,
          );
          return true;
        };
        await assert.rejects(pending, cut);
        await assert.rejects(next, cut);
        await assert.rejects(raw.write(bytes), cut);
        // writable too: it failed with the socket's broken pipe.
        await assert.rejects(writer.write(bytes), cut);
        raw.close();
        raw.close(); // again: nothing
      } finally {
        await lab.stop();
      }
    }),
});
