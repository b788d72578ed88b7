/**
 * A state folder (`VLAB_STATE_DIR`) whose path holds an escape character: the paths the CLI
 * prints (`vlab ls`'s socket, `vlab down`'s "event log …") are escaped as any other user-supplied text, never raw.
 *
 * The lab's process outlives a single tick of the event loop, so the resource and op sanitizers
 * are off; the lab is brought down and the folder removed in `finally`.
 */

import assert from "node:assert/strict";
import { vlabIn } from "./run.ts";

Deno.test({
  name:
    "vlab ls and vlab down name the socket and event log of a state folder with an escape, escaped",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const parent = await Deno.makeTempDir({ prefix: "vlab-esc-" });
    const stateDir = `${parent}/st\x1b[31mx`;
    const vlab = vlabIn(stateDir);
    try {
      const up = await vlab("up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);
      const ls = await vlab("ls");
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok(!ls.stdout.includes("\x1b"), JSON.stringify(ls.stdout));
      assert.match(ls.stdout, /^pair .* '.*\/st\\x1b\[31mx\/pair\/control\.sock'$/m);
      const down = await vlab("down");
      assert.equal(down.code, 0, down.stderr);
      assert.ok(!down.stdout.includes("\x1b"), JSON.stringify(down.stdout));
      assert.match(down.stdout, /^event log '.*\/st\\x1b\[31mx\/logs\/pair-.*\.jsonl'$/m);
    } finally {
      await vlab("down", "--all");
      await Deno.remove(parent, { recursive: true }).catch(() => {});
    }
  },
});
