/**
 * virtio-vsock (virtio 1.2 §5.10): the device model (device worker) with its connection table,
 * the guest driver and socket table (guest worker), the header and config-space layouts,
 * errors and counters. STREAM sockets only.
 *
 * @module
 */
export * from "./config.ts";
export * from "./conn_table.ts";
export * from "./connection.ts";
export { ConnTrack, type TrackedConnection, Verdict } from "./conntrack.ts";
export {
  type DeliverOutcome,
  type VsockBackend,
  VsockDevice,
  type VsockDeviceOptions,
  type VsockFinishOutcome,
  type VsockTxOutcome,
} from "./device.ts";
export {
  DEFAULT_VSOCK_BUFFER,
  VSOCK_EVENT_BUFFERS,
  VSOCK_LARGE_RX_BUFFER,
  VSOCK_LARGE_RX_BUFFERS,
  VSOCK_LARGE_TX_BUFFER,
  VSOCK_LARGE_TX_BUFFERS,
  VsockDriver,
  vsockDriverMemoryBytes,
  type VsockDriverOptions,
  type VsockFlushOutcome,
  type VsockReattachError,
} from "./driver.ts";
export * from "./errors.ts";
export * from "./header.ts";
export * from "./metrics.ts";
export { type PacketSink, VsockSockets, type VsockSocketsOptions } from "./sockets.ts";
