/**
 * Impairments on a vsock link between two VMs: a rate and a delay from the file slow the stream
 * and lose nothing (the stage holds packets back, never drops them); a live `delay` (and a
 * `jitter`, which never reorders) reaches the device worker's stage; `loss` is refused live as in
 * files.
 */
import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { LabError } from "../lab/errors.ts";
import type { VsockSendResult, VsockSinkResult } from "../lab/guest/workloads/vsock.ts";
import { inStateDir } from "../lab/testing.ts";

const BYTES = 2 << 20;

Deno.test({
  name:
    "vsock link: rate and delay slow the stream and lose nothing; live delay and jitter apply; loss refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsock-impair-", async () => {
      const lab = await startLab({
        name: "vsock-impair",
        vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } },
        links: [{ kind: "vsock", endpoints: ["a", "b"], rate: "100mbit", delay: "2ms", limit: 32 }],
      });
      const stream = async (bytes: number) => {
        // spawn resolves once b's sink listens: the first connect is not refused.
        const { result: sink } = await lab.vm("b").spawn(["vsock-sink", "-p", "5000", "-t", "20"]);
        const sent = await lab.vm("a").exec([
          "vsock-send",
          "4",
          "5000",
          "-b",
          String(bytes),
        ]) as unknown as VsockSendResult;
        return { sent, got: await sink as unknown as VsockSinkResult };
      };
      try {
        const { sent, got } = await stream(BYTES);
        assert.equal(got.bytes, BYTES, "bytes lost or duplicated");
        assert.equal(got.mismatches, 0);
        assert.equal(got.checksum, sent.checksum);
        // 2 MiB at 100 Mbit/s take at least 168 ms (a bypassed stage: a few ms).
        assert.ok(got.seconds >= 0.15, `${got.seconds} s: the rate did not apply`);
        const status = lab.status().links.find((l) => l.name === "a-b-vsock")!;
        assert.match(status.forward.impair, /rate 100mbit/);

        await assert.rejects(
          Promise.resolve().then(() => lab.setImpairment("a-b-vsock", { loss: "1%" })),
          (e) => e instanceof LabError && e.code === "bad-impairment" && /reliable/.test(e.message),
        );
        // jitter spreads the delay but never reorders (a packet is never due before the one
        // before it), so a stream over it loses and shifts nothing.
        lab.setImpairment("a-b-vsock", { delay: "2ms", jitter: "2ms", distribution: "pareto" });
        const jittered = await stream(BYTES);
        assert.equal(jittered.got.bytes, BYTES, "bytes lost or duplicated under jitter");
        assert.equal(jittered.got.mismatches, 0);
        assert.equal(jittered.got.checksum, jittered.sent.checksum);
        lab.setImpairment("a-b-vsock", { delay: "30ms" });
        const slow = await stream(1000);
        assert.equal(slow.got.bytes, 1000);
        // Connect, data and close cross the link several times: each way takes 30 ms now.
        assert.ok(
          slow.sent.seconds >= 0.06,
          `${slow.sent.seconds} s: the live delay did not apply`,
        );
      } finally {
        await lab.stop();
      }
    }),
});
