/**
 * Names no lab has and no control request can carry as a path segment (`""`, `.`, `..`) are
 * unknown names to `vlab link`, `vlab fdb` and `vlab capture`, said as any other unknown name is,
 * with the lab's links or switches: they were the control socket's own words (`Cannot route POST
 * "/links/": the path is not canonical`, `No such endpoint: POST /` for `..`, which the URL
 * resolved away, `GET /capture needs the parameter link`). Runs `star` in its own state folder.
 */

import assert from "node:assert/strict";
import { withLab } from "./run.ts";

Deno.test({
  name: "vlab link, fdb and capture take '', '.' and '..' as unknown names, listing the lab's",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab("star", async (vlab, stateDir) => {
      const links = "hint: Links: h1-sw1, h2-sw1, h3-sw1, h4-sw1\n";
      for (const name of ["", ".", ".."]) {
        for (const args of [["down"], ["set", "delay=1ms"]]) {
          const r = await vlab("link", name, ...args);
          assert.equal(r.code, 1, `link ${name} ${args}: ${r.stderr}`);
          assert.equal(r.stderr, `vlab: The lab has no link "${name}"\n${links}`);
        }
        const fdb = await vlab("fdb", name);
        assert.equal(fdb.code, 1, fdb.stderr);
        assert.equal(fdb.stderr, `vlab: The lab has no switch "${name}"\nhint: Switches: sw1\n`);
      }
      const capture = await vlab("capture", "", "-w", `${stateDir}/x.pcap`, "--duration", "0.1");
      assert.equal(capture.code, 1, capture.stderr);
      assert.equal(capture.stderr, `vlab: The lab has no link ""\n${links}`);
    }),
});
