import assert from "node:assert/strict";
import {
  benchCommand,
  type BenchRuntime,
  denoBenchRuntime,
  parseRingsOptions,
  type RawRingsOptions,
  runRingsCommand,
} from "./bench.ts";
import { VlabError } from "./errors.ts";
import { CliExit } from "./usage.ts";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";
import { DEFAULT_RINGS_OPTIONS } from "../lab/bench/rings.ts";
import type { RingsBenchOptions, RingsBenchReport } from "../lab/bench/types.ts";
import { readProcText } from "../lab/proc.ts";
import { processGone } from "../lab/testing.ts";

/** Assert that parsing `raw` fails with a bad-option error with this message (and hint). */
function assertBad(raw: RawRingsOptions, message: string, hint?: string | RegExp): void {
  assert.throws(() => parseRingsOptions(raw), (error) => {
    assert.ok(error instanceof VlabError, `got ${error}`);
    assert.equal(error.code, "bad-option");
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, message);
    if (typeof hint === "string") assert.equal(error.hint, hint);
    if (hint instanceof RegExp) assert.match(error.hint, hint);
    assert.doesNotMatch(error.hint, /\.$/, "hint has no final period");
    return true;
  });
}

Deno.test("no options give the documented defaults", () => {
  const options = parseRingsOptions({});
  assert.deepEqual(options, DEFAULT_RINGS_OPTIONS);
  assert.deepEqual(options.layouts, ["split", "packed"]);
  assert.deepEqual(options.batches, [1, 2, 4, 8, 16, 32, 64]);
  assert.deepEqual(options.modes, ["poll"]);
  assert.equal(options.queueSize, 256);
  assert.equal(options.runs, 5);
  assert.equal(options.sameCore, false);
});

Deno.test("the defaults commander shows parse to the same options as no options", () => {
  const shown: RawRingsOptions = {
    layout: "both",
    batch: "1,2,4,8,16,32,64",
    mode: "poll",
    queueSize: "256",
    runs: "5",
    requests: String(DEFAULT_RINGS_OPTIONS.requests),
  };
  assert.deepEqual(parseRingsOptions(shown), parseRingsOptions({}));
});

Deno.test("every option is read", () => {
  const options: RingsBenchOptions = parseRingsOptions({
    layout: "packed",
    batch: " 16, 1,4,4 ",
    mode: "both",
    queueSize: "100",
    runs: "3",
    requests: "1000",
    outstanding: true,
    payload: true,
    cacheModel: true,
    sameCore: true,
    vsC: true,
  });
  assert.deepEqual(options, {
    layouts: ["packed"],
    batches: [1, 4, 16],
    modes: ["poll", "notify"],
    queueSize: 100,
    runs: 3,
    requests: 1000,
    outstanding: true,
    payload: true,
    cacheModel: true,
    sameCore: true,
    vsC: true,
  });
  assert.equal(parseRingsOptions({}).vsC, false);
  assert.deepEqual(parseRingsOptions({ layout: "split", mode: "notify" }).layouts, ["split"]);
});

Deno.test("--layout and --mode accept only their names, suggesting a near one", () => {
  assertBad(
    { layout: "spilt" },
    '--layout must be split, packed or both, got "spilt"',
    "Did you mean --layout split?",
  );
  assertBad(
    { layout: "ring" },
    '--layout must be split, packed or both, got "ring"',
    "Use --layout split, --layout packed, --layout both",
  );
  assertBad(
    { mode: "notfy" },
    '--mode must be poll, notify or both, got "notfy"',
    "Did you mean --mode notify?",
  );
  // Values are exact, as every other option's and the topology's `layout:` are.
  assertBad(
    { mode: "NOTIFY" },
    '--mode must be poll, notify or both, got "NOTIFY"',
    "Did you mean --mode notify?",
  );
  assertBad(
    { layout: "Packed" },
    '--layout must be split, packed or both, got "Packed"',
    "Did you mean --layout packed?",
  );
});

