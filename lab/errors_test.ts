import assert from "node:assert/strict";
import { LabError } from "./errors.ts";

Deno.test("a LabError escapes control characters in its message, hint and details", () => {
  // Every LabError reaches a script, which prints it: a value from outside in it must not act
  // on the terminal (the CLI's printer escaped them; a script's console.log did not).
  const e = new LabError("unknown-vm", 'No VM "\x1b[2J"', "VMs: a\x07", ["x:1:1: \u202e"]);
  assert.equal(e.message, 'No VM "\\x1b[2J"');
  assert.equal(e.hint, "VMs: a\\x07");
  assert.deepEqual(e.details, ["x:1:1: \\u202e"]);
  const plain = new LabError("no-lab", "No lab is running", "Start one with `vlab up`");
  assert.equal(plain.message, "No lab is running");
});

Deno.test("a LabError left uncaught in a script shows its hint below its message", async () => {
  // Deno prints an uncaught error's message and frames, never its `hint` property: a script's
  // author saw `Uncaught (in promise) LabError: Unknown VM "c"` and nothing to do about it.
  const dir = await Deno.makeTempDir({ prefix: "vlab-laberror-" });
  try {
    const script = `${dir}/script.ts`;
    await Deno.writeTextFile(
      script,
      `import { LabError } from ${
        JSON.stringify(new URL("./errors.ts", import.meta.url).href)
      };\n` +
        `function vm(name: string) {\n` +
        `  throw new LabError("unknown-vm", \`Unknown VM "\${name}"\`, "did you mean \`a\`?");\n` +
        `}\n` +
        `await Promise.resolve();\n` +
        `vm("c");\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-read", script],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(
      stderr,
      /^error: Uncaught \(in promise\) LabError: Unknown VM "c"\nhint: did you mean `a`\?\n/,
    );
    // The frames still say where it was thrown from.
    assert.match(stderr, /\n {4}at vm \(file:\/\/.*script\.ts:3:9\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a LabError's message stays one line: the hint is only in its stack", () => {
  const e = new LabError("no-lab", "No lab is running", "Start one with `vlab up`");
  assert.equal(e.message, "No lab is running");
  assert.equal(String(e), "LabError: No lab is running");
  assert.match(
    e.stack ?? "",
    /^LabError: No lab is running\nhint: Start one with `vlab up`\n {4}at /,
  );
  // No hint, no hint line.
  const bare = new LabError("no-lab", "No lab is running", "");
  assert.match(bare.stack ?? "", /^LabError: No lab is running\n {4}at /);
});
