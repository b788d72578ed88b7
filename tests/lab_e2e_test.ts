/**
 * End-to-end tests of running labs from the command line, the way a user does: `vlab up -d`,
 * `status`, `exec`, `capture` (checked with tshark), the control socket with `curl
 * --unix-socket`, `link`, `down`, `ls`, and what is left behind (nothing), including after the
 * lab's process is killed. Every test uses its own state folder (VLAB_STATE_DIR).
 *
 * Needs `curl` and `tshark` on PATH (the test task installs them: tests/tools.ts); a test whose tool is missing
 * fails with a message that says so.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { captureStarted, onPath, readProc, runProgram, spawnVlab, vlabIn, withLab } from "./run.ts";
import { holdFakeLab } from "../lab/fake_lab_testing.ts";
import { inStateDir, pathExists } from "../lab/testing.ts";
import { twoAtOnce } from "./two_at_once.ts";

/** Entries left in a state folder, but the event logs kept in `logs/`. */
function leftovers(stateDir: string): string[] {
  return [...Deno.readDirSync(stateDir)].map((e) => e.name).filter((n) => n !== "logs");
}

/**
 * The state letter of `/proc/PID/stat` ("T": stopped), or "" once the process is gone; read by
 * `cat`, as Deno reads `/proc` only with --allow-all.
 */
function procState(pid: number): string {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat === null ? "" : stat.slice(stat.lastIndexOf(")") + 2)[0];
}

async function waitFor(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ok()) {
    assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "capture ends on Ctrl-C or SIGTERM alike: its summary, a whole pcap, exit 0",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // SIGTERM ended the process at once (143): no summary, and the lab's capture not ended.
    await withLab("pair", async (vlab, stateDir) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const pcap = `${stateDir}/../vlab-e2e-${crypto.randomUUID()}.pcap`;
        const child = spawnVlab(["capture", "a-b", "-w", pcap], { stateDir });
        const output = child.output();
        try {
          // Frames in the file prove the capture runs (and listens for signals).
          const deadline = performance.now() + 20_000;
          for (;;) {
            const ping = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "1");
            assert.equal(ping.code, 0, ping.stderr);
            const size = await Deno.stat(pcap).then((i) => i.size, () => 0);
            if (size > 24) break;
            assert.ok(performance.now() < deadline, `${signal}: nothing captured`);
          }
          child.kill(signal);
          const out = await output;
          const stderr = new TextDecoder().decode(out.stderr);
          assert.equal(out.code, 0, `${signal}: ${stderr}`);
          assert.match(stderr, /^\d+ frames? captured, 0 dropped$/m, signal);
          const frames = Number(stderr.match(/^(\d+) frames?/m)![1]);
          const read = await runProgram("tshark", [
            "-r",
            pcap,
            "-T",
            "fields",
            "-e",
            "frame.number",
          ]);
          assert.equal(read.code, 0, read.stderr);
          assert.equal(read.stdout.trim().split("\n").length, frames, signal);
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // Ended.
          }
          await output.catch(() => {});
          await Deno.remove(pcap).catch(() => {});
        }
      }
    });
  },
});

