/**
 * A vsock link's capture is a pcap that tshark reads as Linux's vsockmon capture does: each
 * packet a `vsock` record with its CIDs, the vsockmon op and the virtio-vsock header, and a 64 KiB
 * RW packet kept whole. Needs `tshark` (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { startLab } from "../lab/api.ts";
import { inStateDir } from "../lab/testing.ts";

/** Run `tshark` on `file` for `fields`, one line of tab-separated values per packet. */
async function tsharkFields(file: string, fields: string[]): Promise<string[][]> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("tshark", {
      args: ["-r", file, "-T", "fields", ...fields.flatMap((f) => ["-e", f])],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      assert.fail("tshark is not installed (the test task installs it: tests/tools.ts)");
    }
    throw e;
  }
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return text.split("\n").filter((l) => l.length > 0).map((l) => l.split("\t"));
}

Deno.test({
  name: "a vsock link's capture reads in tshark as vsockmon: CIDs, ops, whole 64 KiB packets",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsockmon-", async (dir) => {
      const lab = await startLab("vsock-pair");
      try {
        const sink = await lab.vm("b").spawn(["vsock-sink", "-p", "5000", "-t", "3"]);
        const capture = lab.capture("a-b-vsock", { ms: 1500 });
        await lab.vm("a").exec(["vsock-send", "4", "5000", "-b", "200000"]);
        const pcap = await capture;
        await sink.result;
        const file = `${dir}/vsock.pcap`;
        Deno.writeFileSync(file, pcap);
        const rows = await tsharkFields(file, [
          "vsock.src_cid",
          "vsock.dst_cid",
          "vsock.op",
          "vsock.virtio.op",
          "vsock.virtio.len",
          "frame.len",
          "frame.cap_len",
        ]);
        // vsockmon op 1 (connect) carries REQUEST (1) from a and RESPONSE (2) from b.
        assert.ok(rows.some((r) => r.slice(0, 4).join() === "3,4,1,1"), JSON.stringify(rows));
        assert.ok(rows.some((r) => r.slice(0, 4).join() === "4,3,1,2"), JSON.stringify(rows));
        // Payload (vsockmon 4, virtio RW 5): every byte of the stream, in packets kept whole.
        const rw = rows.filter((r) => r[2] === "4" && r[3] === "5");
        assert.equal(rw.reduce((n, r) => n + Number(r[4]), 0), 200_000);
        for (const r of rw) assert.equal(r[5], r[6], `a packet cut short: ${r.join()}`);
        assert.ok(rw.some((r) => r[4] === "65536"), "a whole 64 KiB packet");
      } finally {
        await lab.stop();
      }
    }),
});
