/**
 * vhost-pci-net: VM `b` serves the virtio-net queues of VM `a` directly in `a`'s memory, through
 * a window (`a`'s vIOMMU mappings for that NIC, or all of `a`'s memory without a vIOMMU). The
 * frontend (`a`'s device model, which hands its queues over at DRIVER_OK), the backend (`b`'s
 * driver, which serves them with the device-side queue code of `devices/virtio/`), the window,
 * and the vhost-pci-net device `b` probes.
 *
 * @module
 */
export * from "./config.ts";
export {
  type PollOutcome,
  VhostPciBackend,
  type VhostPciBackendOptions,
  type VhostPciDownReason,
} from "./backend.ts";
export {
  peerFailed,
  peerServing,
  publishPeerDown,
  VhostPciFrontend,
  type VhostPciFrontendOptions,
} from "./frontend.ts";
export { type BatchedDmaView, PeerWindow } from "./window.ts";
export { VhostPciNetDevice, type VhostPciNetDeviceOptions } from "./device.ts";
