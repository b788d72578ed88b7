/**
 * Command-line errors a user meets: each runs `cli/main.ts` in a subprocess (as `deno task vlab`
 * does) and checks the exit code and the two-line error; plus a scan of every option that a
 * message or hint of the CLI and the lab layer names.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { type Run, runVlab, withoutDenoLockWait } from "./run.ts";
import { twoAtOnce } from "./two_at_once.ts";
import { shellQuote } from "../cli/child.ts";
import { createProgram } from "../cli/main.ts";
import type { Command } from "@commander-js/extra-typings";

const decoder = new TextDecoder();

const vlabWith = (env: Record<string, string>, ...args: string[]) => runVlab(args, { env });
const vlab = (...args: string[]) => vlabWith({}, ...args);

/** Run `fn` with a fresh state folder (no lab runs there), removed afterwards. */
async function inStateDir(
  fn: (env: Record<string, string>, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  try {
    await fn({ VLAB_STATE_DIR: dir }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `vlab ARGS` in `env`, returned once its stderr has said `said` (30 s at most), its whole run to
 * come: a fixed sleep before the test went on raced the child's start (over a second on a loaded
 * machine), and a child that had not looked yet found no starting lab, or said nothing yet.
 */
async function vlabOnceSaid(
  env: Record<string, string>,
  args: string[],
  said: RegExp,
): Promise<{ ended: () => boolean; run: Promise<Run> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", ...env }),
  }).spawn();
  let stderr = "";
  let ended = false;
  const stderrRead = (async () => {
    const d = new TextDecoder();
    for await (const chunk of child.stderr) stderr += d.decode(chunk, { stream: true });
  })();
  const run = Promise.all([child.status, new Response(child.stdout).arrayBuffer(), stderrRead])
    .then(([status, out]) => {
      ended = true;
      const bytes = new Uint8Array(out);
      // Deno's own lock-wait line is not the CLI's.
      return {
        code: status.code,
        stdout: decoder.decode(bytes),
        stderr: withoutDenoLockWait(stderr),
        bytes,
      };
    });
  const deadline = performance.now() + 30_000;
  while (!said.test(stderr)) {
    if (ended || performance.now() > deadline) {
      if (!ended) child.kill("SIGKILL");
      await run;
      assert.fail(`vlab ${args.join(" ")} did not say ${said}; its stderr:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ended: () => ended, run };
}

/**
 * A process that holds lab "ghost"'s folder and lock and writes no lab.json (what `vlab ls` lists
 * as starting), says `holding`, then waits 30 s: `deno eval` code for the tests of a lab still
 * starting.
 */
const GHOST_START = `
  const { createLabDir } = await import(${
  JSON.stringify(new URL("../lab/state.ts", import.meta.url).href)
});
  createLabDir("ghost");
  console.log("holding");
  await new Promise((r) => setTimeout(r, 30_000));
`;

/** stderr is exactly one `vlab:` line and one `hint:` line (Deno's lock wait aside); returns them. */
function errorLines(run: Run): { message: string; hint: string } {
  const lines = withoutDenoLockWait(run.stderr).trimEnd().split("\n");
  assert.equal(lines.length, 2, `two lines on stderr, got:\n${run.stderr}`);
  assert.match(lines[0], /^vlab: \S/);
  assert.match(lines[1], /^hint: \S/);
  return { message: lines[0].slice(6), hint: lines[1].slice(6) };
}

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Every long option of every command, and the options of each command by its path. */
function knownOptions(): { all: Set<string>; of: Map<string, Set<string>> } {
  const all = new Set<string>(["--help", "--version"]);
  const of = new Map<string, Set<string>>();
  const walk = (c: AnyCommand, path: string) => {
    const mine = new Set<string>(["--help"]);
    for (const o of c.options) {
      for (const name of [o.long, o.negate ? o.long?.replace(/^--no-/, "--") : undefined]) {
        if (name) {
          mine.add(name);
          all.add(name);
        }
      }
    }
    of.set(path, mine);
    for (const sub of c.commands) walk(sub, `${path} ${sub.name()}`.trim());
  };
  walk(createProgram() as AnyCommand, "");
  return { all, of };
}

Deno.test("validate --json of an invalid file exits 1 and still prints JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  try {
    const file = `${dir}/bad.yaml`;
    Deno.writeTextFileSync(file, "name: x\nvms: { a: { memory: 1 } }\n");
    const [run, good] = await twoAtOnce([file, "pair"], (f) => vlab("validate", "--json", f));
    assert.equal(run.code, 1, run.stderr);
    const answer = JSON.parse(run.stdout);
    assert.equal(answer.valid, false);
    assert.equal(answer.issues[0].code, "out-of-range");
    assert.equal(run.stderr, "");
    assert.equal(good.code, 0, good.stderr);
    assert.equal(JSON.parse(good.stdout).valid, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `vlab ARGS` through `sh`, with `redirect` applied to it (a redirection the spawn API lacks); it
 * starts once `go` is called, so that a test can set its pipes up first.
 */
function vlabShell(
  redirect: string,
  args: string[],
  env: Record<string, string> = {},
): { child: Deno.ChildProcess; go: () => Promise<void> } {
  const child = new Deno.Command("sh", {
    args: ["-c", `read _go; exec "$0" "$@" ${redirect}`, Deno.execPath(), ...vlabRunArgs(args)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", ...env }),
  }).spawn();
  const go = async () => {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
  };
  return { child, go };
}

/** `vlab ARGS` with its stdout on /dev/full. */
async function vlabToFullDisk(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { child, go } = vlabShell("> /dev/full", args, env);
  await go();
  const out = await child.output();
  return { code: out.code, bytes: out.stdout, stdout: "", stderr: decoder.decode(out.stderr) };
}

Deno.test("a closed stdout (head, tshark quitting) ends a command quietly with exit 0", async () => {
  // vlab starts only once the reading end is closed: its first write meets EPIPE, always.
  const { child, go } = vlabShell("", ["schema"]);
  await child.stdout.cancel();
  await go();
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  assert.equal(stderr, "");
  assert.equal(status.code, 0);
});

Deno.test("stdout that cannot be written (a full disk) is a write-failed error, not a bug", async () => {
  const run = await vlabToFullDisk(["schema"]);
  assert.equal(run.code, 1, run.stderr);
  assert.deepEqual(errorLines(run), {
    message: "Cannot write to stdout: no space left on device",
    hint: "Check where the output goes: a full disk, or a file or pipe that cannot take it",
  });
});

Deno.test("up -d whose line cannot be written says that its lab is up all the same", async () => {
  // It said only "Cannot write to stdout" (exit 1), and the lab ran on unseen.
  await inStateDir(async (env) => {
    try {
      const run = await vlabToFullDisk(["up", "-d"], env);
      assert.equal(run.code, 1, run.stderr);
      const { message, hint } = errorLines(run);
      assert.equal(message, "Cannot write to stdout: no space left on device");
      assert.match(
        hint,
        /^The lab pair is up in the background all the same \(pid \d+\): `vlab down pair` stops it$/,
      );
      assert.match((await vlabWith(env, "ls")).stdout, /^pair +running /m);
    } finally {
      await vlabWith(env, "down", "--all");
    }
  });
});

Deno.test("up -d --quiet prints nothing once its lab is up, as --quiet says", async () => {
  await inStateDir(async (env) => {
    try {
      const up = await vlabWith(env, "up", "-d", "--quiet");
      // It printed "lab pair up in the background (pid …)".
      assert.deepEqual([up.code, up.stdout, up.stderr], [0, "", ""]);
      assert.match((await vlabWith(env, "ls")).stdout, /^pair +running /m);
    } finally {
      await vlabWith(env, "down", "--all");
    }
  });
});

Deno.test({
  name: "the detached lab removes its parent's start log once up: a killed up -d left it for good",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env, dir) => {
      // What `vlab up -d` starts, its error file given; here no parent removes it.
      const log = `${dir}/pair.abc123.start.log`;
      Deno.writeTextFileSync(log, "");
      const mine = `${dir}/notes.txt`; // a file of the user's is never one
      Deno.writeTextFileSync(mine, "keep");
      const child = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["up", "--quiet"]),
        env: vlabChildEnv({ NO_COLOR: "1", ...env, VLAB_ERROR_LOG: log }),
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const deadline = performance.now() + 30_000;
        while (!/^pair +running /m.test((await vlabWith(env, "ls")).stdout)) {
          assert.ok(performance.now() < deadline, "the lab never came up");
          await new Promise((r) => setTimeout(r, 100));
        }
        // lab.json is written before launchLab returns: give the removal a moment.
        const gone = performance.now() + 5_000;
        while (await Deno.stat(log).then(() => true, () => false)) {
          assert.ok(performance.now() < gone, `${log} is still there once the lab is up`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await vlabWith(env, "down", "--all");
        await child.status;
      }
      // The same with VLAB_ERROR_LOG naming the user's file: it stays.
      const other = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["up", "--quiet"]),
        env: vlabChildEnv({ NO_COLOR: "1", ...env, VLAB_ERROR_LOG: mine }),
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const deadline = performance.now() + 30_000;
        while (!/^pair +running /m.test((await vlabWith(env, "ls")).stdout)) {
          assert.ok(performance.now() < deadline, "the lab never came up");
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(Deno.readTextFileSync(mine), "keep");
      } finally {
        await vlabWith(env, "down", "--all");
        await other.status;
      }
    }),
});

Deno.test("help of an unknown command is a usage error with did-you-mean", async () => {
  const [bogus, typo, nested, evil, known] = await twoAtOnce(
    [["bogus"], ["stauts"], ["bench", "rigns"], ["x\x1b]0;pwned\x07"], ["bench", "rings"]],
    (args) => vlab("help", ...args),
  );
  assert.equal(bogus.code, 2);
  assert.equal(bogus.stdout, "");
  const { message, hint } = errorLines(bogus);
  assert.equal(message, 'Unknown command "bogus" for "vlab"');
  assert.equal(hint, 'Run "vlab --help" for the list of commands');
  assert.equal(typo.code, 2);
  assert.equal(errorLines(typo).hint, "Did you mean status?");
  assert.equal(nested.code, 2);
  assert.equal(errorLines(nested).message, 'Unknown command "rigns" for "vlab bench"');
  // A name with a terminal escape sequence is printed escaped.
  assert.equal(evil.code, 2);
  assert.ok(!evil.stderr.includes("\x1b") && !evil.stderr.includes("\x07"), evil.stderr);
  assert.equal(errorLines(evil).message, 'Unknown command "x\\x1b]0;pwned\\x07" for "vlab"');
  assert.equal(known.code, 0, known.stderr);
  assert.match(known.stdout, /^Usage: vlab bench rings /);
});

Deno.test("a hint that repeats a file whose name starts with - writes it ./-…, not as an option", async () => {
  // `vlab up -- -x.yaml` hinted `vlab validate -x.yaml`, which validate takes for an option.
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  try {
    Deno.writeTextFileSync(`${dir}/-x.yaml`, "name: x\nvms: { a: { nics: 3 } }\n");
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(args),
        cwd: dir,
        env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: dir }, dir),
        stdin: "null",
      }).output();
      return { code: out.code, stdout: "", stderr: decoder.decode(out.stderr), bytes: out.stdout };
    };
    const [up, graph] = await twoAtOnce(
      [["up", "--dry-run", "--", "-x.yaml"], ["graph", "--format", "svg", "--", "-x.yaml"]],
      (args) => run(...args),
    );
    assert.equal(up.code, 1, up.stderr);
    assert.match(up.stderr, /run `vlab validate \.\/-x\.yaml` again/);
    assert.equal(graph.code, 2, graph.stderr);
    assert.match(errorLines(graph).hint, /: vlab graph \.\/-x\.yaml \| dot -Tsvg > lab\.svg$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vlab graph - refuses stdin as vlab up - does: a topology is read from a file", async () => {
  await inStateDir(async (env) => {
    // It said `Cannot draw "-": no running lab, shipped topology or file has that name`.
    const run = await runVlab(["graph", "-"], { env, stdin: "name: x\nvms: { a: {} }\n" });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, "");
    assert.deepEqual(errorLines(run), {
      message: 'Cannot read topology file "-": no such file',
      hint:
        "A topology is read from a file, not from stdin: save it to a file and give its path, " +
        "or give a shipped name such as pair",
    });
  });
});

Deno.test("a topology that names no file is one error line and its hint for up, up --dry-run, validate", async () => {
  // A newcomer's typo (`vlab up pari`) printed the problem, then 'Cannot use "pari": 1 problem
  // (above)' with the hint to fix it and run `vlab validate pari` again: four lines, two hints.
  await inStateDir(async (env) => {
    const cases = [["up", "pari"], ["up", "--dry-run", "pari"], ["validate", "pari"]];
    await twoAtOnce(cases, async (args) => {
      const run = await runVlab(args, { env });
      assert.equal(run.code, 1, run.stderr);
      const { message, hint } = errorLines(run);
      assert.equal(message, 'Cannot read topology file "pari": no such file', args.join(" "));
      assert.match(hint, /^Did you mean `pair`\? shipped topologies: pair, star, /);
    });
  });
});

Deno.test("capture -w to a missing folder or a folder, or a bad --duration, is a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  const env = { VLAB_STATE_DIR: dir };
  try {
    // A path that cannot be looked at is not "missing": the system's reason is said.
    Deno.writeTextFileSync(`${dir}/file`, "");
    Deno.symlinkSync(`${dir}/loop`, `${dir}/loop`);
    const [missing, notFolder, loop, folder] = await twoAtOnce(
      [`${dir}/nope/x.pcap`, `${dir}/file/x.pcap`, `${dir}/loop`, dir],
      (path) => vlabWith(env, "capture", "a-b", "-w", path),
    );
    assert.equal(missing.code, 1);
    const m = errorLines(missing);
    assert.equal(
      m.message,
      `Cannot write the capture to "${dir}/nope/x.pcap": folder "${dir}/nope" does not exist`,
    );
    assert.doesNotMatch(m.hint, /bug in vlab/);
    assert.equal(notFolder.code, 1);
    // It said only "not a directory": which folder is a file is said, as --report says it.
    assert.deepEqual(errorLines(notFolder), {
      message:
        `Cannot write the capture to "${dir}/file/x.pcap": "${dir}/file" is a file, not a folder`,
      hint: "Give a path whose folders are folders, or - for stdout",
    });
    assert.equal(loop.code, 1);
    assert.equal(
      errorLines(loop).message,
      `Cannot write the capture to "${dir}/loop": too many levels of symbolic links`,
    );
    assert.equal(folder.code, 1);
    assert.equal(
      errorLines(folder).message,
      `Cannot write the capture to "${dir}": it is a folder`,
    );
    // A duration whose timer would overflow (and fire at once) is refused, lab or not, and so
    // is anything but decimal seconds (`Number()` took "1e1", "0x5" and " 5").
    await twoAtOnce(["1e400", "3000000", "0", "x", "1e1", "0x5", " 5", ".5"], async (bad) => {
      const run = await vlabWith(env, "capture", "a-b", "--duration", bad);
      assert.equal(run.code, 2, `${bad}: ${run.stderr}`);
      assert.deepEqual(errorLines(run), {
        message: `--duration must be a number of seconds from 0.001 to 604800, got "${bad}"`,
        hint: "For example --duration 5",
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("capture to stdout on a terminal is refused before the lab is asked (pcap is binary)", async () => {
  // It wrote raw pcap onto the terminal. `script` gives the command a pseudo-terminal.
  await inStateDir(async (env) => {
    const line = [Deno.execPath(), ...vlabRunArgs(["capture", "a-b"])].map(shellQuote).join(" ");
    const out = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", ...env }),
    }).output();
    const text = decoder.decode(out.stdout).replaceAll("\r", "");
    assert.equal(out.code, 1, text);
    assert.match(
      text,
      /^vlab: Cannot write the capture to "-": standard output is a terminal, and pcap is binary\nhint: Write it to a file \(-w a-b\.pcap\) or into a reader/m,
    );
  });
});

Deno.test({
  name: "a foreground vlab up whose terminal closes (SIGHUP) stops its lab as Ctrl-C does",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env, dir) => {
      // SIGHUP killed it: the lab's folder stayed (stale) and its event log had no lab-down.
      const line = [Deno.execPath(), ...vlabRunArgs(["up", "--no-dashboard"])].map(shellQuote)
        .join(" ");
      const terminal = new Deno.Command("script", {
        args: ["-qfec", `${line} > ${shellQuote(`${dir}/out.txt`)} 2>&1`, "/dev/null"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
        env: vlabChildEnv({ NO_COLOR: "1", ...env }),
      }).spawn();
      try {
        const deadline = performance.now() + 30_000;
        while (!/^pair +running /m.test((await vlabWith(env, "ls")).stdout)) {
          assert.ok(performance.now() < deadline, "the lab never came up");
          await new Promise((r) => setTimeout(r, 100));
        }
        // The terminal goes away: its foreground process gets SIGHUP, as from a closed window.
        terminal.kill("SIGKILL");
        await terminal.status;
        const gone = performance.now() + 15_000;
        while (await Deno.stat(`${dir}/pair`).then(() => true, () => false)) {
          assert.ok(performance.now() < gone, "the lab's folder is still there");
          await new Promise((r) => setTimeout(r, 50));
        }
        const logs = [...Deno.readDirSync(`${dir}/logs`)].map((e) => e.name);
        assert.equal(logs.length, 1, logs.join(", "));
        const events = Deno.readTextFileSync(`${dir}/logs/${logs[0]}`).trim().split("\n");
        assert.equal(JSON.parse(events.at(-1)!).kind, "lab-down", events.at(-1));
      } finally {
        await vlabWith(env, "down", "--all");
      }
    }),
});

Deno.test("dashboard without a terminal, or with a bad --interval, fails at once with a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  try {
    const t0 = performance.now();
    const run = await vlabWith({ VLAB_STATE_DIR: dir }, "dashboard");
    assert.ok(performance.now() - t0 < 10_000, "it did not wait");
    assert.equal(run.code, 1);
    const { message, hint } = errorLines(run);
    assert.equal(message, "Cannot show the dashboard: it needs a terminal on stdin and stdout");
    assert.match(hint, /vlab status/);
    // A bad option is a usage error before anything else (`Number()` would take "1e2" as 100).
    const bad = await vlabWith({ VLAB_STATE_DIR: dir }, "dashboard", "--interval", "1e2");
    assert.equal(bad.code, 2);
    assert.deepEqual(errorLines(bad), {
      message: '--interval must be an integer from 20 to 10000, got "1e2"',
      hint: "For example --interval 100",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad VLAB_DASHBOARD_NICE is one error line, before a dashboard or a lab starts", async () => {
  // It was taken silently: "abc" as the normal priority, "99" as nice 19 (reported as "nice 99").
  await inStateDir(async (env, dir) => {
    await twoAtOnce(["abc", "99", "-21", "1.5", " 5", "idle,5"], async (bad) => {
      const run = await vlabWith({ ...env, VLAB_DASHBOARD_NICE: bad }, "dashboard");
      assert.equal(run.code, 2, `${bad}: ${run.stderr}`);
      assert.deepEqual(errorLines(run), {
        message: `VLAB_DASHBOARD_NICE must be "idle" or a nice value from -20 to 19, got "${bad}"`,
        hint: "For example VLAB_DASHBOARD_NICE=10, or unset it for the default (the idle policy)",
      });
    });
    // `vlab up` in a terminal says it before its lab starts (`script` gives it one).
    const line = [Deno.execPath(), ...vlabRunArgs(["up", "pair"])].map(shellQuote).join(" ");
    const out = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", ...env, VLAB_DASHBOARD_NICE: "abc" }),
    }).output();
    const text = decoder.decode(out.stdout).replaceAll("\r", "");
    assert.equal(out.code, 2, text);
    assert.equal(
      text,
      'vlab: VLAB_DASHBOARD_NICE must be "idle" or a nice value from -20 to 19, got "abc"\n' +
        "hint: For example VLAB_DASHBOARD_NICE=10, or unset it for the default (the idle policy)\n",
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "a lab started");
  });
});

Deno.test("a bad VLAB_HOT_MS, VLAB_PLACEMENT or VLAB_BUNDLE stops vlab up with one line, before a lab starts", async () => {
  // Each was taken silently for the default: 50 ms hot waits, placement on, bundled workers.
  await inStateDir(async (env, dir) => {
    const cases: [Record<string, string>, string, string][] = [
      [
        { VLAB_HOT_MS: "abc" },
        'VLAB_HOT_MS must be a number of milliseconds from 0 to 10000, got "abc"',
        "For example VLAB_HOT_MS=50 (the default); 0 turns hot waits off",
      ],
      [
        { VLAB_HOT_MS: "-1" },
        'VLAB_HOT_MS must be a number of milliseconds from 0 to 10000, got "-1"',
        "For example VLAB_HOT_MS=50 (the default); 0 turns hot waits off",
      ],
      [
        { VLAB_BUNDLE: "no" },
        'VLAB_BUNDLE must be 0 (run the workers from their sources) or 1, got "no"',
        "VLAB_BUNDLE=0 runs the TypeScript sources; unset it to run the bundled workers",
      ],
      [
        { VLAB_PLACEMENT: "of" },
        'VLAB_PLACEMENT must be "off" or "auto", got "of"',
        "VLAB_PLACEMENT=off leaves the lab's threads to the kernel's scheduler; unset it for auto",
      ],
    ];
    // The dry run, the start and the detached start of each knob, two at once.
    const runs = cases.flatMap(([knob, message, hint]) =>
      [["up", "pair", "--dry-run"], ["up", "pair"], ["up", "pair", "-d"]].map((args) => ({
        knob,
        message,
        hint,
        args,
      }))
    );
    await twoAtOnce(runs, async ({ knob, message, hint, args }) => {
      // The dry run fails as the start does, and none of them starts anything whatever it says.
      const run = await vlabWith({ ...env, ...knob }, ...args);
      assert.equal(run.code, 1, `${JSON.stringify(knob)} ${args}: ${run.stderr}`);
      assert.deepEqual(errorLines(run), { message, hint });
      if (args.includes("--dry-run")) assert.match(run.stdout, /^lab pair \(seed 1\)/);
    });
    // Looked at once all have ended: a start log of `up -d` still running is not a leftover.
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name !== "logs"), []);
  });
});

Deno.test("pingall --vms with one VM or an empty name is refused before any lab is looked for", async () => {
  await inStateDir(async (env) => {
    // `--vms h1` ran and said "No two VMs share a subnet: nothing to ping" of VMs that do.
    const lists = ["h1", "h1,h1", "h1,", "h1,,h3", ""];
    const runs = await twoAtOnce(lists, (list) => vlabWith(env, "pingall", "--vms", list));
    for (const one of runs.slice(0, 2)) {
      assert.equal(one.code, 2, one.stderr);
      assert.deepEqual(errorLines(one), {
        message: '--vms names one VM, "h1": a pair needs two',
        hint: "Give two or more VM names separated by commas, e.g. --vms h1,h2",
      });
    }
    // `h1,` was taken for `h1`, as `vlab partition` refuses `a, / b`.
    for (const [i, empty] of runs.entries()) {
      if (i < 2) continue;
      assert.equal(empty.code, 2, empty.stderr);
      assert.equal(errorLines(empty).message, `--vms has an empty name, got "${lists[i]}"`);
    }
  });
});

Deno.test("pingall's --count and --timeout take plain decimals, before any lab is looked for", async () => {
  await inStateDir(async (env) => {
    const [count, timeout] = await twoAtOnce(
      [["--count", "1e1"], ["--timeout", "0x1"]],
      (option) => vlabWith(env, "pingall", ...option),
    );
    assert.equal(count.code, 2);
    assert.deepEqual(errorLines(count), {
      message: '--count must be an integer from 1 to 100, got "1e1"',
      hint: "For example --count 3",
    });
    assert.equal(timeout.code, 2);
    assert.deepEqual(errorLines(timeout), {
      message: '--timeout must be a number of seconds from 0.01 to 60, got "0x1"',
      hint: "For example --timeout 1",
    });
  });
});

Deno.test("a fault option its mode does not use is a usage error, before any lab is looked for", async () => {
  await inStateDir(async (env) => {
    const [ms, after] = await twoAtOnce(
      [["--mode", "exit", "--ms", "5"], ["--after", "3"]],
      (options) => vlabWith(env, "fault", "backend-crash", "a", ...options),
    );
    assert.equal(ms.code, 2, ms.stderr);
    assert.match(
      errorLines(ms).message,
      /^Cannot inject backend-crash: a duration \(--ms, [^)]*\) is how long/,
    );
    assert.equal(after.code, 2, after.stderr);
    assert.match(
      errorLines(after).message,
      /^Cannot inject backend-crash: a frame count \(--after, [^)]*\) counts/,
    );
  });
});

Deno.test({
  name:
    "down of a lab still starting waits for it, with --all and by name, instead of leaving it up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env) => {
      // A lab whose start-up has taken its folder and lock but written no lab.json yet: what
      // `vlab ls` lists as starting. Its start then ends (this process exits): nothing to stop.
      const code = GHOST_START;
      for (const args of [["down", "--all"], ["down", "ghost"], ["down"]]) {
        const starting = new Deno.Command(Deno.execPath(), {
          args: ["eval", code],
          env: env,
          stdout: "piped",
        }).spawn();
        const reader = starting.stdout.getReader();
        await reader.read(); // "holding": the lock is held
        // `down --all` said "no lab is running" at once (exit 0) and left the lab to come up.
        const down = await vlabOnceSaid(env, args, /^lab ghost is starting: waiting until/m);
        assert.equal(
          down.ended(),
          false,
          `vlab ${args.join(" ")} ended while the lab was starting`,
        );
        starting.kill("SIGKILL");
        await starting.status;
        reader.releaseLock();
        await starting.stdout.cancel();
        const run = await down.run;
        assert.match(
          run.stderr,
          /^lab ghost is starting: waiting until it is up to stop it\n/,
          run.stderr,
        );
        // Its start ended without it up: it is down, as asked. `down ghost` and `down` said
        // 'No lab named "ghost" is running' (exit 1) with the hint to start it.
        assert.equal(run.code, 0, run.stderr);
        assert.equal(
          run.stdout,
          args.includes("--all")
            ? "no lab is running\n"
            : "lab ghost did not start: nothing to stop\n",
        );
      }
    }),
});

Deno.test({
  name: "dashboard of a lab still starting waits for it, then says the start's failure",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env, dir) => {
      // A lab whose start-up holds its folder and lock but wrote no lab.json yet; with `log`, its
      // detached start's error file (as `vlab up -d` gives its child) holds the start's error.
      // An earlier start's file, left by a parent killed before it removed it, is not this one's.
      const stale = `${dir}/ghost.a0b1c2.start.log`;
      Deno.writeTextFileSync(stale, "vlab: an earlier start\nhint: long ago\n");
      Deno.utimeSync(stale, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
      for (const [args, log] of [[["ghost"], true], [[], false]] as const) {
        const code = GHOST_START;
        const starting = new Deno.Command(Deno.execPath(), {
          args: ["eval", code],
          env: env,
          stdout: "piped",
        }).spawn();
        try {
          const reader = starting.stdout.getReader();
          await reader.read(); // "holding": the lock is held
          reader.releaseLock();
          // --report-cpu: the dashboard without a terminal (its stderr a pipe). It said at once
          // "still starting: run the command again".
          const dashboard = await vlabOnceSaid(
            env,
            ["dashboard", ...args, "--report-cpu"],
            /^lab ghost is starting: waiting until/m,
          );
          assert.equal(dashboard.ended(), false, "vlab dashboard ended while the lab was starting");
          if (log) {
            await Deno.writeTextFile(
              `${dir}/ghost.x1y2z3.start.log`,
              "vlab: Cannot start ghost: no room\nhint: free some\n",
            );
            await new Promise((r) => setTimeout(r, 200));
          }
          starting.kill("SIGKILL");
          await starting.status;
          const run = await dashboard.run;
          assert.equal(run.code, 1, run.stderr);
          assert.match(
            run.stderr,
            /^lab ghost is starting: waiting until it is up to show its dashboard\n/,
          );
          const rest = run.stderr.replace(/^.*\n/, "");
          assert.equal(
            rest,
            log
              ? "vlab: Cannot start ghost: no room\nhint: free some\n"
              : 'vlab: Lab "ghost" did not start: its start ended first\n' +
                "hint: Run `vlab up` with its topology, without -d, to see why\n",
          );
        } finally {
          try {
            starting.kill("SIGKILL");
          } catch {
            // Ended already.
          }
          await starting.status;
          await starting.stdout.cancel().catch(() => {});
          for (const e of Deno.readDirSync(dir)) {
            if (e.name.endsWith(".start.log") && `${dir}/${e.name}` !== stale) {
              Deno.removeSync(`${dir}/${e.name}`);
            }
          }
        }
      }
    }),
});

Deno.test({
  name: "dashboard without a name while two labs are starting asks which one",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env) => {
      const held: Deno.ChildProcess[] = [];
      try {
        for (const name of ["ghost1", "ghost2"]) {
          const code = `
            const { createLabDir } = await import(${
            JSON.stringify(new URL("../lab/state.ts", import.meta.url).href)
          });
            createLabDir(${JSON.stringify(name)});
            console.log("holding");
            await new Promise((r) => setTimeout(r, 30_000));
          `;
          const child = new Deno.Command(Deno.execPath(), {
            args: ["eval", code],
            env,
            stdout: "piped",
          }).spawn();
          held.push(child);
          const reader = child.stdout.getReader();
          await reader.read(); // "holding": the lock is held
          reader.releaseLock();
        }
        // It said the first was still starting, to run the command again (which would find it so).
        const run = await vlabWith(env, "dashboard", "--report-cpu");
        assert.equal(run.code, 2, run.stderr);
        const { message, hint } = errorLines(run);
        assert.equal(message, "2 labs are starting: say which one");
        assert.equal(hint, "Add the lab name (`vlab dashboard NAME`), one of ghost1, ghost2");
      } finally {
        for (const child of held) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Ended already.
          }
          await child.status;
          await child.stdout.cancel().catch(() => {});
        }
      }
    }),
});

Deno.test("up with -d and --dry-run is a usage error, before the file is read or a lab starts", async () => {
  await inStateDir(async (env, dir) => {
    // -d was ignored: the plan printed, exit 0, nothing started, as if a lab were up.
    const cases = [
      ["star", "-d", "--dry-run"],
      ["--dry-run", "--detach", "nosuch.yaml"],
      ["star", "-d", "--dry-run", "--seed", "5"],
    ];
    await twoAtOnce(cases, async (args) => {
      const run = await vlabWith(env, "up", ...args);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, "");
      const { message, hint } = errorLines(run);
      assert.equal(message, "vlab up takes -d or --dry-run, not both");
      // The seed asked for goes into both commands of the hint.
      const topology = (args.includes("star") ? "star" : "nosuch.yaml") +
        (args.includes("--seed") ? " --seed 5" : "");
      assert.equal(
        hint,
        `Run \`vlab up ${topology} --dry-run\` to see the plan, then \`vlab up ${topology} -d\` to start it`,
      );
    });
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.isDirectory), []);
  });
});

