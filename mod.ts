/**
 * vlab as a library: start a lab of simulated VMs from a topology and drive it from a script
 * (run guest workloads, read metrics, flip and capture links, stop); and, below it, guest
 * memory, the split and packed virtqueues (driver and device halves), feature negotiation, the
 * device status machine, and the benchmarks.
 *
 * @example Ping across the shipped `pair` topology
 * ```ts ignore
 * import { startLab } from "./mod.ts";
 * const lab = await startLab("pair");
 * try {
 *   const ping = await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "3"]);
 *   console.log(ping.text);
 * } finally {
 *   await lab.stop();
 * }
 * ```
 *
 * @example Run a fault drill (a timeline, assertions, a verdict) from a script
 * ```ts ignore
 * import { runDrill } from "./mod.ts";
 * const result = await runDrill("drills/link-flap.yaml", { seed: 7, onProgress: console.log });
 * if (!result.passed) console.error(result.assertions.filter((a) => a.verdict !== "pass"));
 * ```
 *
 * @example Move one request through a packed queue in one thread
 * ```ts
 * import { createQueuePair, GuestMemory } from "./mod.ts";
 * const mem = GuestMemory.create(1 << 20);
 * const pair = createQueuePair(mem, {
 *   layout: "packed", size: 64, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000,
 *   features: { eventIdx: true, indirect: false, inOrder: false },
 * });
 * if (!pair.ok) throw new Error(pair.error.kind);
 * const { driver, device } = pair.value;
 * driver.add({ readable: [[0x10000, 64]], writable: [[0x20000, 1500]] }, 7);
 * driver.publish();
 * const popped = device.pop();
 * if (popped.ok && popped.value) device.push(popped.value, 100);
 * device.publish();
 * const used = driver.getUsed(); // { ok: true, value: { token: 7, len: 100 } }
 * ```
 *
 * @example Compare the layouts from a script
 * ```ts ignore
 * import { DEFAULT_RINGS_OPTIONS, formatRingsTable, runRingsBench } from "./mod.ts";
 * const report = await runRingsBench({ ...DEFAULT_RINGS_OPTIONS, batches: [1, 16], runs: 3 });
 * console.log(formatRingsTable(report));
 * ```
 *
 * @module
 */