Deno.test({
  name:
    "pair: up -d, status, ping, capture read by tshark, curl on the socket, down leaves nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    assert.ok(
      await onPath("curl"),
      "curl is not installed (the test task installs it: tests/tools.ts)",
    );
    assert.ok(
      await onPath("tshark"),
      "tshark is not installed (the test task installs it: tests/tools.ts)",
    );
    await withLab("pair", async (vlab, stateDir) => {
      const status = await vlab("status", "--json");
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout);
      assert.equal(s.name, "pair");
      assert.deepEqual(
        s.vms.map((v: { name: string; state: string; nics: { ip: string }[] }) => [
          v.name,
          v.state,
          v.nics[0].ip,
        ]),
        [["a", "running", "10.0.0.1/24"], ["b", "running", "10.0.0.2/24"]],
      );

      // Capture the link while pinging across it.
      const pcap = `${stateDir}/../vlab-e2e-${crypto.randomUUID()}.pcap`;
      // Ended by Ctrl-C once the ping is done: a fixed 0.5 s head start and a 3 s --duration
      // missed frames when a loaded machine started the capture or the exec late.
      const capture = spawnVlab(["capture", "a-b", "-w", pcap], { stateDir });
      const output = capture.output();
      try {
        await captureStarted(pcap);
        const ping = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "3", "-i", "0.1");
        assert.equal(ping.code, 0, ping.stderr);
        assert.match(ping.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
        assert.match(ping.stdout, /64 bytes from 10\.0\.0\.2: icmp_seq=1 ttl=64/);
        capture.kill("SIGINT");
        const cap = await output;
        assert.equal(cap.code, 0, new TextDecoder().decode(cap.stderr));
      } finally {
        try {
          capture.kill("SIGKILL");
        } catch {
          // Ended.
        }
        await output.catch(() => {});
      }
      const tshark = await runProgram("tshark", [
        "-r",
        pcap,
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "icmp.type",
        "-Y",
        "icmp",
      ]);
      await Deno.remove(pcap).catch(() => {});
      assert.equal(tshark.code, 0, tshark.stderr);
      const lines = tshark.stdout.trim().split("\n");
      assert.equal(lines.filter((l) => l === "10.0.0.1\t10.0.0.2\t8").length, 3, tshark.stdout);
      assert.equal(lines.filter((l) => l === "10.0.0.2\t10.0.0.1\t0").length, 3, tshark.stdout);

      // The control socket: mode 0600, JSON and Prometheus answers, 4xx for bad requests.
      const socket = `${stateDir}/pair/control.sock`;
      assert.equal(Deno.statSync(socket).mode! & 0o777, 0o600);
      const metrics = await runProgram(
        "curl",
        ["-sS", "--unix-socket", socket, "http://vlab/metrics"],
      );
      assert.equal(metrics.code, 0, metrics.stderr);
      const rx = metrics.stdout.match(
        /^vlab_net_device_rx_frames_total\{lab="pair",vm="b",device="eth0",layout="split"\} (\d+)$/m,
      );
      assert.ok(rx, `no rx counter for b in:\n${metrics.stdout.slice(0, 2000)}`);
      assert.ok(Number(rx[1]) >= 3, `b received ${rx[1]} frames`);
      const bad = await runProgram("curl", [
        "-sS",
        "-o",
        "/dev/stderr",
        "-w",
        "%{http_code}",
        "--unix-socket",
        socket,
        "-X",
        "POST",
        "-d",
        "not json",
        "http://vlab/exec",
      ]);
      assert.equal(bad.stdout, "400");
      assert.match(bad.stderr, /"code":"bad-request"/);
      const missing = await runProgram("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--unix-socket",
        socket,
        "http://vlab/nope",
      ]);
      assert.equal(missing.stdout, "404");
      // The lab kept running.
      // A value `link set` cannot read changes nothing: asked beside that ping.
      const [again, badValue] = await twoAtOnce([
        ["exec", "b", "--", "ping", "10.0.0.1", "-c", "1"],
        ["link", "a-b", "set", "jitter=2"],
      ], (args) => vlab(...args));
      assert.equal(again.code, 0, again.stderr);

      // Link down: the guest sees it and pings get no answer; up again: they do.
      assert.equal((await vlab("link", "a-b", "down")).code, 0);
      const lost = await vlab(
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-c",
        "2",
        "-i",
        "0.1",
        "-W",
        "0.3",
      );
      assert.match(lost.stdout + lost.stderr, /0 received|100% packet loss/);
      assert.equal((await vlab("link", "a-b", "up")).code, 0);
      const back = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "1");
      assert.match(back.stdout, /1 received/);

      // Live impairment (netem's change): loss 100% cuts pings, clear restores them, a delay
      // set on one direction shows in the round trip, and status shows what is in force.
      const lossy = await vlab("link", "a-b", "set", "loss=100%");
      assert.equal(lossy.code, 0, lossy.stderr);
      assert.match(lossy.stdout, /forward loss 100%; reverse loss 100%/);
      const cut = await vlab(
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-c",
        "2",
        "-i",
        "0.1",
        "-W",
        "0.3",
      );
      assert.match(cut.stdout + cut.stderr, /0 received|100% packet loss/);
      assert.equal((await vlab("link", "a-b", "clear")).code, 0);
      const healed = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "1");
      assert.match(healed.stdout, /1 received/);
      const slow = await vlab("link", "a-b", "set", "delay=30ms", "--direction", "forward");
      assert.equal(slow.code, 0, slow.stderr);
      const shown = await vlab("status");
      assert.match(
        shown.stdout,
        /forward \d+ frames \(delay 30ms\)[^\n]*\n\s+reverse \d+ frames \(no impairment\)/,
      );
      const rtt = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "2", "-i", "0.1");
      const times = [...rtt.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      assert.equal(times.length, 2, rtt.stdout);
      assert.ok(times.every((t) => t >= 30), `RTTs ${times} with a 30 ms forward delay`);
      assert.equal((await vlab("link", "a-b", "clear")).code, 0);
      assert.equal(badValue.code, 2, badValue.stderr);
      assert.match(badValue.stderr, /Cannot read jitter "2": expected a duration/);
      assert.match(badValue.stderr, /hint: write a duration/);

      const down = await vlab("down");
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(leftovers(stateDir), []);
      // The event log outlives the lab, and down says where it is.
      const log = down.stdout.match(/^event log (\S+\.jsonl)$/m)?.[1];
      assert.ok(log, `down did not name the event log:\n${down.stdout}`);
      assert.ok(log.startsWith(`${stateDir}/logs/pair-`), log);
      const kinds = Deno.readTextFileSync(log).trim().split("\n").map((l) => JSON.parse(l).kind);
      assert.deepEqual([kinds[0], kinds.at(-1)], ["lab-up", "lab-down"]);
      assert.ok(kinds.includes("link-down"), kinds.join(" "));
      const ls = await vlab("ls");
      assert.match(ls.stdout, /no lab is running/);
    });
  },
});