Deno.test({
  name: "up --dry-run of a lab already starting says the start's refusal, exit 1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env) => {
      // It printed the plan alone (exit 0), and `vlab up --dry-run && vlab up -d` then failed.
      const code = `
        const { createLabDir } = await import(${
        JSON.stringify(new URL("../lab/state.ts", import.meta.url).href)
      });
        createLabDir("pair");
        console.log("holding");
        await new Promise((r) => setTimeout(r, 30_000));
      `;
      const starting = new Deno.Command(Deno.execPath(), {
        args: ["eval", code],
        env,
        stdout: "piped",
      }).spawn();
      try {
        const reader = starting.stdout.getReader();
        await reader.read(); // "holding": the lock is held
        reader.releaseLock();
        const run = await vlabWith(env, "up", "pair", "--dry-run");
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stdout, /^lab pair \(seed 1\) from /);
        // The start's own refusal, on stderr: it was a line of the plan on stdout, stderr empty.
        assert.doesNotMatch(run.stdout, /already/);
        assert.equal(
          run.stderr,
          `vlab: Cannot start lab "pair": it is already starting (pid ${starting.pid})\n` +
            "hint: Stop it with `vlab down pair`, or give this topology another name\n",
        );
        // Another lab's plan is not concerned.
        assert.equal((await vlabWith(env, "up", "star", "--dry-run")).code, 0);
      } finally {
        starting.kill("SIGKILL");
        await starting.status;
        await starting.stdout.cancel().catch(() => {});
      }
    }),
});

