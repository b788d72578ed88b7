/**
 * Re-record the `recorded_*` fixtures from a real lab: a star of three VMs (a split, b and c
 * packed) on switch sw1, 5 % loss on a-sw1 and 1 ms delay on c-sw1, a few pings through the
 * switch, then two snapshots 100 ms apart and the ring views of b's receiveq and a's transmitq.
 * Run from the repository root when the snapshot format changes:
 *
 * ```sh
 * deno run -A cli/dashboard/testdata/record.ts && deno fmt cli/dashboard/testdata
 * ```
 *
 * @module
 */

import { takeRingView, takeSnapshot } from "../../../lab/snapshot.ts";
import { startTestLab } from "../../../lab/testing.ts";

const dir = new URL(".", import.meta.url);
const lab = await startTestLab({
  name: "recorded",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { layout: "packed", nics: { eth0: { ip: "10.0.0.2/24" } } },
    c: { layout: "packed", nics: { eth0: { ip: "10.0.0.3/24" } } },
  },
  switches: { sw1: {} },
  links: [
    { endpoints: ["a", "sw1"], loss: "5%" },
    { endpoints: ["b", "sw1"] },
    { endpoints: ["c", "sw1"], delay: "1ms" },
  ],
});
try {
  await lab.exec("a", ["ping", "10.0.0.3", "-c", "5", "-i", "0.02", "-W", "0.3"]);
  await lab.exec("b", ["ping", "10.0.0.3", "-c", "1", "-W", "0.3"]);
  const write = (name: string, value: unknown) =>
    Deno.writeTextFile(new URL(`${name}.json`, dir), JSON.stringify(value, null, 2) + "\n");
  await write("recorded_0", takeSnapshot(lab));
  await new Promise((r) => setTimeout(r, 100));
  await write("recorded_1", takeSnapshot(lab));
  for (
    const [name, sel] of [
      ["recorded_ring_packed", { vm: "b", nic: "eth0", queue: 0 }],
      ["recorded_ring_split", { vm: "a", nic: "eth0", queue: 1 }],
    ] as const
  ) {
    const r = takeRingView(lab, sel);
    if (!r.ok) throw new Error(r.error.message);
    await write(name, r.value);
  }
} finally {
  await lab.stop();
}