Deno.test("--batch must be a comma list of integers from 1 to 32768", () => {
  const message = (value: string) =>
    `--batch must be a comma list of integers from 1 to 32768, got "${value}"`;
  assertBad({ batch: "4,x" }, message("4,x"), /^"x" is not an integer/);
  assertBad({ batch: "0" }, message("0"), /^"0" is not an integer from 1 to 32768/);
  assertBad({ batch: "" }, message(""), /^An empty item/);
  assertBad({ batch: "1,,2" }, message("1,,2"), /^An empty item/);
  assertBad({ batch: "2.5" }, message("2.5"));
  assertBad({ batch: "-1" }, message("-1"));
  assertBad({ batch: "1e3" }, message("1e3"));
  assertBad({ batch: "32769", layout: "packed", queueSize: "32768" }, message("32769"));
});

Deno.test("--queue-size must be an integer from 1 to 32768", () => {
  for (const value of ["0", "32769", "x", "", "256.0", "0x100"]) {
    assertBad(
      { queueSize: value, layout: "packed", batch: "1" },
      `--queue-size must be an integer from 1 to 32768, got "${value}"`,
      "Give a queue size such as 256",
    );
  }
});

Deno.test("packed allows any queue size, split needs a power of 2", () => {
  assert.equal(
    parseRingsOptions({ layout: "packed", batch: "1", queueSize: "300" }).queueSize,
    300,
  );
  assert.equal(parseRingsOptions({ layout: "packed", batch: "1", queueSize: "1" }).queueSize, 1);
  assert.equal(parseRingsOptions({ layout: "split", queueSize: "32768" }).queueSize, 32768);
  const hint = "Use --queue-size 256 or 512, or --layout packed, which allows any size from 1 " +
    "to 32768";
  const message = "--queue-size must be a power of 2 for the split layout, got 300";
  assertBad({ layout: "split", queueSize: "300" }, message, hint);
  assertBad({ layout: "both", queueSize: "300" }, message, hint);
});

Deno.test("every batch must fit in the queue", () => {
  assertBad(
    { queueSize: "32" },
    "--batch 64 does not fit in a queue of size 32",
    "Use --queue-size 64 or more, or batches of at most 32",
  );
  assertBad(
    { layout: "packed", queueSize: "50", batch: "1,60" },
    "--batch 60 does not fit in a queue of size 50",
    "Use --queue-size 60 or more, or batches of at most 50",
  );
  assert.deepEqual(parseRingsOptions({ queueSize: "64" }).batches, [1, 2, 4, 8, 16, 32, 64]);
});

Deno.test("--runs and --requests are bounded integers", () => {
  assertBad(
    { runs: "0" },
    '--runs must be an integer from 1 to 1000, got "0"',
    "Give a number of timed runs such as 5",
  );
  assertBad(
    { runs: "1001" },
    '--runs must be an integer from 1 to 1000, got "1001"',
  );
  assertBad(
    { requests: "lots" },
    '--requests must be an integer from 1 to 1000000000, got "lots"',
  );
  assertBad(
    { requests: "10" },
    "--requests must be at least the largest batch (64), got 10",
  );
  assert.equal(parseRingsOptions({ requests: "64" }).requests, 64);
});

// The command's run, with a fake runtime.

const REPORT: RingsBenchReport = {
  options: { ...DEFAULT_RINGS_OPTIONS, batches: [1] },
  environment: { deno: "2.9.6", v8: "15.0", cpus: 2, cpuModel: "Test CPU" },
  results: [
    {
      layout: "split",
      mode: "poll",
      batch: 1,
      nsPerRequest: { median: 400, min: 380, max: 420 },
      kicksPerRequest: 0,
      interruptsPerRequest: 0,
      checkedRequests: 0,
      truncatedRuns: 0,
      handoffNs: 100,
    },
    {
      layout: "packed",
      mode: "poll",
      batch: 1,
      nsPerRequest: { median: 200, min: 190, max: 230 },
      kicksPerRequest: 0,
      interruptsPerRequest: 0,
      checkedRequests: 0,
      truncatedRuns: 0,
      handoffNs: 100,
    },
  ],
};

interface FakeRuntime extends BenchRuntime {
  out: string[];
  err: string[];
  progress: string[];
  files: Map<string, string>;
  ran: RingsBenchOptions[];
  pinnedRuns: number;
}