Deno.test({
  name:
    "up --dry-run refuses what the start refuses: a socket path too long, the logs folder's name",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env) => {
      // Both dry runs printed the plan, exit 0; `vlab up -d` then failed.
      const long = { ...env, VLAB_STATE_DIR: `${env.VLAB_STATE_DIR}/${"x".repeat(100)}` };
      const run = await vlabWith(long, "up", "pair", "--dry-run");
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /^lab pair \(seed 1\) from /);
      assert.match(
        run.stderr,
        /^vlab: Cannot start lab "pair": its socket ".*" is longer than a Unix socket path can be \(107 bytes\)\nhint: Set VLAB_STATE_DIR to a shorter folder\n$/,
      );
      // It left no folder behind: a dry run starts nothing.
      assert.equal(await Deno.stat(long.VLAB_STATE_DIR).then(() => true, () => false), false);
      const file = `${env.VLAB_STATE_DIR}.logs.yaml`;
      await Deno.writeTextFile(file, "name: logs\nvms:\n  a: {}\n");
      try {
        const logs = await vlabWith(env, "up", file, "--dry-run");
        assert.equal(logs.code, 1, logs.stderr);
        // The topology check refuses it (as `vlab validate` does), at the name's line.
        assert.match(
          logs.stderr,
          /^\S+\.logs\.yaml:1:7: Lab name "logs" is reserved: .*event logs\n {2}hint: give the lab another name/,
        );
      } finally {
        await Deno.remove(file);
      }
    }),
});