Deno.test({
  name: "star: every VM pings every other VM through the switch; a partition cuts, heal restores " +
    "(workers from their sources)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Every other lab of the suite runs its workers from bundles: this one runs the sources.
    await withLab("star", async (vlab, stateDir) => {
      const hosts = ["h1", "h2", "h3", "h4"];
      const pairs = hosts.flatMap((from, i) =>
        hosts.flatMap((_, j) => i === j ? [] : [{ from, to: `10.0.0.${j + 1}` }])
      );
      // Each ping is a `vlab exec` of its own: two at once.
      await twoAtOnce(pairs, async ({ from, to }) => {
        const r = await vlab("exec", from, "--", "ping", to, "-c", "1");
        assert.equal(r.code, 0, `${from} → ${to}: ${r.stderr}`);
        assert.match(r.stdout, /1 packets transmitted, 1 received/, `${from} → ${to}`);
      });

      // A partition through the switch: across it pings fail, within a side they pass; heal.
      const cut = await vlab("partition", "h1,h2", "/", "h3,h4");
      assert.equal(cut.code, 0, cut.stderr);
      assert.match(cut.stdout, /^partition 1: h1,h2 ⇹ h3,h4$/m);
      // What follows does not change the partition: two commands at once.
      const [status, across, within, noSlash, unknown] = await twoAtOnce([
        ["status"],
        ["exec", "h1", "--", "ping", "10.0.0.3", "-c", "2", "-i", "0.1", "-W", "0.3"],
        ["exec", "h1", "--", "ping", "10.0.0.2", "-c", "1"],
        ["partition", "h1", "h3"],
        ["partition", "h1", "/", "h9"],
      ], (args) => vlab(...args));
      assert.match(status.stdout, /^partitions:\n {2}1: h1,h2 ⇹ h3,h4$/m);
      assert.match(across.stdout + across.stderr, /0 received/);
      assert.match(within.stdout, /1 received/);
      assert.equal(noSlash.code, 2, noSlash.stderr);
      assert.match(noSlash.stderr, /Cannot read partition "h1 h3"/);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(unknown.stderr, /no VM "h9"/);
      const heal = await vlab("heal");
      assert.equal(heal.code, 0, heal.stderr);
      assert.match(heal.stdout, /^healed partition 1$/m);
      const back = await vlab("exec", "h1", "--", "ping", "10.0.0.3", "-c", "1");
      assert.match(back.stdout, /1 received/);
      const down = await vlab("down", "star");
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(leftovers(stateDir), []);
      const log = down.stdout.match(/^event log (\S+\.jsonl)$/m)?.[1];
      assert.ok(log, `down did not name the event log:\n${down.stdout}`);
      const up = JSON.parse(Deno.readTextFileSync(log).split("\n")[0]);
      assert.deepEqual([up.kind, up.detail?.workers], ["lab-up", "sources"]);
    }, { VLAB_BUNDLE: "0" });
  },
});