function fakeRuntime(overrides: Partial<BenchRuntime> = {}): FakeRuntime {
  const fake: FakeRuntime = {
    out: [],
    err: [],
    progress: [],
    files: new Map(),
    ran: [],
    pinnedRuns: 0,
    runBench: (options, progress) => {
      fake.ran.push(options);
      progress("split poll batch 1");
      return Promise.resolve(REPORT);
    },
    progressLine: () => ({ progress: (line) => fake.progress.push(line), done: () => {} }),
    writeOut: (text) => fake.out.push(text),
    writeErr: (text) => fake.err.push(text),
    isPinned: () => false,
    runPinned: () => {
      fake.pinnedRuns++;
      return Promise.resolve(3);
    },
    checkOutputPath: () => Promise.resolve(),
    writeTextFile: (path, text) => {
      fake.files.set(path, text);
      return Promise.resolve();
    },
    ...overrides,
  };
  return fake;
}

Deno.test("--json prints only the report as JSON on stdout; progress goes elsewhere", async () => {
  const runtime = fakeRuntime();
  await runRingsCommand({ json: true, batch: "1" }, runtime);
  assert.deepEqual(JSON.parse(runtime.out.join("")), REPORT);
  assert.deepEqual(runtime.progress, ["split poll batch 1"]);
  assert.deepEqual(runtime.err, []);
  assert.deepEqual(runtime.ran[0].batches, [1]);
});

Deno.test("without --json the table goes to stdout", async () => {
  const runtime = fakeRuntime();
  await runRingsCommand({ batch: "1" }, runtime);
  const text = runtime.out.join("");
  assert.match(text, /packed\/split/);
  assert.match(text, /0\.50/);
});

Deno.test("--svg writes the chart and says so on stderr", async () => {
  const runtime = fakeRuntime();
  await runRingsCommand({ json: true, svg: "out/rings.svg" }, runtime);
  const svg = runtime.files.get("out/rings.svg");
  assert.ok(svg !== undefined && svg.startsWith("<svg"));
  assert.deepEqual(runtime.err, ["Wrote chart to out/rings.svg\n"]);
  JSON.parse(runtime.out.join(""));
});

Deno.test("a chart that cannot be written is a write-failed error", async () => {
  const runtime = fakeRuntime({
    writeTextFile: () => Promise.reject(new Deno.errors.PermissionDenied("Permission denied")),
  });
  await assert.rejects(runRingsCommand({ svg: "/x.svg" }, runtime), (error) => {
    assert.ok(error instanceof VlabError);
    assert.equal(error.code, "write-failed");
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, 'Cannot write chart to "/x.svg": Permission denied');
    return true;
  });
});

Deno.test("a failing benchmark is a bench-failed error with exit code 1", async () => {
  const runtime = fakeRuntime({ runBench: () => Promise.reject(new Error("worker died")) });
  await assert.rejects(runRingsCommand({}, runtime), (error) => {
    assert.ok(error instanceof VlabError);
    assert.equal(error.code, "bench-failed");
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, "Cannot run bench rings: worker died");
    return true;
  });
  assert.deepEqual(runtime.out, []);
});

Deno.test("bad options fail before anything runs", async () => {
  const runtime = fakeRuntime();
  await assert.rejects(runRingsCommand({ batch: "0", sameCore: true }, runtime), VlabError);
  assert.equal(runtime.ran.length, 0);
  assert.equal(runtime.pinnedRuns, 0);
});

Deno.test("--same-core re-runs pinned and exits with the pinned run's code", async () => {
  const runtime = fakeRuntime();
  await assert.rejects(runRingsCommand({ sameCore: true }, runtime), (error) => {
    assert.ok(error instanceof CliExit);
    assert.equal(error.exitCode, 3);
    return true;
  });
  assert.equal(runtime.pinnedRuns, 1);
  assert.equal(runtime.ran.length, 0);
});

Deno.test("--same-core when already pinned runs here with sameCore set", async () => {
  const runtime = fakeRuntime({ isPinned: () => true });
  await runRingsCommand({ sameCore: true, json: true }, runtime);
  assert.equal(runtime.pinnedRuns, 0);
  assert.equal(runtime.ran[0].sameCore, true);
});

