/** The public API of `mod.ts`, used the way its documentation shows. */
import assert from "node:assert/strict";
import { createQueuePair, formatQueueError, GuestMemory } from "../mod.ts";
import { CONFIG_PATH, VLAB_PERMISSION_FLAGS } from "../cli/deno_run.ts";
import { pathExists } from "../lab/testing.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test(`moves a request through a ${layout} queue as the mod.ts example does`, () => {
    const mem = GuestMemory.create(1 << 20);
    const pair = createQueuePair(mem, {
      layout,
      size: 64,
      descAddr: 0x1000,
      driverAddr: 0x2000,
      deviceAddr: 0x3000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!pair.ok) assert.fail(formatQueueError(pair.error));
    const { driver, device } = pair.value;
    assert.equal(
      driver.add({ readable: [[0x10000, 64]], writable: [[0x20000, 1500]] }, 7).ok,
      true,
    );
    assert.equal(driver.publish(), true);
    const popped = device.pop();
    assert.ok(popped.ok && popped.value);
    assert.deepEqual(popped.value.readable, [{ gpa: 0x10000, len: 64 }]);
    assert.deepEqual(popped.value.writable, [{ gpa: 0x20000, len: 1500 }]);
    assert.equal(device.push(popped.value, 100).ok, true);
    device.publish();
    assert.deepEqual(driver.getUsed(), { ok: true, value: { token: 7, len: 100 } });
  });
}

/** The two-VM topology `runLabScript` starts, named `name`. */
function pairOf(name: string): Record<string, unknown> {
  return {
    name,
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  };
}

/**
 * Write a script into `dir` that starts a lab named `name` through mod.ts (two VMs `a` and `b`
 * linked, or `topology`) and then runs `body` (lines of TypeScript, `lab` in scope), and start it
 * in a child process whose state folder is `dir`.
 */