Deno.test("vlab down of a lab that does not run says there is nothing to stop, not to start it", async () => {
  await inStateDir(async (env, dir) => {
    // Each hinted "Start it with `vlab up …`" (or "Start one with `vlab up`").
    const expected = new Map([
      // A topology file names the lab its `name:` names.
      ["topologies/star.yaml", 'named "star" (the name in "topologies/star.yaml") '],
      // A drill file's `name:` is the drill's: its lab is its topology's (shipped, inline). It
      // said 'No lab named "link-flap" …', a lab no drill runs.
      ["drills/link-flap.yaml", 'named "pair" (the topology of drill "drills/link-flap.yaml") '],
      [
        "drills/lost-kick-watchdog.yaml",
        'named "lost-kick" (the topology of drill "drills/lost-kick-watchdog.yaml") ',
      ],
    ]);
    for (const args of [...[...expected.keys()].map((f) => ["down", f]), ["down"]]) {
      const run = await vlabWith(env, ...args);
      assert.equal(run.code, 1, run.stderr);
      const [message, hint] = run.stderr.split("\n");
      assert.equal(message, `vlab: No lab ${expected.get(args[1]) ?? ""}is running`);
      assert.equal(
        hint,
        `hint: Nothing to stop: \`vlab ls\` lists the labs that run; this command looks for labs ` +
          `in ${dir} (VLAB_STATE_DIR): a lab started with another VLAB_STATE_DIR, or none, is not ` +
          "seen here",
      );
    }
  });
});

