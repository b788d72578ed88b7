/**
 * `vlab up` in the foreground, as a user runs it in a terminal: it registers the lab, says it is
 * up, and on Ctrl-C (SIGINT) or SIGTERM stops every worker, says so, exits 0 and leaves only its
 * event log in the state folder. `vlab up --dry-run` prints the plan and starts nothing. Every test uses its own
 * state folder (VLAB_STATE_DIR).
 *
 * The child process and its pipes outlive a single tick of the event loop, so the resource and
 * op sanitizers are off; a child that is still alive at the end is killed in `finally`.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { pathExists } from "../lab/testing.ts";
import { shellQuote } from "../cli/child.ts";

const decoder = new TextDecoder();

/** Collect a stream's text as it arrives (`text()` reads what came so far). */
function collect(stream: ReadableStream<Uint8Array>): { text(): string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return { text: () => text, done };
}

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ok()) {
    assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `vlab up pair in the foreground stops cleanly on ${signal}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const stateDir = await Deno.makeTempDir({ prefix: "vlab-up-fg-" });
      const child = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["up", "pair"]),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
      }).spawn();
      const stdout = collect(child.stdout);
      const stderr = collect(child.stderr);
      let exited = false;
      const status = child.status.then((s) => {
        exited = true;
        return s;
      });
      try {
        const record = `${stateDir}/pair/lab.json`;
        await waitFor("lab.json", () => pathExists(record) || exited);
        assert.ok(!exited, `vlab up exited early:\n${stdout.text()}\n${stderr.text()}`);
        const r = JSON.parse(Deno.readTextFileSync(record));
        assert.equal(r.pid, child.pid);
        assert.equal(r.socket, `${stateDir}/pair/control.sock`);
        // "up in" is printed after the signal handlers are installed: only then is a signal
        // a request to stop rather than the end of the process.
        await waitFor('"up in" on stdout', () => /up in/.test(stdout.text()) || exited);
        assert.match(
          stdout.text(),
          /^lab pair up in \d+\.\d\d s \(seed 1\): 2 VMs, 0 switches, 1 link$/m,
        );
        assert.match(stdout.text(), new RegExp(`control socket ${stateDir}/pair/control\\.sock`));

        child.kill(signal);
        const s = await status;
        await Promise.all([stdout.done, stderr.done]);
        assert.equal(s.code, 0, `exit ${s.code} (signal ${s.signal}):\n${stderr.text()}`);
        // Straight after what it printed at the start: no blank line (no summary line to end).
        assert.match(stdout.text(), /Ctrl-C stops\nlab pair down\n/);
        assert.equal(stderr.text(), "");
        // Only the event log is left, where the last line says.
        assert.deepEqual([...Deno.readDirSync(stateDir)].map((e) => e.name), ["logs"]);
        const log = stdout.text().match(/^event log (\S+)$/m)?.[1];
        assert.ok(log && log.startsWith(`${stateDir}/logs/pair-`), stdout.text());
        assert.match(Deno.readTextFileSync(log), /"kind":"lab-down"/);
      } finally {
        if (!exited) {
          child.kill("SIGKILL");
          await status;
        }
        await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "vlab up --dry-run star prints the plan and starts nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-up-fg-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["up", "--dry-run", "star"]),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
      }).output();
      const stdout = decoder.decode(out.stdout);
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      assert.match(stdout, /^lab star \(seed 1\)/);
      assert.match(stdout, /^ {2}switch sw1: .*ports h1-sw1, h2-sw1, h3-sw1, h4-sw1$/m);
      const vms = stdout.match(/^ {2}vm h\d: /gm) ?? [];
      assert.equal(vms.length, 4, stdout);
      assert.deepEqual([...Deno.readDirSync(stateDir)], [], "a dry run left state behind");
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "vlab up in a terminal with stdin not a terminal shows the summary line (no dashboard), cut to fit",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // `vlab up pair </dev/null` with stdout on a terminal showed neither the dashboard (it reads
    // keys) nor the summary line. `script` gives the command a pseudo-terminal for stdout, 40
    // columns wide: the line (about 50) wrapped, and each second left a copy of its first part.
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-up-fg-" });
    const line = [Deno.execPath(), ...vlabRunArgs(["up", "pair"])].map(shellQuote).join(" ");
    const child = new Deno.Command("script", {
      args: ["-qec", `stty cols 40 </dev/tty; ${line} </dev/null`, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
    }).spawn();
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    let labPid: number | undefined;
    try {
      const record = `${stateDir}/pair/lab.json`;
      await waitFor("lab.json", () => pathExists(record) || exited);
      assert.ok(!exited, `vlab up exited early:\n${stdout.text()}\n${stderr.text()}`);
      labPid = JSON.parse(Deno.readTextFileSync(record)).pid;
      // Each update: `\r`, the line, then clear to the end of the line.
      const summaries = () =>
        // deno-lint-ignore no-control-regex
        [...stdout.text().matchAll(/\r([^\r\n\x1b]*)\x1b\[K/g)].map((m) => m[1]);
      await waitFor("two summary lines", () => summaries().length >= 2 || exited);
      assert.ok(!exited, `vlab up exited early:\n${stdout.text()}\n${stderr.text()}`);
      for (const s of summaries()) {
        assert.match(s, /^pair: 2\/2 VMs running, \d+ frames? over l/);
        assert.ok(s.length <= 39, `${JSON.stringify(s)} does not fit 40 columns`);
      }
      // No dashboard: it would have taken the alternate screen (or said it needs a terminal).
      assert.ok(!stdout.text().includes("\x1b[?1049h"), stdout.text());
      assert.doesNotMatch(stdout.text(), /Overview|needs a terminal/);
      Deno.kill(labPid!, "SIGTERM");
      const s = await status;
      await Promise.all([stdout.done, stderr.done]);
      assert.equal(s.code, 0, `exit ${s.code}:\n${stdout.text()}\n${stderr.text()}`);
      assert.match(stdout.text(), /^lab pair down\r?$/m);
    } finally {
      if (!exited) {
        if (labPid !== undefined) Deno.kill(labPid, "SIGKILL");
        child.kill("SIGKILL");
        await status;
      }
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