export {
  DirectDma,
  type DmaAccess,
  type DmaError,
  DmaFastWindow,
  dmaRead,
  type DmaSegment,
  type DmaView,
  dmaWrite,
  formatMemoryError,
  GuestMemory,
  type MemoryError,
  type OutOfMemoryError,
  type OutOfRangeError,
  PAGE_SIZE,
  PageAllocator,
} from "./devices/memory/mod.ts";
export { err, ok, type Result } from "./devices/base/result.ts";
export * from "./devices/virtio/mod.ts";
export { createDeviceQueue, createDriverQueue } from "./devices/virtio/pair.ts";
export { DEFAULT_RINGS_OPTIONS, runRingsBench, spread } from "./lab/bench/rings.ts";
export type { CStatus } from "./lab/bench/c_build.ts";
export {
  type CacheModelOptions,
  type CacheModelResult,
  CoherenceModel,
  runCacheModel,
  Side,
  TracingRingAccess,
} from "./lab/bench/cache_model.ts";
export { formatRingsTable } from "./lab/bench/report.ts";
export { renderRingsChart } from "./lab/bench/chart.ts";
export type {
  ProgressFn,
  RingLayout,
  RingMode,
  RingsBenchOptions,
  RingsBenchReport,
  RingsBenchRow,
  RingsCFigures,
  RingsCStatus,
  Spread,
} from "./lab/bench/types.ts";
export {
  type LabHandle,
  loadTopology,
  startLab,
  type StartLabOptions,
  topologyObject,
  type TopologySource,
  type VmHandle,
  type WorkloadResults,
} from "./lab/api.ts";
export type { PingResult, RttStats } from "./lab/guest/workloads/ping.ts";
export type { SinkResult, SinkSender } from "./lab/guest/workloads/sink.ts";
export type { UdpEchoResult } from "./lab/guest/workloads/udp_echo.ts";
export type { UdpFloodResult } from "./lab/guest/workloads/udp_flood.ts";
export type {
  VsockEchoResult,
  VsockSendResult,
  VsockSinkResult,
} from "./lab/guest/workloads/vsock.ts";
export type { IommuUnmapResult } from "./lab/guest/workloads/iommu.ts";
export { LabError, type LabErrorCode, PartialExecError, type PartialResult } from "./lab/errors.ts";
export {
  type AssertionVerdict,
  type BinaryOp,
  type CallArg,
  compareRuns,
  type Decision,
  type Drill,
  type DrillAssertion,
  drillFromObject,
  type DrillIssue,
  DrillProgressError,
  type DrillResult,
  type DrillStep,
  type Expr,
  formatDrillIssues,
  type InputIssue,
  jsonReport,
  junitReport,
  type LinkOutcome,
  loadDrillFile,
  markdownReport,
  type MarkdownReportOptions,
  parseDrill,
  readReport,
  type RecoverySample,
  renderDrillChart,
  type ReplayDifference,
  replayDrill,
  type ReplayResult,
  runDrill,
  type RunDrillOptions,
  type StepRecord,
} from "./lab/drill/mod.ts";
export type {
  LabStatus,
  LinkDirectionStatus,
  NicStatus,
  OtherDeviceStatus,
} from "./lab/metrics.ts";
export type {
  CaptureOptions,
  ExecOptions,
  ExecOutcome,
  Lab,
  VmState,
  WaitMode,
} from "./lab/lab.ts";
export type { SwitchMac, SwitchMacTable } from "./lab/switch_macs.ts";
export type { PartitionInfo, PartitionProblem } from "./lab/partition.ts";
export type { LinkControls, LinkDirection } from "./lab/link_control.ts";
export type { VsockImpairmentProblem } from "./lab/topology/vsock_impairment.ts";
export type { DelayDistribution, LossModel } from "./lab/host/impair_models.ts";
export { type ImpairmentProblem, parseImpairment } from "./lab/topology/impairment.ts";
export {
  formatPlan,
  type LabPlan,
  type LinkPlan,
  type NicPlan,
  planLab,
  type RingPlan,
  type RingPort,
  type SwitchPlan,
  type ThreadKind,
  type ThreadPlan,
  type VhostPciLinkPlan,
  type VmPlan,
} from "./lab/plan.ts";
export type {
  DeviceSpec,
  IommuDeviceSpec,
  IommuEndpointSpec,
  NetDeviceSpec,
  NicIommu,
  NicVhostPci,
  QueueSpec,
  SlotSpec,
  VhostPciDeviceSpec,
  VsockDeviceSpec,
} from "./lab/wire/specs.ts";
export type { IommuDomainSnapshot, IommuPeerSnapshot, IommuSnapshot } from "./lab/iommu_view.ts";
export type { ControlLayout, SlotControlLayout, SlotShape } from "./lab/wire/control.ts";
export {
  formatIssues,
  parseTopology,
  shippedTopologies,
  topologyFromObject,
  topologyJsonSchema,
} from "./lab/topology/mod.ts";
export type {
  Endpoint,
  Impairment,
  IommuMode,
  IommuSpec,
  LinkSpec,
  NicFeatures,
  NicSpec,
  SwitchSpec,
  Topology,
  TopologyIssue,
  VmSpec,
  VsockLinkSpec,
  VsockRouterSpec,
  VsockSpec,
} from "./lab/topology/types.ts";
export { NetCounter, NetDriverCounter } from "./devices/net/metrics.ts";
export type { LabEvent } from "./lab/events.ts";
export { type Fault, FAULT_KINDS, type FaultOutcome, parseFault } from "./lab/faults.ts";
export type { BackendCrashMode } from "./lab/wire/messages.ts";
export type {
  DescriptorOwner,
  DescriptorView,
  DeviceSnapshot,
  DirectionSnapshot,
  LabMemory,
  LabSnapshot,
  LinkDrops,
  LinkSnapshot,
  LinkWaits,
  QueueSnapshot,
  RingSelector,
  RingView,
  SwitchSnapshot,
  VhostPciLinkSnapshot,
  VmDisplayState,
  VmReboot,
  VmRecovery,
  VmSnapshot,
} from "./lab/snapshot_types.ts";
export type {
  VsockConnectionRow,
  VsockConnState,
  VsockConnTable,
} from "./devices/vsock/conn_table.ts";
export { EventLog } from "./lab/events.ts";
export { LinkRing, type LinkRingCounters } from "./lab/host/link_ring.ts";
export type { TapCounters } from "./lab/host/tap.ts";
export type { DirectionCounts } from "./lab/link_counts.ts";
