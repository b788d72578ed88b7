/**
 * What the vsock end-to-end tests share: a VM's vsock device in the snapshot, and a long stream
 * from one VM's `vsock-send` to another's `vsock-sink` that is known to be flowing.
 *
 * @module
 */
import type { Lab } from "../lab/lab.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { waitForValue } from "../lab/testing.ts";

/** A VM's vsock device in the snapshot. */
export function vsockOf(lab: Lab, vm: string) {
  return takeSnapshot(lab).vms.find((v) => v.name === vm)!.devices
    .find((x) => x.kind === "virtio-vsock")!;
}

/**
 * Start `to`'s `vsock-sink` on `port` (`spawn`: it listens before the send starts) and a 1 GiB
 * `vsock-send` from `from` to CID `cid`, and return once more than 1 MiB reached `to` (within
 * 10 s). Both go on until the test ends them.
 */
export async function flowingStream(
  lab: Lab,
  o: { from: string; to: string; cid: number; port: number },
): Promise<{ sink: ReturnType<Lab["exec"]>; send: ReturnType<Lab["exec"]> }> {
  const { result: sink } = await lab.spawn(o.to, ["vsock-sink", "-p", String(o.port), "-t", "30"]);
  const send = lab.exec(o.from, [
    "vsock-send",
    String(o.cid),
    String(o.port),
    "-b",
    String(1 << 30),
  ]);
  let ended: string | null = null;
  void send.then((r) => ended = r.ok ? "ended" : r.message);
  await waitForValue(`bytes flowing from ${o.from} to ${o.to}`, () => {
    if (ended !== null) throw new Error(`${o.from}: vsock-send ended early: ${ended}`);
    return (vsockOf(lab, o.to).driverCounters.rxBytes ?? 0) > 1 << 20 ? true : null;
  }, 10_000);
  return { sink, send };
}
