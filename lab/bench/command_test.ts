import assert from "node:assert/strict";
import { systemRunner } from "./command.ts";
import { processGone } from "../testing.ts";

Deno.test("systemRunner runs a command to its end, and a missing one is code 127", async () => {
  assert.deepEqual(await systemRunner(["sh", "-c", "echo out; echo err >&2; exit 3"]), {
    code: 3,
    stdout: "out\n",
    stderr: "err\n",
  });
  assert.equal((await systemRunner(["vlab-no-such-program"])).code, 127);
});

Deno.test("a command systemRunner started is ended when the process exits (Ctrl-C, SIGTERM)", async () => {
  // A bench that ends with Deno.exit left its C reference's run, or a veth ping, going on.
  const dir = Deno.makeTempDirSync({ prefix: "vlab-command-exit-" });
  const pidFile = `${dir}/pid`;
  const code = `
    import { systemRunner } from ${JSON.stringify(import.meta.resolve("./command.ts"))};
    void systemRunner(["sh", "-c", ${JSON.stringify(`echo $$ > '${pidFile}'; exec sleep 60`)}]);
    while (true) {
      try {
        if (Deno.readTextFileSync(${JSON.stringify(pidFile)}).trim() !== "") break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    Deno.exit(130);
  `;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    const pid = Number(Deno.readTextFileSync(pidFile).trim());
    assert.ok(await processGone(pid, 10_000), `the command (pid ${pid}) still runs`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
