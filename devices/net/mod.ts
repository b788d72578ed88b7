/**
 * virtio-net (virtio 1.2 §5.1): the device model (device worker), the guest driver (guest
 * worker), the config-space and header layouts, errors and counters.
 *
 * @module
 */
export * from "./config.ts";
export {
  type FinishOutcome,
  type FrameSink,
  NetDevice,
  type NetDeviceOptions,
  type RxOutcome,
  type TxOutcome,
} from "./device.ts";
export {
  type FlushOutcome,
  indirectEntriesFor,
  MAX_REASSEMBLED_FRAME,
  NetDriver,
  netDriverMemoryBytes,
  type NetDriverOptions,
  type NetReattachError,
  rxBufferBytes,
  SEGMENT_BYTES,
} from "./driver.ts";
export * from "./errors.ts";
export * from "./metrics.ts";
export { type NetRecovery, recoverNet } from "./recovery.ts";
export { DEFAULT_TX_TIMEOUT_MS, TxWatchdog } from "./tx_watchdog.ts";
