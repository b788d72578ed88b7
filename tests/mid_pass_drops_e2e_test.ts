/**
 * Drops counted once across mid-pass crashes of the receiving device worker (`vlab fault
 * backend-crash b --mode mid-pass --after 20`, six times): `a` (MTU 9000) floods `b` (MTU 1500)
 * with 4000-byte datagrams, which `b`'s NIC drops as too big, beside a flood of small ones that
 * it delivers (a mid-pass crash comes after frames delivered). Each crash left the too-big frames
 * of its pass in the link ring, and `b`'s successor worker counted them again: `vlab status`
 * showed 20064 too-big drops for 20000 sent (three crashes). devices/net/device_test.ts checks
 * the same deterministically.
 */

import assert from "node:assert/strict";
import { NetCounter } from "../devices/net/metrics.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";

Deno.test({
  name: "frames a NIC drops as too big are counted once across mid-pass crashes of its worker",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "mid-pass-drops",
      seed: 1,
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24", mtu: 9000 } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const warm = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(warm.ok, warm.ok ? "" : warm.message);
      // Both floods run until the six crashes are over (then the test ends them): at a fixed
      // 40000 frames (2 s) they could end before the last crash on a loaded machine, where each
      // restart takes longer, and a mid-pass crash armed after the flood never comes.
      const ending = new AbortController();
      const flood = (size: number, port: number) =>
        lab.exec("a", [
          "udp-flood",
          "10.0.0.2",
          "-s",
          String(size),
          "-p",
          String(port),
          "-r",
          "20000",
          "-n",
          "400000",
        ], ending.signal);
      const b = lab.plan.vms[1];
      const c = deviceControl(lab.controlOf(1), b.control.devices[0]).deviceCounters;
      /** Wait until b's NIC has dropped 100 more big frames: its worker passes frames. */
      const passing = async (what: string) => {
        const from = c[NetCounter.rxTooBig];
        await waitForValue(what, () => c[NetCounter.rxTooBig] >= from + 100 ? true : null, 5000);
      };
      const big = flood(4000, 9);
      const small = flood(64, 9001);
      const restarts = () => lab.events.recent().filter((e) => e.kind === "backend-restarted");
      for (let i = 1; i <= 6; i++) {
        await passing(`frames through b's worker before crash ${i}`);
        const f = await lab.fault({ kind: "backend-crash", vm: "b", mode: "mid-pass", after: 20 });
        assert.ok(f.ok, f.ok ? "" : f.message);
        await waitForValue(`restart ${i}`, () => restarts().length >= i ? true : null, 5000);
      }
      await passing("frames through b's last worker");
      ending.abort();
      const sent = await big;
      assert.ok(sent.ok, sent.ok ? "" : sent.message);
      assert.ok((await small).ok);
      const n = (sent.result as { sent: number }).sent;
      assert.ok(n < 400_000, `the flood ran to its end (${n} sent), not until the crashes ended`);
      // Every big frame reaches b's NIC (the link ring holds them across a restart) and is
      // dropped there once.
      await waitForValue("b's drops", () => c[NetCounter.rxTooBig] >= n ? true : null, 5000);
      assert.equal(c[NetCounter.rxTooBig], n, "too-big drops against big datagrams sent");
    } finally {
      await lab.stop();
    }
  },
});
