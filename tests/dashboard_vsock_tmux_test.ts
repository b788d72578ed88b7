/**
 * The dashboard in a real terminal on `vsock-pair`: tmux runs `vlab up topologies/vsock-pair.yaml`;
 * the Queues panel lists each VM's vsock rx, tx and event queues beside its NIC's, and the Links
 * panel lists a guest's connection to a host listener (`vsock.sock_6000`) that does not read,
 * with no credit left.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { run } from "./tmux.ts";
import { dashboardTerminal } from "./dashboard_terminal.ts";

Deno.test({
  name: "the dashboard in tmux on vsock-pair: vsock queues, and a stalled host connection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await dashboardTerminal("topologies/vsock-pair.yaml", 140, 40);
    const { stateDir, waitFor } = t;
    let listener: Deno.UnixListener | null = null;
    let held: Deno.UnixConn | null = null;
    try {
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));

      await t.keys("Tab");
      const queues = await waitFor("the Queues panel", (s) => /\[Queues\]/.test(s));
      // The label column cuts "event" to "eve…".
      for (const q of ["rx ", "tx ", "eve"]) {
        assert.match(queues, new RegExp(`a/vsock0 ${q}\\S* +split +128`), queues);
        assert.match(queues, new RegExp(`b/vsock0 ${q}\\S* +split +128`), queues);
      }

      // A host listener that never reads: a's vsock-send to it stalls on credit.
      listener = Deno.listen({
        transport: "unix",
        path: `${stateDir}/vsock-pair/a/vsock.sock_6000`,
      });
      const accepted = listener.accept();
      const send = run(
        Deno.execPath(),
        vlabRunArgs(["exec", "a", "--", "vsock-send", "2", "6000", "-b", "4000000"]),
        { VLAB_STATE_DIR: stateDir },
      );
      held = await accepted;
      await t.keys("Tab");
      const links = await waitFor(
        "a's stalled connection in the Links panel",
        (s) => /\[Links\]/.test(s) && /host:6000 +established .* 0 B /.test(s),
      );
      assert.match(links, /a\/vsock0 {2}vsock {2}1 connection/);
      held.close();
      held = null;
      await send;
      await t.keys("q");
      await waitFor("the stop question", (s) => /Stop the lab\? \(y\/n\)/.test(s));
      await t.keys("y");
      await waitFor("vlab up to exit", (s) => /EXITED 0/.test(s));
    } finally {
      held?.close();
      listener?.close();
      await t.close();
    }
  },
});
