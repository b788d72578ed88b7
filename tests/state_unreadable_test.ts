/**
 * A state folder this user may not read (another user's) hides its labs; it is not empty. `vlab
 * down`, `vlab ls` and `vlab status` said "No lab is running" (and `down` stopped nothing) while
 * its lab ran: they say they cannot read it. Runs the CLI as user `nobody` (setpriv), so it needs
 * root; skipped otherwise.
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { onPath, runProgram } from "./run.ts";
import { holdFakeLab } from "../lab/fake_lab_testing.ts";

const root = Deno.uid() === 0;
const setpriv = root && await onPath("setpriv");

Deno.test({
  name: "a state folder that cannot be read is said so, not 'No lab is running' while its lab runs",
  ignore: !setpriv,
  sanitizeResources: false,
  fn: async () => {
    // Root's folder, mode 0700: `nobody` may not list it.
    const dir = await Deno.makeTempDir({ prefix: "vlab-unreadable-" });
    Deno.chmodSync(dir, 0o700);
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", dir);
    // A live lab there: this process holds its folder's lock and has written its record.
    const lab = holdFakeLab("pair");
    try {
      const p = lab.paths;
      for (const command of [["down"], ["ls"], ["status"]]) {
        const { code, stdout, stderr } = await runProgram("setpriv", [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          ...vlabRunArgs(command),
        ], { stateDir: dir });
        assert.equal(code, 1, `${command}: ${stdout}${stderr}`);
        assert.equal(stdout, "", command.join(" "));
        assert.equal(
          stderr,
          `vlab: Cannot read the state folder "${dir}": permission denied\n` +
            "hint: Its labs cannot be seen from here: run vlab as the user who started them, or " +
            "set VLAB_STATE_DIR to a folder you can read\n",
          command.join(" "),
        );
      }
      assert.ok(Deno.statSync(p.record).isFile, "the lab's record is untouched");
    } finally {
      await lab.close();
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
