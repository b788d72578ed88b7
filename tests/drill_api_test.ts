/**
 * A script writes a drill's reports from mod.ts as `vlab drill run --report DIR` does:
 * report.md linking chart.svg, report.json and the chart itself (`renderDrillChart`, exported
 * from mod.ts as the benchmarks' `renderRingsChart` is).
 */

import assert from "node:assert/strict";
import { type DrillResult, jsonReport, markdownReport, renderDrillChart } from "../mod.ts";
import { CONFIG_PATH } from "../cli/deno_run.ts";
import { runProgram } from "./run.ts";

const RESULT: DrillResult = {
  name: "flap",
  source: "drills/flap.yaml",
  seed: 7,
  startedAt: "2026-01-01T00:00:00.000Z",
  durationMs: 1000,
  steps: [{
    step: 0,
    run: 0,
    kind: "link",
    plannedMs: 300,
    jitterMs: 0,
    what: "link a-b down for 200 ms",
    startedMs: 300,
    endedMs: 500,
  }],
  workloads: {},
  recovery: [],
  links: [],
  events: [],
  assertions: [],
  passed: true,
  document: { topology: { name: "t" }, seed: 7, timeline: [] },
};

Deno.test("mod.ts gives a script every report of a drill, its chart included", async () => {
  const svg = await renderDrillChart(RESULT);
  assert.match(svg, /^<svg/);
  assert.match(svg, /drill flap \(seed 7\): timeline/);
  assert.match(markdownReport(RESULT, "chart.svg"), /chart\.svg/);
  assert.equal(JSON.parse(jsonReport(RESULT)).seed, 7);
});

Deno.test("a script reads drills and topologies with --allow-read alone: the YAML parser reads no environment", async () => {
  // The YAML library reads LOG_TOKENS and LOG_STREAM as it parses: without --allow-env, a script's
  // loadDrillFile failed with Deno's own NotCapable from deep inside it.
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-noenv-" });
  try {
    await Deno.writeTextFile(
      `${dir}/d.yaml`,
      "name: d\ntopology: pair\ntimeline:\n  - wait: 10ms\n",
    );
    await Deno.writeTextFile(`${dir}/bad.yaml`, "name: bad\ntopology: pair\ntimeline: [\n");
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import { formatDrillIssues, loadDrillFile, loadTopology } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };\n` +
        `const d = await loadDrillFile(${JSON.stringify(`${dir}/d.yaml`)});\n` +
        `console.log(d.ok ? \`drill \${d.value.name}\` : formatDrillIssues(d.error));\n` +
        `const bad = await loadDrillFile(${JSON.stringify(`${dir}/bad.yaml`)});\n` +
        `console.log(bad.ok ? "bad read" : bad.error[0].message);\n` +
        `console.log("topology", (await loadTopology("star")).name);\n`,
    );
    const r = await runProgram(Deno.execPath(), [
      "run",
      "--config",
      CONFIG_PATH,
      `--allow-read`,
      `${dir}/script.ts`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const [drill, bad, topology] = r.stdout.trim().split("\n");
    assert.equal(drill, "drill d");
    assert.match(bad, /^Unclosed flow list/);
    assert.equal(topology, "topology star");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "Ctrl-C in a script's runDrill says the drill was interrupted, not that vlab down stopped its lab",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vlab-drill-sigint-" });
    try {
      await Deno.writeTextFile(
        `${dir}/script.ts`,
        `import { runDrill } from ${
          JSON.stringify(new URL("../mod.ts", import.meta.url).href)
        };\n` +
          `const r = await runDrill({ topology: "pair", timeline: [{ wait: "20s" }] }, {\n` +
          `  onProgress: (l) => {\n` +
          `    console.log(l);\n` +
          `    if (l.includes("#0 wait")) Deno.kill(Deno.pid, "SIGINT");\n` +
          `  },\n` +
          `});\n` +
          `console.log("error:", r.error);\n`,
      );
      const r = await runProgram(Deno.execPath(), [
        "run",
        "--config",
        CONFIG_PATH,
        "--allow-all",
        `${dir}/script.ts`,
      ], { stateDir: `${dir}/state` });
      // Ctrl-C stops the script's lab, then ends the process as the shell expects.
      assert.equal(r.code, 130, r.stdout + r.stderr);
      // Before: 'The lab "pair" was stopped at 0.02 s, before the drill ended (`vlab down pair`, …)'.
      assert.match(
        r.stdout,
        /\] The drill was interrupted \(SIGINT\): its lab was stopped at [\d.]+ s\n/,
      );
      assert.doesNotMatch(r.stdout, /vlab down/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
