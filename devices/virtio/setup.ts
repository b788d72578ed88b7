/**
 * Queue-enable checks shared by both layouts (reliability.md A18–A20): size, area alignment,
 * and that each area is reachable, through the device's DMA view, with the access the device
 * needs. A queue that fails them never becomes ready, so nothing later indexes outside it.
 *
 * @module
 */

import { DirectDma, type DmaView } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import { argumentError, type QueueSetupError } from "./errors.ts";
import { isValidPackedSize, PACKED_ALIGN, packedAreaSizes } from "./packed_layout.ts";
import type { QueueConfig } from "./queue.ts";
import { isValidSplitSize, SPLIT_ALIGN, splitAreaSizes } from "./split_layout.ts";

/**
 * The one check of a configuration's layout and features, for every entry point that takes a
 * `QueueConfig` from a script: a layout other than `"split"` or `"packed"` is refused as
 * `bad-layout` (as a bad size is refused as `bad-size`), never defaulted to either; `features`
 * that is not an object of three booleans is a `TypeError` naming it (a caller's type error,
 * not a value the guest programmed), and so is a `config` that is no object (`call`, the entry
 * point the script called, names it).
 *
 * @example
 * ```ts
 * import { checkLayout } from "./setup.ts";
 * const features = { eventIdx: false, indirect: false, inOrder: false };
 * checkLayout({ layout: "split", size: 8, descAddr: 0, driverAddr: 0, deviceAddr: 0, features });
 * // { ok: true, value: undefined }
 * ```
 */
export function checkLayout(
  config: QueueConfig,
  call = "checkLayout",
): Result<void, QueueSetupError> {
  // `null` read `config.features` and failed with "Cannot read properties of null".
  if (typeof config !== "object" || config === null) {
    throw argumentError(call, "config", "a QueueConfig object", config);
  }
  const features = config.features as unknown;
  if (typeof features !== "object" || features === null) {
    throw new TypeError(
      `Queue option features must be an object of eventIdx, indirect and inOrder booleans, not ${
        features === null ? "null" : typeof features
      }`,
    );
  }
  for (const name of FEATURE_NAMES) {
    const v = (features as Record<string, unknown>)[name];
    if (typeof v !== "boolean") {
      throw new TypeError(`Queue option features.${name} must be a boolean, not ${typeof v}`);
    }
  }
  const layout = config.layout;
  if (layout !== "split" && layout !== "packed") return err({ kind: "bad-layout", layout });
  return OK_VOID;
}

const FEATURE_NAMES = ["eventIdx", "indirect", "inOrder"] as const;

/** Guest-physical addresses of a queue's three areas after translation. */
export interface QueueAreas {
  /** Descriptor Area. */
  descriptor: number;
  /** Driver Area. */
  driver: number;
  /** Device Area. */
  device: number;
}

/**
 * Check a queue configuration and translate its areas for the device.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { checkQueueConfig } from "./setup.ts";
 * const features = { eventIdx: true, indirect: false, inOrder: false };
 * const r = checkQueueConfig(new DirectDma(GuestMemory.create(65536)), {
 *   layout: "split", size: 256, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000, features,
 * });
 * r.ok; // true
 * ```
 */
export function checkQueueConfig(
  dma: DmaView,
  config: QueueConfig,
): Result<QueueAreas, QueueSetupError> {
  const checked = checkLayout(config);
  if (!checked.ok) return checked;
  const packed = config.layout === "packed";
  if (!(packed ? isValidPackedSize(config.size) : isValidSplitSize(config.size))) {
    return err({ kind: "bad-size", size: config.size, layout: config.layout });
  }
  const sizes = packed ? packedAreaSizes(config.size) : splitAreaSizes(config.size);
  const align = packed ? PACKED_ALIGN : SPLIT_ALIGN;
  // The device writes the descriptor ring only in the packed layout.
  const access = {
    descriptor: packed ? "write" : "read",
    driver: "read",
    device: "write",
  } as const;
  const addrs = {
    descriptor: config.descAddr,
    driver: config.driverAddr,
    device: config.deviceAddr,
  };
  const out: QueueAreas = { descriptor: 0, driver: 0, device: 0 };
  for (const area of ["descriptor", "driver", "device"] as const) {
    const addr = addrs[area];
    if (!Number.isSafeInteger(addr) || addr % align[area] !== 0) {
      return err({ kind: "misaligned", area, addr, align: align[area] });
    }
    const t = dma.translate(addr, sizes[area], access[area]);
    if (!t.ok) return err({ kind: "area-unreachable", area, cause: t.error });
    out[area] = t.value;
  }
  return ok(out);
}

/** Where a driver keeps indirect tables: one table of `entries` descriptors per head or id. */
export interface IndirectArea {
  /** GPA of table 0 (16-byte aligned); table `h` is at `gpa + 16 · entries · h`. */
  gpa: number;
  /** Descriptors per table; chains longer than this are added directly. */
  entries: number;
}

/**
 * The driver's side of enabling a queue, for either layout: the same checks as the device's
 * (the guest placed the areas in its own memory, so the view is the identity), the indirect
 * tables' area, then zeroed areas (split: `used.flags` starts at 0, §2.7.13; packed: the ring
 * starts zero-filled, §2.8).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { prepareDriverRing } from "./setup.ts";
 * const mem = GuestMemory.create(65536);
 * prepareDriverRing(mem, { layout: "split", size: 300, descAddr: 0, driverAddr: 0, deviceAddr: 0,
 *   features: { eventIdx: false, indirect: false, inOrder: false } }, null).ok; // false: not a power of 2
 * ```
 */
export function prepareDriverRing(
  mem: GuestMemory,
  config: QueueConfig,
  indirect: IndirectArea | null,
): Result<void, QueueSetupError> {
  const areas = checkQueueConfig(new DirectDma(mem), config);
  if (!areas.ok) return areas;
  const tables = indirect ? 16 * indirect.entries * config.size : 0;
  if (indirect && (indirect.gpa % 16 !== 0 || !mem.contains(indirect.gpa, tables))) {
    return err({
      kind: "area-unreachable",
      area: "descriptor",
      cause: { kind: "dma-out-of-range", addr: indirect.gpa, length: tables, access: "write" },
    });
  }
  const sizes = config.layout === "packed"
    ? packedAreaSizes(config.size)
    : splitAreaSizes(config.size);
  mem.u8.fill(0, config.descAddr, config.descAddr + sizes.descriptor);
  mem.u8.fill(0, config.driverAddr, config.driverAddr + sizes.driver);
  mem.u8.fill(0, config.deviceAddr, config.deviceAddr + sizes.device);
  return OK_VOID;
}
