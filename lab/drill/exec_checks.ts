/**
 * What an `exec` step's workload needs of its VM that only the topology can tell: a network
 * workload (`ping`, `udp-flood`, `sink`, `udp-echo`) a NIC, a vsock workload a vsock device, `vsock-send` a CID another VM (or the host) has, `iommu-unmap` a NIC
 * behind the VM's vIOMMU. Checked when the drill is validated, so that a typo in a name fails at
 * its line before the lab starts, not as a failed workload once it ran (the same words the guest
 * would answer with).
 *
 * Who calls it: the `exec` step's check in `steps.ts`, on the main thread.
 *
 * @module
 */

import type { PathSegment, Problem } from "../topology/issues.ts";
import { didYouMean } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";
import type { Topology } from "../topology/types.ts";
import type { WorkloadRequest } from "../guest/workloads/args.ts";
import { labCidsText } from "../guest/workloads/vsock.ts";

/** The host's vsock CID, as in Firecracker: a guest may always connect to it. */
const HOST_CID = 2;

/**
 * The problems of workload `req` run in VM `vm` of `topology`, placed at `path` (the step's
 * `argv`); none when the VM is not in the topology (reported on its own) or the workload needs
 * nothing of it.
 *
 * @example
 * ```ts ignore
 * import { workloadTopologyProblems } from "./exec_checks.ts";
 * workloadTopologyProblems({ kind: "iommu-unmap", device: "eth9" }, "a", topology, ["argv"]);
 * // [{ message: 'Cannot revoke "eth9": VM "a" has no vIOMMU', … }]
 * ```
 */
export function workloadTopologyProblems(
  req: WorkloadRequest,
  vm: string,
  topology: Topology,
  path: PathSegment[],
): Problem[] {
  const spec = topology.vms.find((v) => v.name === vm);
  if (spec === undefined) return [];
  const problem = (message: string, hint: string | null): Problem[] => [{
    code: "bad-workload",
    path,
    message,
    hint,
  }];
  switch (req.kind) {
    case "ping":
    case "udp-flood":
    case "sink":
    case "udp-echo": {
      // A VM with vsock only has no address to send from or to be reached at.
      if (spec.nics.length > 0) return [];
      return problem(
        `Cannot run ${req.kind} in VM ${quote(vm)}: it has no network interface`,
        `give VM ${quote(vm)} a NIC (\`nics:\` in the topology), or run it in a VM with one; ` +
          "over vsock run vsock-send, vsock-sink or vsock-echo",
      );
    }
    case "vsock-echo":
    case "vsock-sink":
    case "vsock-send": {
      if (spec.vsock === null) {
        return problem(
          `Cannot run ${req.kind} in VM ${quote(vm)}: it has no vsock device`,
          `add \`vsock: { cid: N }\` to VM ${
            quote(vm)
          } in the topology, or run it in a VM with one`,
        );
      }
      if (req.kind !== "vsock-send" || req.cid === HOST_CID) return [];
      if (req.cid === spec.vsock.cid) {
        return problem(
          `Cannot connect to vsock ${req.cid}:${req.port}: CID ${req.cid} is VM ${quote(vm)}'s own`,
          "vlab has no vsock loopback: connect to another VM's CID, or to the host (CID 2)",
        );
      }
      const cids = new Map(
        topology.vms.flatMap((v) => v.vsock === null ? [] : [[v.vsock.cid, v.name] as const]),
      );
      if (cids.has(req.cid)) return [];
      return problem(
        `Cannot connect to vsock ${req.cid}:${req.port}: no VM has CID ${req.cid}`,
        `the lab's vsock CIDs: ${labCidsText(cids, req.cid)}`,
      );
    }
    case "iommu-unmap": {
      const at = `Cannot revoke ${quote(req.device)}`;
      if (spec.iommu === null) {
        return problem(
          `${at}: VM ${quote(vm)} has no vIOMMU`,
          "iommu-unmap revokes the window of a NIC behind its VM's vIOMMU (`iommu:` in the topology)",
        );
      }
      const behind = spec.nics.filter((n) => n.iommu).map((n) => n.name);
      if (behind.includes(req.device)) return [];
      return problem(
        `${at}: not a NIC behind VM ${quote(vm)}'s vIOMMU (${
          behind.length === 0 ? "none is" : `those: ${behind.join(", ")}`
        })`,
        didYouMean(req.device, behind),
      );
    }
    default:
      return [];
  }
}