Deno.test("--svg is checked before the run: a missing folder, or a folder given as the file", async () => {
  const check = denoBenchRuntime().checkOutputPath;
  const dir = await Deno.makeTempDir();
  try {
    await check(`${dir}/chart.svg`); // a file in an existing folder
    const refused = async (path: string, message: RegExp) =>
      await assert.rejects(
        () => check(path),
        (e: unknown) =>
          e instanceof VlabError && e.code === "bad-option" && message.test(e.message),
      );
    await refused(`${dir}/missing/chart.svg`, /--svg needs an existing folder/);
    await refused(dir, /--svg needs a file name, ".*" is a folder$/);
    await refused(`${dir}/`, /is a folder$/);
    // A file where the folder should be was an internal error ("Not a directory (os error 20)").
    Deno.writeTextFileSync(`${dir}/notes.txt`, "");
    await refused(
      `${dir}/notes.txt/chart.svg`,
      /--svg needs an existing folder, ".*notes\.txt" is a file/,
    );
    // So was a path Deno refuses without --allow-all (the vlab task does not give it).
    let procRefused = false;
    try {
      Deno.statSync("/proc/self/status");
    } catch (e) {
      procRefused = e instanceof Deno.errors.NotCapable;
    }
    if (procRefused) {
      await refused(
        "/proc/x/chart.svg",
        /^--svg cannot be written at "\/proc\/x\/chart\.svg": vlab may not open/,
      );
      // Its hint said to write to "a folder you can write", which no permission changes.
      await assert.rejects(() => check("/dev/shm/chart.svg"), (e: unknown) => {
        assert.ok(e instanceof VlabError);
        assert.equal(
          e.hint,
          "Write the chart to a file outside /dev, /proc and /sys, such as --svg rings.svg",
        );
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every bench subcommand's help shows defaults as typed, without quotes", () => {
  const bench = benchCommand();
  const names = bench.commands.map((c) => c.name());
  assert.deepEqual(names.toSorted(), ["iommu", "net", "recovery", "rings", "vsock", "wakeup"]);
  for (const sub of bench.commands) {
    const help = sub.helpInformation();
    assert.doesNotMatch(help, /\(default: "/, `bench ${sub.name()} quotes a default`);
    assert.match(help, /\(default: [^)"]+\)/, `bench ${sub.name()} shows its defaults`);
  }
  const help = (name: string) => bench.commands.find((c) => c.name() === name)!.helpInformation();
  assert.match(help("net"), /--layout <layout>\s+split, packed or both \(default: both\)/);
  assert.match(help("rings"), /--layout <layout>\s+split, packed or both \(default: both\)/);
  assert.match(help("iommu"), /--frames <n>\s+frames per run, 1 to 100000000 \(default: 200000\)/);
  assert.match(
    help("wakeup"),
    /--rounds <n>\s+round trips per mode, 1 to 100000 \(default: 2000\)/,
  );
});

Deno.test("bench subcommands' bad options name the option first, rings too", () => {
  assert.throws(() => parseRingsOptions({ runs: "0" }), { message: /^--runs / });
  assert.throws(() => parseRingsOptions({ batch: "64", queueSize: "32" }), {
    message: /^--batch 64 /,
  });
});

Deno.test("SIGTERM during bench rings --same-core ends the pinned run too, and exits 130", async () => {
  // The pinned run (a child under taskset) was left busy-polling CPU 0 to its end, and this
  // process died of the signal with 143.
  const child = new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs([
      "bench",
      "rings",
      "--same-core",
      "--layout",
      "split",
      "--batch",
      "1",
      "--requests",
      "64",
      "--runs",
      "1000",
    ]),
    env: vlabChildEnv({ NO_COLOR: "1" }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // The pinned run's progress (it inherits stderr) says it measures.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/run \d+\/\d+/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const pinned = childrenOf(child.pid);
  child.kill("SIGTERM");
  const status = await child.status;
  await reader.cancel();
  assert.match(seen, /run \d+\/\d+/);
  assert.equal(pinned.length, 1, `the pinned run: ${pinned}`);
  assert.equal(status.code, 130);
  assert.ok(await processGone(pinned[0], 20_000), `the pinned run (pid ${pinned[0]}) still runs`);
});

/** The pids of `pid`'s children (Linux's /proc; Deno reads that file only with -A). */
function childrenOf(pid: number): number[] {
  const text = readProcText(`/proc/${pid}/task/${pid}/children`) ?? "";
  return text.trim().split(/\s+/).filter((w) => w !== "").map(Number);
}