function runLabScript(
  dir: string,
  name: string,
  body: string[],
  topology: Record<string, unknown> = pairOf(name),
): Deno.ChildProcess {
  const script = `${dir}/experiment.ts`;
  Deno.writeTextFileSync(
    script,
    [
      `import { startLab } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};`,
      `const lab = await startLab(${JSON.stringify(topology)});`,
      ...body,
    ].join("\n"),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...VLAB_PERMISSION_FLAGS, "--config", CONFIG_PATH, script],
    env: { VLAB_STATE_DIR: dir },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test({
  name: "a script that starts a lab and stops it exits on its own, as a Deno script should",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // It did not: a module the lab imports (the worker loop's) opened a MessagePort when it
    // loaded, and a listening port keeps the process's event loop alive after the lab stopped.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-exit-" });
    const child = runLabScript(dir, `mod-exit-${Deno.pid}`, [
      `const ping = await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "1"]);`,
      `await lab.stop();`,
      `console.log("stopped", ping.received);`,
    ]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    try {
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /^stopped 1$/m, text);
      assert.equal(out.signal, null, "the script was still running 30 s after its lab stopped");
      assert.equal(out.code, 0, text);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a script that stops its lab while a crashed VM's guest boots (vm-crash ms) exits at once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The boot time's timer must end with the lab: a pending one keeps the process alive.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-boot-" });
    const child = runLabScript(dir, `mod-boot-${Deno.pid}`, [
      `const r = await lab.lab.fault({ kind: "vm-crash", vm: "b", ms: 60000 });`,
      `await new Promise((r) => setTimeout(r, 200));`,
      `const state = lab.lab.vmState("b");`,
      `await lab.stop();`,
      `console.log("stopped", r.ok, state);`,
    ]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    try {
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /^stopped true restarting$/m, text);
      assert.equal(out.signal, null, "the script still waited for the guest's boot 30 s later");
      assert.equal(out.code, 0, text);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test({
    name: `${signal} stops a script's lab, removes its state folder and exits with ${code}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      // It did not: only the CLI listened for signals, so a script's lab died with its process and
      // left its folder (control socket, lab.json, lock) for the next \`vlab ls\` to clear.
      const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-signal-" });
      const name = `mod-signal-${Deno.pid}`;
      const child = runLabScript(dir, name, [
        `console.log("up", lab.name);`,
        `await lab.vm("a").exec(["sink", "-p", "9"]);`,
      ]);
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      try {
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("up ")) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        assert.match(seen, /^up /m, "the script never printed that its lab was up");
        assert.ok(Deno.statSync(`${dir}/${name}/lab.json`).isFile);
        child.kill(signal);
        const status = await child.status;
        await reader.cancel(); // the pipe holds child.stdout's lock: end it through its reader
        const err = await new Response(child.stderr).text();
        assert.deepEqual([status.signal, status.code], [null, code], err);
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
          "experiment.ts",
          "logs",
        ]);
      } finally {
        clearTimeout(timer);
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}

/** Read `child`'s stdout until it holds `text`; returns the reader (cancel it to free stdout). */
async function readUntil(
  child: Deno.ChildProcess,
  text: string,
): Promise<ReadableStreamDefaultReader<string>> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  assert.ok(seen.includes(text), `the script never printed ${JSON.stringify(text)}: ${seen}`);
  return reader;
}

Deno.test({
  name:
    "Ctrl-C during a script's loop of workloads stops its lab and exits 130, its no-lab unreported",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The loop's next exec threw `no-lab` at the stopping lab; uncaught, it ended the process at
    // once with exit 1 and a stack trace, and left the lab's folder behind.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-loop-signal-" });
    const child = runLabScript(dir, `mod-loop-${Deno.pid}`, [
      `for (;;) {`,
      `  const p = await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);`,
      `  console.log("round", p.received);`,
      `}`,
    ]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const reader = await readUntil(child, "round");
      child.kill("SIGINT");
      const status = await child.status;
      await reader.cancel();
      const err = await new Response(child.stderr).text();
      assert.deepEqual([status.signal, status.code], [null, 130], err);
      assert.doesNotMatch(err, /Uncaught/);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "experiment.ts",
        "logs",
      ]);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "Ctrl-C while startLab starts the lab stops it once up and exits 130, its folder gone",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The listeners came once the lab was up: a signal during the start (a second or more for a
    // larger lab) ended the process at once, its folder left for the next `vlab ls`.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-start-signal-" });
    const name = `mod-start-${Deno.pid}`;
    const vms = Object.fromEntries(
      Array.from(
        { length: 16 },
        (_, i) => [`v${i}`, { nics: { eth0: { ip: `10.0.0.${i + 1}/24` } } }],
      ),
    );
    const links = Object.keys(vms).map((v) => ({ endpoints: [v, "sw"] }));
    const child = runLabScript(dir, name, [], { name, vms, switches: { sw: {} }, links });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      // The folder is made first; lab.json is written once every VM is up.
      for (let i = 0; i < 20_000 && !pathExists(`${dir}/${name}`); i++) {
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.ok(pathExists(`${dir}/${name}`), "the lab's folder never appeared");
      assert.ok(
        !pathExists(`${dir}/${name}/lab.json`),
        "the lab was up before the signal: no test",
      );
      child.kill("SIGINT");
      const out = await child.output();
      const err = new TextDecoder().decode(out.stderr);
      assert.deepEqual([out.signal, out.code], [null, 130], err);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "experiment.ts",
        "logs",
      ]);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a script that ends with Deno.exit() while its lab runs leaves no state folder behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Its folder (control socket, lab.json, lock) stayed for the next `vlab ls` to clear.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-exit-call-" });
    const child = runLabScript(dir, `mod-exit-call-${Deno.pid}`, [
      `console.log("pinged", (await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "1"])).received);`,
      `Deno.exit(0);`,
    ]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    try {
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /^pinged 1$/m, text);
      assert.deepEqual([out.signal, out.code], [null, 0], text);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "experiment.ts",
        "logs",
      ]);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

for (
  const [flags, call, message] of [
    // Reading a topology needs nothing of the environment (tests/drill_api_test.ts); a lab does.
    [["--allow-read"], `startLab("pair")`, /Cannot start lab "pair": Requires env access/],
    [
      ["--allow-read", "--allow-env"],
      `startLab("pair")`,
      /Cannot start lab "pair": Requires write/,
    ],
    [
      ["--allow-read", "--allow-env", "--allow-write", "--allow-sys"],
      `startLab("pair")`,
      /Cannot start lab "pair": Requires net access/,
    ],
  ] as const
) {
  Deno.test({
    name: `a script given only ${flags.join(" ")} gets a no-permission LabError from ${call}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      // Without --allow-env the script died of Deno's NotCapable from inside node_modules (the YAML
      // parser read LOG_TOKENS), with no hint; without --allow-write or
      // --allow-net, a lab-failed error said to check that the state folder is writable.
      const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-permission-" });
      try {
        const script = `${dir}/experiment.ts`;
        Deno.writeTextFileSync(
          script,
          [
            `import { LabError, loadTopology, startLab } from ${
              JSON.stringify(new URL("../mod.ts", import.meta.url).href)
            };`,
            `try { await ${call}; console.log("no error"); } catch (e) {`,
            `  console.log(e instanceof LabError ? \`\${e.code} | \${e.message} | \${e.hint}\` : \`raw \${e}\`);`,
            `}`,
          ].join("\n"),
        );
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", ...flags, "--no-prompt", "--config", CONFIG_PATH, script],
          env: { VLAB_STATE_DIR: `${dir}/state` },
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, text);
        assert.match(text, /^no-permission \| /m);
        assert.match(text, message);
        assert.match(
          text,
          / \| Run the script with the permissions of the vlab task: deno run --allow-read --allow-write --allow-env/,
        );
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "state");
        assert.deepEqual(left, ["experiment.ts"]);
        assert.deepEqual(
          pathExists(`${dir}/state`)
            ? [...Deno.readDirSync(`${dir}/state`)].map((e) => e.name)
            : [],
          pathExists(`${dir}/state/logs`) ? ["logs"] : [],
          "no lab folder left",
        );
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}

Deno.test("a script without --allow-sys, VLAB_STATE_DIR or XDG_RUNTIME_DIR finds the state folder vlab finds", async () => {
  // docs/experiments.md asks read, write, env and net of a script that starts a lab; the
  // fallback root /tmp/vlab-UID asked Deno.uid(), which needs --allow-sys.
  const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-uid-" });
  try {
    const script = `${dir}/root.ts`;
    const state = new URL("../lab/state.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      script,
      `import { stateRoot } from ${JSON.stringify(state)};\nconsole.log(stateRoot());\n`,
    );
    const env = Deno.env.toObject();
    delete env.VLAB_STATE_DIR;
    delete env.XDG_RUNTIME_DIR;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...["--allow-read", "--allow-write", "--allow-env", "--allow-net", "--no-prompt"],
        ...["--config", CONFIG_PATH, script],
      ],
      env,
      clearEnv: true,
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.equal(text, `/tmp/vlab-${Deno.uid()}\n`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a script that may neither ask its uid nor write /tmp is told why it has no state folder, in one line and a hint", async () => {
  // Without --allow-sys the uid is read from a file made in /tmp: a script with no write there
  // died on Deno's bare NotCapable ("Requires write access to "/tmp"") with a stack.
  const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-uid-" });
  try {
    const script = `${dir}/root.ts`;
    const state = new URL("../lab/state.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      script,
      `import { stateRoot } from ${JSON.stringify(state)};\n` +
        `try { stateRoot(); } catch (e) { console.log(e.name, e.code, e.message, "|", e.hint); }\n`,
    );
    const env = Deno.env.toObject();
    delete env.VLAB_STATE_DIR;
    delete env.XDG_RUNTIME_DIR;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...["--allow-read", `--allow-write=${dir}`, "--allow-env", "--no-prompt"],
        ...["--config", CONFIG_PATH, script],
      ],
      env,
      clearEnv: true,
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(
      text,
      /^LabError lab-failed Cannot find the state folder \/tmp\/vlab-UID: .*made in \/tmp.* \| Run with --allow-sys \(or write access to \/tmp\), or set VLAB_STATE_DIR to a folder\n$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "a script that stopped its lab during an injected hang exits at once, replaced or not",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A hung device worker spins, and terminate() does not stop a spinning worker: the process
    // stayed alive, a CPU busy, until the hang's 60 s were over.
    const dir = Deno.makeTempDirSync({ prefix: "vlab-mod-hang-" });
    const child = runLabScript(dir, `mod-hang-${Deno.pid}`, [
      `const restarted = new Promise((resolve) => {`,
      `  const off = lab.lab.events.subscribe((e) => {`,
      `    if (e.kind === "backend-restarted") (off(), resolve(e));`,
      `  });`,
      `});`,
      `const hang = (vm) => lab.lab.fault({ kind: "backend-crash", vm, mode: "hang", ms: 60000 });`,
      `console.log("a hangs", (await hang("a")).ok);`,
      `await restarted; // the watchdog replaced a's worker, fenced, still spinning`,
      `console.log("b hangs", (await hang("b")).ok);`,
      `await new Promise((r) => setTimeout(r, 100));`,
      `await lab.stop();`,
      `console.log("stopped");`,
    ]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const t0 = performance.now();
    try {
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /a hangs true\nb hangs true\nstopped\n/, text);
      assert.deepEqual([out.signal, out.code], [null, 0], "the process outlived its lab");
      assert.ok(performance.now() - t0 < 20_000);
    } finally {
      clearTimeout(timer);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