Deno.test("vlab down of a topology file that is missing or names no lab is one line and a hint", async () => {
  await inStateDir(async (env, dir) => {
    // Each was taken for a lab's name: 'No lab named "nope.yaml" is running'.
    Deno.writeTextFileSync(`${dir}/nameless.yaml`, "vms: {}\n");
    const cases: [string, string, string][] = [
      [
        "nope.yaml",
        'Cannot read topology file "nope.yaml": no such file',
        "Give the lab's name or the path of its topology file; `vlab ls` lists the labs that run",
      ],
      [
        `${dir}/nameless.yaml`,
        `Cannot tell which lab "${dir}/nameless.yaml" is: it has no \`name:\``,
        "A topology file names its lab with `name:`; give the lab's name instead (`vlab ls` " +
        "lists the labs that run)",
      ],
    ];
    for (const [arg, message, hint] of cases) {
      const run = await vlabWith(env, "down", arg);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr, `vlab: ${message}\nhint: ${hint}\n`);
    }
  });
});

Deno.test({
  name:
    "down and dashboard of a start frozen with SIGSTOP say, after a while, that they still wait",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env) => {
      // A lab whose start-up holds its folder and lock but wrote no lab.json yet, then frozen
      // (kill -STOP): the wait said nothing more for its 5 minutes.
      const code = GHOST_START;
      const short = { ...env, VLAB_START_NOTICE_MS: "300" };
      for (const args of [["down", "ghost"], ["dashboard", "ghost", "--report-cpu"]]) {
        const starting = new Deno.Command(Deno.execPath(), {
          args: ["eval", code],
          env: env,
          stdout: "piped",
        }).spawn();
        try {
          const reader = starting.stdout.getReader();
          await reader.read(); // "holding": the lock is held
          reader.releaseLock();
          await starting.stdout.cancel();
          Deno.kill(starting.pid, "SIGSTOP");
          const run = await vlabOnceSaid(short, args, /has not finished starting/);
          // A notice said again would come 300 ms after the first, and again.
          await new Promise((r) => setTimeout(r, 700));
          starting.kill("SIGKILL");
          await starting.status;
          const { stderr } = await run.run;
          const lines = stderr.split("\n");
          assert.match(lines[0], /^lab ghost is starting: waiting until it is up to /, stderr);
          assert.match(
            lines[1],
            new RegExp(
              `^lab ghost has not finished starting after \\d+ s \\(its process ${starting.pid} ` +
                `is stopped: \`kill -CONT ${starting.pid}\` resumes it\\); waiting up to \\d+ s: ` +
                "Ctrl-C gives up; `vlab ls` shows it, and its start log \\(.*ghost\\.\\*\\.start\\.log\\) any error$",
            ),
            stderr,
          );
          // Said once, however long the wait.
          assert.equal(stderr.split("has not finished starting").length, 2, stderr);
        } finally {
          try {
            starting.kill("SIGKILL");
          } catch {
            // Ended already.
          }
          await starting.status;
        }
      }
    }),
});