Deno.test({
  name: "a lab whose process was killed is found stale and cleaned by the next command",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const record = JSON.parse(Deno.readTextFileSync(`${stateDir}/pair/lab.json`));
      Deno.kill(record.pid, "SIGKILL");
      // Wait until the process is gone (detached, it is reaped by init, not by us).
      const deadline = Date.now() + 5000;
      // (Read by cat: Deno's own read of /proc threw in the test task, and the wait ended at once.)
      while (Date.now() < deadline) {
        const state = procState(record.pid);
        if (state === "" || state === "Z" || state === "X") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // The first command that looks for a lab says what became of it, not only "no lab".
      const status = await vlab("status");
      assert.equal(status.code, 1);
      assert.match(status.stderr, /^removed stale lab pair: its process \d+ is gone$/m);
      assert.match(status.stderr, /^vlab: No lab is running$/m);
      assert.deepEqual(leftovers(stateDir), []);
      const ls = await vlab("ls");
      assert.equal(ls.code, 0, ls.stderr);
      assert.equal(ls.stderr, "", "said once");
      assert.match(ls.stdout, /no lab is running/);
    });
  },
});

Deno.test({
  name: "vlab up with a malformed topology starts nothing and names file:line:col",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const file = `${stateDir}/bad.yaml`;
    Deno.writeTextFileSync(
      file,
      "name: bad\nvms:\n  a:\n    nics:\n      eth0: { ip: 10.0.0.1/24, queue_sise: 64 }\n",
    );
    try {
      const up = await vlabIn(stateDir)("up", file);
      assert.equal(up.code, 1);
      assert.match(
        up.stderr,
        new RegExp(`^${file.replace(/[.]/g, "\\.")}:5:\\d+: .*queue_sise`, "m"),
      );
      assert.match(up.stderr, /did you mean .*queue_size/);
      assert.deepEqual(leftovers(stateDir).filter((n) => n !== "bad.yaml"), []);
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "vlab ls does not resume a lab frozen with kill -STOP, and shows it as stopped",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const { pid } = JSON.parse(Deno.readTextFileSync(`${stateDir}/pair/lab.json`));
      Deno.kill(pid, "SIGSTOP");
      try {
        await waitFor("the lab to stop", () => procState(pid) === "T", 5000);
        const ls = await vlab("ls");
        assert.equal(procState(pid), "T", "vlab ls resumed the frozen lab");
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(ls.stdout, new RegExp(`^pair\\s+stopped\\s+2\\s+${pid}\\s`, "m"));
        // Nor does any other client (here vlab graph): each says so rather than hang. The two
        // run side by side.
        const [status, graph] = await twoAtOnce([["status"], ["graph"]], (args) => vlab(...args));
        assert.equal(procState(pid), "T", "vlab status or vlab graph resumed the frozen lab");
        assert.equal(status.code, 1);
        assert.match(status.stderr, /Lab "pair" is stopped/);
        assert.match(status.stderr, new RegExp(`kill -CONT ${pid}`));
        assert.equal(graph.code, 1, graph.stderr);
        assert.match(graph.stderr, /Lab "pair" is stopped/);
        // down --all does not hang on it: it says what to do.
        const down = await vlab("down", "--all");
        assert.equal(down.code, 1);
        assert.match(down.stderr, /Cannot stop "pair": stopped with SIGSTOP/);
        assert.equal(procState(pid), "T", "vlab down resumed the frozen lab");
        assert.equal(pathExists(`${stateDir}/pair/lab.json`), true);
      } finally {
        Deno.kill(pid, "SIGCONT");
      }
      const ls = await vlab("ls");
      assert.match(ls.stdout, new RegExp(`^pair\\s+running\\s+2\\s+${pid}\\s`, "m"));
    });
  },
});

