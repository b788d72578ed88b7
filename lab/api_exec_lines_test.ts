/**
 * `lab.vm(x).exec(argv, { onLine })`: a script hears a workload's lines as they happen (a
 * ping's replies, before `exec` resolves), the first lines of its `text`; an `onLine` that is
 * no function is a `TypeError`, and one that throws is reported as an uncaught error while the
 * workload runs on. Uses its own VLAB_STATE_DIR; the lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import { LabError, PartialExecError, type PingResult, startLab } from "../mod.ts";
import { LAB_TEST } from "./testing.ts";

const MINI = {
  name: "api-lines",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.1.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.1.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name:
    "exec's onLine hears a ping's replies as they come; a bad or throwing onLine is the script's",
  ...LAB_TEST,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-api-lines-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", dir);
    const lab = await startLab(MINI, { stopOnSignals: false });
    try {
      const heard: { line: string; at: number }[] = [];
      const t0 = performance.now();
      // 3 pings 0.3 s apart: the first reply about 0.6 s before the end.
      const r = await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "3", "-i", "0.3"], {
        onLine: (line) => heard.push({ line, at: performance.now() - t0 }),
      });
      const end = performance.now() - t0;
      assert.equal(heard.length, 4, heard.map((h) => h.line).join("\n"));
      assert.match(heard[1].line, /^64 bytes from 10\.1\.0\.2: icmp_seq=1 ttl=64 time=[\d.]+ ms$/);
      assert.ok(end - heard[1].at > 350, `first reply at ${heard[1].at} ms, end at ${end} ms`);
      assert.deepEqual(
        (r.text as string).split("\n").slice(0, 4),
        heard.map((h) => h.line),
      );

      // A listener that is no function: a TypeError, before anything runs.
      await assert.rejects(
        lab.vm("a").exec(["ping", "10.1.0.2"], { onLine: "print" as unknown as () => void }),
        /^TypeError: exec: options.onLine must be a function \(line: string\) => void, got string$/,
      );
      // One that throws: reported as uncaught (a script's "error" listener sees it), the
      // workload runs to its end.
      const uncaught: unknown[] = [];
      const onError = (e: ErrorEvent) => {
        e.preventDefault();
        uncaught.push(e.error);
      };
      globalThis.addEventListener("error", onError);
      try {
        const r2 = await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "2", "-i", "0.1"], {
          onLine: () => {
            throw new Error("listener bug");
          },
        });
        assert.equal(r2.received, 2);
        await new Promise((r) => setTimeout(r, 0));
        assert.equal(uncaught.length, 3);
        assert.match(String(uncaught[0]), /listener bug/);
      } finally {
        globalThis.removeEventListener("error", onError);
      }
    } finally {
      await lab.stop();
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "a vm-crash mid-run makes exec and spawn's result throw a PartialExecError whose " +
    "partial is what the ping had sent and heard, with its statistics, with or without onLine",
  ...LAB_TEST,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-api-partial-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", dir);
    const lab = await startLab(MINI, { stopOnSignals: false });
    const long = ["ping", "10.1.0.2", "-c", "100", "-i", "0.05"] as const;
    // The VM crashes at the second reply; the error comes with what the ping had done.
    const crashAt = (line: string) => {
      if (/icmp_seq=2 /.test(line)) void lab.lab.fault({ kind: "vm-crash", vm: "a" });
    };
    const check = (e: unknown) => {
      assert.ok(e instanceof PartialExecError, String(e));
      assert.ok(e instanceof LabError);
      assert.equal(e.code, "workload-failed");
      assert.match(e.message, /VM "a" crashed before it answered/);
      assert.equal(e.partial.kind, "ping");
      const partial = e.partial as PingResult;
      assert.ok(partial.transmitted >= 2 && partial.transmitted < 100, String(partial.transmitted));
      assert.ok(partial.received >= 2);
      assert.match(partial.text, /--- 10\.1\.0\.2 ping statistics ---\n\d+ packets transmitted/);
      return true;
    };
    try {
      await assert.rejects(lab.vm("a").exec(long, { onLine: crashAt }), check);
      const rebooted = performance.now() + 10_000;
      while (lab.vm("a").state() !== "running") {
        assert.ok(performance.now() < rebooted, "a did not reboot");
        await new Promise((done) => setTimeout(done, 20));
      }
      const spawned = await lab.vm("a").spawn(long, { onLine: crashAt });
      await assert.rejects(spawned.result, check);
      // Without onLine too: the handle hears the lines all the same (it was a plain LabError).
      while (lab.vm("a").state() !== "running") {
        assert.ok(performance.now() < rebooted + 10_000, "a did not reboot");
        await new Promise((done) => setTimeout(done, 20));
      }
      const quiet = lab.vm("a").exec(long);
      const timer = setTimeout(() => void lab.lab.fault({ kind: "vm-crash", vm: "a" }), 500);
      try {
        await assert.rejects(quiet, check);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await lab.stop();
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