Deno.test("down with a name and --all is a usage error; --all with no lab says so", async () => {
  await inStateDir(async (env) => {
    // It stopped every lab, the named one and all the others.
    const [both, none] = await twoAtOnce(
      [["--all", "pair"], ["--all"]],
      (args) => vlabWith(env, "down", ...args),
    );
    assert.equal(both.code, 2, both.stderr);
    const { message, hint } = errorLines(both);
    assert.equal(message, "vlab down takes a lab name or --all, not both");
    assert.match(hint, /`vlab down pair` to stop that lab, or `vlab down --all`/);
    assert.deepEqual([none.code, none.stdout, none.stderr], [0, "no lab is running\n", ""]);
  });
});

Deno.test("vlab link refuses what it would ignore (extra words, --direction with up/down, a key twice)", async () => {
  await inStateDir(async (env) => {
    const cases: [string[], RegExp][] = [
      [["link", "a-b", "up", "extra"], /^"up" takes no values, got "extra"$/],
      [["link", "a-b", "down", "--direction", "forward"], /^--direction .* not with down/],
      [["link", "a-b", "set", "delay=5ms", "delay=6ms"], /^Cannot set "delay" twice/],
    ];
    await twoAtOnce(cases, async ([args, message]) => {
      const run = await vlabWith(env, ...args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(errorLines(run).message, message);
    });
  });
});

Deno.test("a 1000-character argument is cut in the error that echoes it", async () => {
  await inStateDir(async (env) => {
    const long = "x".repeat(1000);
    const cases: [string[], number][] = [
      [["link", long, long], 2],
      [["graph", "--format", long], 2],
      [["graph", long], 1],
      [["drill", "run", "drills/link-flap.yaml", "--seed", long], 2],
      [["status", "a", long], 2],
      [["dashboard", "--interval", long], 2],
    ];
    await twoAtOnce(cases, async ([args, code]) => {
      const run = await vlabWith(env, ...args);
      const what = `${args[0]} ${args[1].slice(0, 10)}`;
      assert.equal(run.code, code, `${what}: ${run.stderr}`);
      const { message, hint } = errorLines(run);
      assert.ok(message.length < 200 && hint.length < 200, `${what}: ${message}\n${hint}`);
      assert.match(message, /x…"/, what);
    });
  });
});

Deno.test("every option and command named in a message or hint of the CLI and the lab is real", () => {
  const { all, of } = knownOptions();
  const commands = new Set([...of.keys()].map((path) => path.split(" ")[0]).filter((c) => c));
  // Deno's own flags, used to start vlab itself and to bundle its workers (`deno bundle`).
  const deno = /^--(allow-[a-z]+|config|outdir|sourcemap)$/;
  const files: string[] = [];
  for (const dir of ["cli", "cli/dashboard", "lab"]) {
    for (const e of Deno.readDirSync(new URL(`../${dir}/`, import.meta.url))) {
      if (e.isFile && /\.tsx?$/.test(e.name) && !/_test\.tsx?$/.test(e.name)) {
        files.push(`${dir}/${e.name}`);
      }
    }
  }
  assert.ok(files.length > 20, `found the sources (${files.length})`);
  const unknown: string[] = [];
  for (const file of files) {
    const text = Deno.readTextFileSync(new URL(`../${file}`, import.meta.url));
    for (const [n, line] of text.split("\n").entries()) {
      if (/^\s*(\*|\/\/|\/\*)/.test(line)) continue; // comments may quote anything
      // After " -- " come a guest workload's own options (`vlab exec a -- udp-flood --max`).
      const ours = line.split(" -- ")[0];
      for (const m of ours.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)) {
        if (!all.has(m[0]) && !deno.test(m[0])) unknown.push(`${file}:${n + 1}: ${m[0]}`);
      }
      // A command named in backticks (`vlab up`, `vlab status NAME`) exists.
      // (A span with `${` in it is a template literal, not a quoted command.)
      for (const m of ours.matchAll(/`vlab ([a-z][a-z-]*)[^`$]*`/g)) {
        if (!commands.has(m[1])) unknown.push(`${file}:${n + 1}: vlab ${m[1]}`);
      }
    }
  }
  assert.deepEqual(unknown, []);
});

Deno.test({
  name: "with several labs, each command's hint names how that command picks one",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
    const env = { VLAB_STATE_DIR: dir };
    try {
      const second = `${dir}/pair2.yaml`;
      Deno.writeTextFileSync(
        second,
        Deno.readTextFileSync(new URL("../topologies/pair.yaml", import.meta.url))
          .replace(/^name: .*$/m, "name: pair2"),
      );
      // The two labs start side by side.
      for (const up of await twoAtOnce(["pair", second], (t) => vlabWith(env, "up", t, "-d"))) {
        assert.equal(up.code, 0, up.stderr);
      }
      // Once more: the background child's error is the command's, said once, its exit code.
      const again = await vlabWith(env, "up", "pair", "-d");
      assert.equal(again.code, 1);
      const twice = errorLines(again);
      assert.match(twice.message, /^Cannot start lab "pair": it is already running \(pid \d+\)$/);
      assert.match(twice.hint, /vlab down pair/);
      const { of } = knownOptions();
      const cases: [string[], string, RegExp][] = [
        [["status"], "status", /`vlab status NAME`/],
        [["dashboard", "--report-cpu"], "dashboard", /`vlab dashboard NAME`/],
        [["pingall"], "pingall", /`vlab pingall NAME`/],
        [["down"], "down", /`vlab down NAME`/],
        [["exec", "a", "--", "ping", "10.0.0.2", "-c", "1"], "exec", /--lab NAME/],
        [["link", "a-b", "down"], "link", /--lab NAME/],
      ];
      await twoAtOnce(cases, async ([args, command, expected]) => {
        const run = await vlabWith(env, ...args);
        assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
        const { hint } = errorLines(run);
        assert.match(hint, expected, args.join(" "));
        assert.match(hint, /pair, pair2|pair2, pair/);
        for (const option of hint.match(/(?<![\w-])--[a-z][a-z-]*/g) ?? []) {
          assert.ok(of.get(command)?.has(option), `${command} has no option ${option}: ${hint}`);
        }
      });
      // `/dev/stdout` is stdout, as `-` is; it captures for a second, while the two refusals
      // after it run one after the other.
      const capturing = vlabWith(
        env,
        "capture",
        "a-b",
        "--lab",
        "pair",
        "-w",
        "/dev/stdout",
        "--duration",
        "1",
      );
      // Deno refuses device files without --allow-all: said in vlab's words, not "missing".
      const device = await vlabWith(env, "capture", "a-b", "--lab", "pair", "-w", "/dev/full");
      // stdout that takes no bytes fails at the first write: write-failed, not a bug.
      const full = await vlabToFullDisk(["capture", "a-b", "--lab", "pair"], env);
      const capture = await capturing;
      assert.equal(capture.code, 0, capture.stderr);
      assert.ok(capture.bytes.length >= 24, "a pcap header at least");
      const magic = new DataView(capture.bytes.buffer, capture.bytes.byteOffset).getUint32(0, true);
      assert.equal(magic.toString(16), (0xa1b2c3d4).toString(16), "pcap magic");
      // When it ends it says on stderr what it captured and dropped; stdout is the pcap alone,
      // record after record up to its last byte.
      const summary = capture.stderr.match(/^(\d+) frames? captured, (\d+) dropped$/m);
      assert.ok(summary, `no capture summary on stderr: ${capture.stderr}`);
      assert.equal(Number(summary[2]), 0, capture.stderr);
      const view = new DataView(capture.bytes.buffer, capture.bytes.byteOffset);
      let records = 0;
      let at = 24;
      for (; at < capture.bytes.length && records < 100_000; records++) {
        at += 16 + view.getUint32(at + 8, true);
      }
      assert.equal(at, capture.bytes.length, "stdout holds whole pcap records only");
      assert.equal(records, Number(summary[1]), capture.stderr);
      assert.equal(device.code, 1, device.stderr);
      assert.deepEqual(errorLines(device), {
        message:
          'Cannot write the capture to "/dev/full": vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all)',
        hint:
          "Write to - (stdout) and redirect it (vlab capture a-b > FILE), or give a regular file",
      });
      assert.equal(full.code, 1, full.stderr);
      assert.equal(errorLines(full).message, "Cannot write to stdout: no space left on device");
    } finally {
      await vlabWith(env, "down", "--all");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "Ctrl-C or SIGTERM during vlab exec cancels the workload quietly, with exit code 130",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
    const env = { VLAB_STATE_DIR: dir };
    try {
      const up = await vlabWith(env, "up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);
      const spawnEcho = () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: vlabRunArgs(["exec", "b", "--", "udp-echo"]),
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: vlabChildEnv({ NO_COLOR: "1", ...env }),
        }).spawn();
        const run = { child, output: child.output(), ended: false };
        run.output.finally(() => run.ended = true);
        return run;
      };
      // SIGTERM as Ctrl-C: the command listened for SIGINT alone and died at SIGTERM (143).
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        let echo = spawnEcho();
        // Port 7 in use proves that the lab runs the echo, so the command listens for signals.
        // A probe that gets the port instead may have beaten the echo to it (the echo then ends
        // with "port in use"): start another echo then.
        const deadline = performance.now() + 30_000;
        for (;;) {
          const probe = await vlabWith(env, "exec", "b", "--", "udp-echo", "-t", "0.05");
          if (/port in use/.test(probe.stderr)) break;
          assert.equal(probe.code, 0, probe.stderr);
          assert.ok(performance.now() < deadline, "the echo never bound port 7");
          if (echo.ended) echo = spawnEcho();
        }
        echo.child.kill(signal);
        const out = await echo.output;
        assert.equal(decoder.decode(out.stderr), "", signal);
        assert.equal(out.code, 130, signal);
        // The lab stopped the workload: port 7 is free again.
        for (;;) {
          const again = await vlabWith(env, "exec", "b", "--", "udp-echo", "-t", "0.1");
          if (again.code === 0) break;
          assert.ok(performance.now() < deadline, `port 7 stayed bound: ${again.stderr}`);
        }
      }
    } finally {
      await vlabWith(env, "down", "--all");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("a state folder that cannot be made is one clear error for up and up -d, not a bug", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  try {
    // A file where the state folder should be: `up -d` said "Internal error" and "a bug".
    const file = `${dir}/afile`;
    Deno.writeTextFileSync(file, "");
    Deno.writeTextFileSync(`${dir}/x.yaml`, "topology: pair\ntimeline: [{ wait: 1ms }]\n");
    const runs = [["up", "pair", "-d"], ["up", "pair"], ["drill", "run", `${dir}/x.yaml`]]
      .flatMap((args) => [file, `${file}/sub`].map((state) => ({ args, state })));
    await twoAtOnce(runs, async ({ args, state }) => {
      const run = await vlabWith({ VLAB_STATE_DIR: state }, ...args);
      assert.equal(run.code, args[0] === "drill" ? 3 : 1, run.stderr);
      const { message, hint } = errorLines(run);
      // Before: "File exists (os error 17): mkdir '…'" and a hint to check permissions.
      assert.match(
        message,
        new RegExp(
          `^Cannot create the state folder ${state}.*: ${file} is a file, not a folder$`,
        ),
        args.join(" "),
      );
      assert.equal(hint, "Move that file away, or set VLAB_STATE_DIR to a folder");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a plan larger than the machine's memory is refused before anything starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-errors-" });
  const env = { VLAB_STATE_DIR: `${dir}/state` };
  try {
    // 1000 VMs of 2 GiB: 2000 GiB of shared memory, more than any machine the tests run on.
    const file = `${dir}/huge.yaml`;
    const vms = Array.from({ length: 1000 }, (_, i) => `  v${i}: {}`).join("\n");
    Deno.writeTextFileSync(file, `name: huge\ndefaults: { vm: { memory: 2GiB } }\nvms:\n${vms}\n`);
    // The dry run prints the plan and why it does not fit, and fails as `vlab up` would.
    // The dry run and the start, two at once: neither starts anything.
    const [dry, up] = await twoAtOnce(
      [["--dry-run"], ["-d"]],
      (o) => vlabWith(env, "up", file, ...o),
    );
    assert.equal(dry.code, 1, dry.stderr);
    assert.match(dry.stdout, /^lab huge \(seed \d+\)/m, "the plan is printed");
    assert.match(
      dry.stdout,
      /^\d+ GiB \(2000 GiB of shared memory, 16 GiB for 2000 workers\) planned; this machine has [\d.]+ GiB \([\d.]+ GiB available\): the plan does not fit, `vlab up` refuses it \(not-enough-memory\)$/m,
    );
    assert.equal(up.code, 1);
    const { message, hint } = errorLines(up);
    assert.match(
      message,
      /^Cannot start lab "huge": it plans 2016 GiB \(2000 GiB of shared memory, 16 GiB for 2000 workers\) and this machine has/,
    );
    assert.match(hint, /--dry-run/);
    let entries: string[] = [];
    try {
      entries = [...Deno.readDirSync(`${dir}/state`)].map((e) => e.name);
    } catch {
      // No state folder at all: nothing started.
    }
    assert.deepEqual(entries, [], "nothing was started");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "vlab validate, vlab up --dry-run and vlab up warn about an MTU mismatch, located; the lab starts",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir(async (env, dir) => {
      const file = `${dir}/mtu.yaml`;
      Deno.writeTextFileSync(
        file,
        "name: mtu\nvms:\n  a: { memory: 64MiB, nics: { eth0: { ip: 10.0.0.1/24, mtu: 9000 } } }\n" +
          "  b: { nics: { eth0: { ip: 10.0.0.2/24 } } }\nlinks:\n  - endpoints: [a, b]\n",
      );
      const warning = new RegExp(
        `^${
          file.replaceAll("/", "\\/")
        }:4:22: warning: NIC "b:eth0" has mtu 1500 but shares an L2 ` +
          `segment with NIC "a:eth0" \\(mtu 9000\\)\\n {2}hint: .*too big`,
        "m",
      );
      // The three commands run two at once; the lab is brought down whatever they said.
      const cases = [["validate", file], ["up", file, "--dry-run"], ["up", file, "-d"]];
      const [validate, dry, up] = await twoAtOnce(cases, (args) => vlabWith(env, ...args));
      try {
        for (const [i, run] of [validate, dry].entries()) {
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stderr, warning, cases[i].join(" "));
        }
        // A lab started for real warns too (once: the detached child is quiet), and still starts.
        assert.equal(up.code, 0, up.stderr);
        assert.match(up.stderr, warning, "up -d");
        assert.equal(up.stderr.match(/warning:/g)?.length, 1, up.stderr);
        assert.match(up.stdout, /lab mtu up/);
      } finally {
        // Stopped through its topology file: the lab its `name:` names (by name if that failed).
        const down = await vlabWith(env, "down", file);
        if (down.code !== 0) await vlabWith(env, "down", "mtu");
        assert.equal(down.code, 0, down.stderr);
        assert.match(down.stdout, /^lab mtu down\n/);
      }
    }),
});