Deno.test({
  name: "vlab down stops a lab whose control socket does not answer, with SIGTERM",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const { pid, socket } = JSON.parse(Deno.readTextFileSync(`${stateDir}/pair/lab.json`));
      // The lab lives, but no request can reach it any more.
      Deno.removeSync(socket);
      const down = await vlab("down");
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, /^lab pair down \(its control socket did not answer: SIGTERM\)$/m);
      await waitFor("the lab's process to end", () => procState(pid) === "", 10_000);
      assert.deepEqual(leftovers(stateDir), []);
    });
  },
});

Deno.test({
  name: "kill -9 during start-up does not make the next vlab up fail",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const vlab = vlabIn(stateDir);
    const child = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["up", "star", "--quiet"]),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: vlabChildEnv({ VLAB_STATE_DIR: stateDir }),
    }).spawn();
    try {
      await waitFor("the lab folder", () => pathExists(`${stateDir}/star`));
      assert.equal(
        pathExists(`${stateDir}/star/lab.json`),
        false,
        "the lab came up before the kill",
      );
      child.kill("SIGKILL");
      await child.status;
      // A file of the user's with the name a detached start once used for its log is not vlab's.
      Deno.writeTextFileSync(`${stateDir}/star.start.log`, "mine");
      const up = await vlab("up", "star", "-d");
      assert.equal(up.code, 0, `vlab up after a killed start-up failed:\n${up.stderr}`);
      assert.equal(Deno.readTextFileSync(`${stateDir}/star.start.log`), "mine");
      const ls = await vlab("ls");
      assert.match(ls.stdout, /^star\s+running\s/m);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "Ctrl-C during vlab up -d stops the starting lab, leaves nothing behind and exits 130",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const vlab = vlabIn(stateDir);
    const parent = spawnVlab(["up", "star", "-d"], { stateDir });
    const output = parent.output();
    try {
      // The detached child has made its folder: the lab is starting, not up.
      await waitFor("the lab folder", () => pathExists(`${stateDir}/star`));
      assert.equal(pathExists(`${stateDir}/star/lab.json`), false, "the lab came up before Ctrl-C");
      parent.kill("SIGINT");
      const out = await output;
      const stderr = new TextDecoder().decode(out.stderr);
      // It did not finish its job (no lab is up): 130, as any command a Ctrl-C stops early.
      assert.equal(out.code, 130, stderr);
      assert.match(stderr, /Interrupted: the background lab "star" was stopped/);
      await waitFor("the lab folder to go", () => !pathExists(`${stateDir}/star`));
      assert.deepEqual(leftovers(stateDir), [], "a lab folder or a .start.log was left");
      const ls = await vlab("ls");
      assert.match(ls.stdout, /no lab is running/);
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "vlab status on a live lab whose control socket is saturated (EAGAIN) keeps the lab",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-e2e-", async (stateDir) => {
      // This test process plays the lab: it holds the folder and a socket whose backlog is full.
      const lab = holdFakeLab("pair");
      const record = lab.record;
      assert.equal(record.socket, `${stateDir}/pair/control.sock`);
      const listener = Deno.listen({ transport: "unix", path: record.socket });
      const conns: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 5000; i++) {
          try {
            conns.push(await Deno.connect({ transport: "unix", path: record.socket }));
          } catch (e) {
            assert.ok(e instanceof Deno.errors.WouldBlock, `connect failed with ${e}`);
            break;
          }
        }
        assert.ok(conns.length < 5000, "the socket's backlog never filled");
        const status = await vlabIn(stateDir)("status");
        assert.equal(status.code, 1);
        assert.match(status.stderr, /Lab "pair" is running but its control socket did not take/);
        assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${stateDir}/pair/lab.json`)), record);
        const ls = await vlabIn(stateDir)("ls");
        assert.match(ls.stdout, new RegExp(`^pair\\s+running\\s+2\\s+${Deno.pid}\\s`, "m"));
      } finally {
        for (const c of conns) c.close();
        listener.close();
        await lab.close();
      }
    }),
});
