/**
 * What a drill command reads: a drill file or a report is read only when it is a regular file of
 * bounded size (a FIFO never blocks, /dev/null is no drill), every refusal is one problem with a
 * hint, and a report that is not JSON is placed at its line and column.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_DRILL_BYTES, readReport } from "./input.ts";
import { formatDrillIssues, loadDrillFile } from "./load.ts";

async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-input-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `read`'s answer within 5 s, or an assertion failure: a read that blocks on the FIFO is then
 * released (a writer opens and closes it) so that the test ends instead of hanging.
 */
async function withinDeadline<T>(fifo: string, read: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 5000));
  const first = await Promise.race([read, late]);
  clearTimeout(timer);
  if (first === "late") {
    (await Deno.open(fifo, { write: true })).close();
    await read.catch(() => {});
    assert.fail(`reading the FIFO ${fifo} blocked`);
  }
  return first as T;
}

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(r.success, "mkfifo failed");
}

Deno.test("a FIFO given as a drill or a report is refused at once, not read", async () => {
  await inTempDir(async (dir) => {
    const fifo = join(dir, "f.yaml");
    await mkfifo(fifo);
    const r = await withinDeadline(fifo, loadDrillFile(fifo));
    assert.ok(!r.ok);
    assert.equal(r.error.length, 1);
    assert.equal(r.error[0].message, `Cannot read drill file "${fifo}": it is a FIFO`);
    assert.match(r.error[0].hint ?? "", /regular file/);
    // A pipe is what `-` reads (`vlab drill run <(…)` gives a FIFO's path).
    assert.match(r.error[0].hint ?? "", /`vlab drill run -` reads one piped into it$/);
    const report = join(dir, "f.json");
    await mkfifo(report);
    const j = await withinDeadline(report, readReport(report));
    assert.ok(!j.ok);
    assert.equal(j.error.message, `Cannot read report "${report}": it is a FIFO`);
    assert.match(j.error.hint ?? "", /`vlab drill replay -` reads one piped into it$/);
  });
});

Deno.test("a folder, /dev/null or a missing file is no drill: one line and a hint each", async () => {
  await inTempDir(async (dir) => {
    const cases: [string, string][] = [
      [dir, "it is a folder"],
      ["/dev/null", "it is a character device"],
      [join(dir, "nope.yaml"), "no such file"],
    ];
    for (const [path, reason] of cases) {
      const r = await loadDrillFile(path);
      assert.ok(!r.ok, path);
      assert.equal(r.error[0].code, "unreadable");
      assert.equal(r.error[0].message, `Cannot read drill file "${path}": ${reason}`);
      assert.ok(r.error[0].hint !== null && r.error[0].hint !== "", `${path} has a hint`);
      assert.doesNotMatch(formatDrillIssues(r.error), /os error|readfile/);
      // The message names the file: printed once, not `file: Cannot read drill file "file"`.
      assert.equal(formatDrillIssues(r.error).split("\n")[0], r.error[0].message);
    }
  });
});

Deno.test("a missing drill named like a shipped one is told its path: did you mean drills/link-flap.yaml?", async () => {
  // `vlab drill run link-flap` (a bare name, as topologies take) and a typo were told only that
  // "shipped drills are in drills/".
  for (const path of ["link-flap", "link-flap.yaml", "drills/link-flp.yaml"]) {
    const r = await loadDrillFile(path);
    assert.ok(!r.ok, path);
    assert.equal(r.error[0].message, `Cannot read drill file "${path}": no such file`);
    assert.equal(
      r.error[0].hint,
      "did you mean `drills/link-flap.yaml`? shipped drills are in drills/, for example " +
        "drills/link-flap.yaml",
    );
  }
  const far = await loadDrillFile("nothing-like-it.yaml");
  assert.ok(!far.ok);
  assert.equal(
    far.error[0].hint,
    "shipped drills are in drills/, for example drills/link-flap.yaml",
  );
});

Deno.test("a path that is no string is a TypeError naming the call, not a file called null", async () => {
  for (const path of [null, undefined, 7, ["report.json"]]) {
    await assert.rejects(
      readReport(path as never),
      /^TypeError: readReport: path must be a string, got (null|undefined|number|an array)$/,
    );
    await assert.rejects(
      loadDrillFile(path as never),
      /^TypeError: loadDrillFile: path must be a string, got (null|undefined|number|an array)$/,
    );
  }
});

