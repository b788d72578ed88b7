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
 * Start `to`'s `vsock-sink` on `port` and a 1 GiB `vsock-send` from `from` to CID `cid`, and
 * return once more than 1 MiB reached `to` (within 10 s): the sink listens only once its exec
 * reached the guest, so a send refused before that is started again. `send` is the stream
 * that flows; both go on until the test ends them.
 */
export async function flowingStream(
  lab: Lab,
  o: { from: string; to: string; cid: number; port: number },
): Promise<{ sink: ReturnType<Lab["exec"]>; send: ReturnType<Lab["exec"]> }> {
  const sink = lab.exec(o.to, ["vsock-sink", "-p", String(o.port), "-t", "30"]);
  const big = ["vsock-send", String(o.cid), String(o.port), "-b", String(1 << 30)];
  let send = lab.exec(o.from, big);
  let sendDone = false;
  void send.then(() => sendDone = true);
  await waitForValue(`bytes flowing from ${o.from} to ${o.to}`, () => {
    if ((vsockOf(lab, o.to).driverCounters.rxBytes ?? 0) > 1 << 20) return true;
    if (sendDone) {
      sendDone = false;
      send = lab.exec(o.from, big);
      void send.then(() => sendDone = true);
    }
    return null;
  }, 10_000);
  return { sink, send };
}