Deno.test("a drill file over 1 MiB is refused as too large, like a topology file", async () => {
  await inTempDir(async (dir) => {
    const big = join(dir, "big.yaml");
    await Deno.writeTextFile(
      big,
      "topology: pair\ntimeline: []\n# " + "x".repeat(2 * MAX_DRILL_BYTES) + "\n",
    );
    const r = await loadDrillFile(big);
    assert.ok(!r.ok);
    assert.equal(r.error.length, 1);
    assert.equal(r.error[0].code, "too-large");
    assert.match(r.error[0].message, /: it is \d+ bytes, more than 1 MiB$/);
    assert.match(r.error[0].hint ?? "", /at most 1 MiB/);
  });
});

Deno.test("a report of a long drill (17 MiB: a ping of 170 000 requests) is read, not refused as too large", async () => {
  await inTempDir(async (dir) => {
    const file = join(dir, "report.json");
    // About what `ping -c 170000` puts in a report: its lines and replies.
    const text = JSON.stringify({ version: 1, seed: 1, text: "x".repeat(17 * 1024 * 1024) });
    await Deno.writeTextFile(file, text);
    // Before: 'it is 17825843 bytes, more than 16 MiB', for a report vlab drill run wrote.
    const r = await readReport(file);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.equal((r.value as { text: string }).text.length, 17 * 1024 * 1024);
  });
});

Deno.test("a report that is missing or not JSON says so in one line, at its line and column", async () => {
  await inTempDir(async (dir) => {
    const missing = await readReport(join(dir, "nope.json"));
    assert.ok(!missing.ok);
    assert.equal(
      missing.error.message,
      `Cannot read report "${join(dir, "nope.json")}": no such file`,
    );
    const bad = join(dir, "bad.json");
    await Deno.writeTextFile(bad, '{"a": 1,\n  "b": }\n');
    const r = await readReport(bad);
    assert.ok(!r.ok);
    assert.equal(
      formatDrillIssues([r.error]),
      `${bad}:2:8: The report is not JSON: Unexpected "}"\n` +
        "  hint: give the report.json written by `vlab drill run --report DIR`",
    );
    await Deno.writeTextFile(bad, '{"seed": 1}');
    const good = await readReport(bad);
    assert.deepEqual(good, { ok: true, value: { seed: 1 } });
  });
});

Deno.test("a report that is not JSON is placed at its line and column, however deep", async () => {
  await inTempDir(async (dir) => {
    const file = join(dir, "r.json");
    const at = async (text: string) => {
      await Deno.writeTextFile(file, text);
      const r = await readReport(file);
      assert.ok(!r.ok, text);
      return `${r.error.line}:${r.error.column}`;
    };
    assert.equal(await at("[1,]"), "1:4");
    assert.equal(await at('{"a" 1}'), "1:6");
    assert.equal(await at('{\n  "a": 1} x'), "2:11");
    // At the character that makes the escape bad.
    assert.equal(await at('["a\\q"]'), "1:5");
    // A file cut short: where it ends, saying what is missing (before, momoa's "Unexpected
    // string" at 2:3, the well-formed key before the end).
    await Deno.writeTextFile(file, '{\n  "step"');
    const cut = await readReport(file);
    assert.ok(!cut.ok);
    assert.equal(
      `${cut.error.line}:${cut.error.column}: ${cut.error.message}`,
      "2:9: The report is not JSON: Expected ':' after property name",
    );
    // Whatever JSON.parse refuses is placed.
    for (const text of ["", "nul", "{,}", '{"a":1,}', "1.", ".5", "+1", "[1e]", "tru", "01"]) {
      assert.throws(() => JSON.parse(text));
      assert.match(await at(text), /^1:\d+$/, text);
    }
    // Too deep for the parser that places it: still one clear problem, without a place.
    await Deno.writeTextFile(file, "[".repeat(200_000));
    const deep = await readReport(file);
    assert.ok(!deep.ok);
    assert.match(deep.error.message, /^The report is not JSON: /);
  });
});
