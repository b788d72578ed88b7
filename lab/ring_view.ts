/**
 * The ring view of one virtqueue of a running lab (`GET /ring`): its descriptor table, the
 * split avail and used rings, where each side's index points and the event-suppression fields,
 * read straight from guest memory, the register file and the device's queue state record.
 *
 * Guest memory is guest-controlled: every read here is bounds-checked and a garbage ring gives
 * garbage numbers, never an exception. The module also holds the per-lab views that
 * `lab/snapshot.ts` shares (control-block views and a reader of each VM's guest memory, built
 * once per lab).
 *
 * @module
 */

import { servedBy } from "./vhost_pci_view.ts";
import { quote } from "../devices/base/quote.ts";
import { vmsHint } from "./errors.ts";
import { err, ok, type Result } from "../devices/base/result.ts";
import {
  Feature,
  MAX_QUEUE_SIZE,
  PackedDescFlag,
  SplitDescFlag,
  Status,
} from "../devices/virtio/constants.ts";
import { QueueWord, queueWord, type QueueWordField, RegFileWord } from "../devices/virtio/mmio.ts";
import { PackedDesc, PackedEvent } from "../devices/virtio/packed_layout.ts";
import { SplitAvail, SplitDesc, SplitUsed } from "../devices/virtio/split_layout.ts";
import { STATE_HEADER_WORDS, StateWord } from "../devices/virtio/state.ts";
import type { Lab } from "./lab.ts";
import type { VmPlan } from "./plan.ts";
import { type LabKind, labKind } from "./kinds/mod.ts";
import { type DeviceControl, deviceControl } from "./wire/control.ts";
import type { DeviceSpec } from "./wire/specs.ts";
import type { DescriptorOwner, DescriptorView, RingSelector, RingView } from "./snapshot_types.ts";

/** Most descriptors (and avail/used ring entries) a ring view shows. */
export const RING_VIEW_MAX = 256;

/**
 * A bounds-checked little-endian reader of a VM's guest memory (GPA = byte offset). Every read
 * returns null outside memory (or for a non-finite address) instead of throwing.
 *
 * @example
 * ```ts
 * import { GuestReader } from "./ring_view.ts";
 * const g = new GuestReader(new SharedArrayBuffer(16));
 * g.u16(2); // 0
 * g.u16(15); // null: the u16 would end past memory
 * ```
 */
export class GuestReader {
  readonly #view: DataView;
  /** Bytes of guest memory. */
  readonly bytes: number;

  /**
   * Read a VM's guest memory.
   *
   * @param memory the VM's guest memory
   */
  constructor(memory: SharedArrayBuffer) {
    this.#view = new DataView(memory);
    this.bytes = memory.byteLength;
  }

  /** Whether `[addr, addr + len)` lies inside guest memory. */
  has(addr: number, len: number): boolean {
    return addr >= 0 && len >= 0 && addr + len <= this.bytes && Number.isFinite(addr + len);
  }

  /** The u16 at `addr`, or null. */
  u16(addr: number): number | null {
    return this.has(addr, 2) ? this.#view.getUint16(addr, true) : null;
  }

  /** The u32 at `addr`, or null. */
  u32(addr: number): number | null {
    return this.has(addr, 4) ? this.#view.getUint32(addr, true) : null;
  }

  /** The u64 at `addr` as a number (exact up to 2^53), or null. */
  u64(addr: number): number | null {
    if (!this.has(addr, 8)) return null;
    return this.#view.getUint32(addr, true) + this.#view.getUint32(addr + 4, true) * 2 ** 32;
  }
}

/** Views over one device slot of a lab, whatever its kind, built once per lab. */
export interface DeviceViews {
  /** The VM. */
  vm: VmPlan;
  /** The device (its queues, names and layout are the plan's). */
  device: DeviceSpec;
  /** Its kind's lab-side description (counter names, queue counters). */
  kind: LabKind;
  /** Its control-block regions. */
  ctl: DeviceControl;
  /** Its VM's guest memory. */
  guest: GuestReader;
}

/** Everything a snapshot or ring view reads, prepared once per lab. */
export interface LabViews {
  /** `[vm index][device slot]`. */
  devices: DeviceViews[][];
  /** VM index by name. */
  vmIndex: Map<string, number>;
}

const VIEWS = new WeakMap<Lab, LabViews>();

/**
 * The views of a lab (cached: a lab's shared buffers never change while it exists).
 *
 * @example
 * ```ts ignore
 * import { labViews } from "./ring_view.ts";
 * const regs = labViews(lab).devices[0][0].ctl.regs; // VM 0, device slot 0's register file
 * ```
 */
export function labViews(lab: Lab): LabViews {
  let v = VIEWS.get(lab);
  if (v) return v;
  const vmIndex = new Map<string, number>();
  const devices = lab.plan.vms.map((vm) => {
    vmIndex.set(vm.name, vm.index);
    const guest = new GuestReader(lab.memoryOf(vm.name));
    return vm.devices.map((device) => ({
      vm,
      device,
      kind: labKind(device.kind),
      ctl: deviceControl(lab.controlOf(vm.index), vm.control.devices[device.index]),
      guest,
    }));
  });
  v = { devices, vmIndex };
  VIEWS.set(lab, v);
  return v;
}

/**
 * A queue area address (`DESC`, `DRIVER` or `DEVICE`) from the register file's lo/hi words.
 *
 * @example
 * ```ts
 * import { queueAddr } from "./ring_view.ts";
 * import { QueueWord, queueWord, regFileWords } from "../devices/virtio/mmio.ts";
 * const regs = new Int32Array(regFileWords(2));
 * regs[queueWord(1, QueueWord.DESC_HI)] = 1;
 * queueAddr(regs, 1, QueueWord.DESC_LO, QueueWord.DESC_HI); // 4294967296
 * ```
 */
export function queueAddr(
  regs: Int32Array,
  q: number,
  lo: QueueWordField,
  hi: QueueWordField,
): number {
  return (regs[queueWord(q, lo)] >>> 0) + (regs[queueWord(q, hi)] >>> 0) * 2 ** 32;
}

/**
 * The ring layout of a NIC's queues: what the driver negotiated (RING_PACKED) once the status
 * has FEATURES_OK, else what the plan configured.
 *
 * @example
 * ```ts ignore
 * import { labViews, queueLayout } from "./ring_view.ts";
 * const v = labViews(lab).devices[0][0];
 * queueLayout(v.ctl.regs, v.device.queues[0].layout); // "split"
 * ```
 */
export function queueLayout(regs: Int32Array, planned: "split" | "packed"): "split" | "packed" {
  if ((regs[RegFileWord.STATUS] & Status.FEATURES_OK) === 0) return planned;
  return (regs[RegFileWord.DRIVER_FEATURES_HI] >>> (Feature.RING_PACKED - 32)) & 1
    ? "packed"
    : "split";
}

/**
 * Why `takeRingView` shows no queue, with the code the rest of the lab's API uses for it (the
 * codes of `POST /faults`): no such VM, no such device (NIC), no such queue on it, or a
 * vhost-pci-net device, which has no queues of its own (it serves its frontend's).
 */
export type RingViewErrorCode = "unknown-vm" | "unknown-device" | "unknown-queue" | "no-queues";

/** What `takeRingView` answers for a queue it does not know. */
export interface RingViewError {
  /** Stable code. */
  code: RingViewErrorCode;
  /** One line. */
  message: string;
  /** What to do. */
  hint: string;
}

/**
 * Who owns each descriptor, and why:
 *
 * - **split**: exact for the device side, from the queue state record's fetch table (a chain
 *   head id is marked there from the pop to the publish): every such head and its NEXT chain is
 *   "device". The heads in `avail.ring` between the device's next avail index and `avail.idx`
 *   (made available, not taken yet) and their NEXT chains are "driver". Everything else
 *   (returned, or never posted) is "free". Chains are walked at most `size` steps.
 * - **packed**: a slot in the device's range from its next used slot up to its next avail slot
 *   (taken, not returned yet) is "device"; a slot whose AVAIL bit differs from its USED bit and
 *   equals the wrap counter the device expects when it next reaches that slot (its avail wrap
 *   counter ahead of the next avail slot, the inverse behind it) is "driver"; the rest
 *   (used, or stale slots of chains already returned) is "free".
 *
 * At most `RING_VIEW_MAX` descriptors are shown (the first ones of the table), and the avail and
 * used rings show their last up to `RING_VIEW_MAX` published entries, oldest first (fewer while
 * the ring has not been around once). Returns an error for an unknown VM, NIC or queue. Never
 * throws on a garbage ring.
 *
 * @example
 * ```ts ignore
 * import { takeRingView } from "./ring_view.ts";
 * const view = takeRingView(lab, { vm: "a", nic: "eth0", queue: 0 });
 * if (view.ok) console.log(view.value.descriptors.filter((d) => d.owner === "driver").length);
 * ```
 */
export function takeRingView(lab: Lab, sel: RingSelector): Result<RingView, RingViewError> {
  const plan = lab.plan;
  const vm = plan.vms.find((v) => v.name === sel.vm);
  if (!vm) {
    return err({
      code: "unknown-vm",
      message: `The lab has no VM ${quote(sel.vm)}`,
      hint: vmsHint(plan.vms.map((v) => v.name)),
    });
  }
  const device = vm.devices.find((d) => d.name === sel.nic);
  if (!device) {
    return err({
      code: "unknown-device",
      message: `VM "${vm.name}" has no device ${quote(sel.nic)}`,
      hint: `Devices of ${vm.name}: ${vm.devices.map((d) => d.name).join(", ") || "(none)"}`,
    });
  }
  if (device.kind === "vhost-pci") {
    // A vhost-pci-net device has no queues of its own: it serves its frontend's, in the
    // frontend's memory, and the frontend's ring view shows them (with "served by").
    const { vm: fvm, nic: fnic } = device.frontend;
    return err({
      code: "no-queues",
      message: `NIC ${vm.name}:${device.name} is a vhost-pci-net device with no queues of its ` +
        `own: it serves ${fvm}:${fnic}'s`,
      hint: `View those: ringView("${fvm}", "${fnic}", 0) for the receiveq, 1 for the ` +
        `transmitq (GET /ring?vm=${fvm}&nic=${fnic}&queue=0)`,
    });
  }
  const q = sel.queue;
  if (!Number.isInteger(q) || q < 0 || q >= device.queues.length) {
    const names = device.queues.map((qs, i) => `${i} (${qs.name})`).join(", ");
    return err({
      code: "unknown-queue",
      // A vsock or virtio-iommu device has queues too: it is no NIC.
      message: `${
        device.kind === "net" ? "NIC" : "Device"
      } ${vm.name}:${device.name} has no queue ${sel.queue}`,
      hint: `Queues: ${names || "none"}`,
    });
  }
  const v = labViews(lab).devices[vm.index][device.index];
  const selector = { vm: vm.name, nic: device.name, queue: q };
  const served = servedBy(device);
  const view = queueLayout(v.ctl.regs, device.queues[q].layout) === "packed"
    ? packedView(v, selector)
    : splitView(v, selector);
  return ok(
    served === null ? view : { ...view, servedBy: served },
  );
}

// Owner marks: 0 free (unmarked), then:
const DRIVER = 1;
const DEVICE = 2;
const OWNERS: readonly DescriptorOwner[] = ["free", "driver", "device"];

const SPLIT_FLAG_NAMES = Object.entries(SplitDescFlag) as [string, number][];
const PACKED_FLAG_NAMES = Object.entries(PackedDescFlag) as [string, number][];

function flagNames(flags: number, names: readonly [string, number][]): string[] {
  const out: string[] = [];
  for (const [name, bit] of names) if ((flags & bit) !== 0) out.push(name);
  return out;
}

interface QueueBase {
  size: number;
  valid: boolean;
  desc: number;
  driver: number;
  device: number;
  st: Uint32Array;
}

function queueBase(v: DeviceViews, q: number): QueueBase {
  const regs = v.ctl.regs;
  const size = regs[queueWord(q, QueueWord.SIZE)] >>> 0;
  return {
    size,
    valid: size >= 1 && size <= MAX_QUEUE_SIZE,
    desc: queueAddr(regs, q, QueueWord.DESC_LO, QueueWord.DESC_HI),
    driver: queueAddr(regs, q, QueueWord.DRIVER_LO, QueueWord.DRIVER_HI),
    device: queueAddr(regs, q, QueueWord.DEVICE_LO, QueueWord.DEVICE_HI),
    st: v.ctl.queueState[q],
  };
}

/**
 * Packed: the chains the driver made available that the device has not taken yet, read from the
 * descriptors' AVAIL/USED bits against the device's avail wrap counter (virtio 1.2 §2.8.1): from
 * the device's next avail slot, each slot whose AVAIL bit equals the wrap counter expected there
 * and whose USED bit differs is available; a chain ends at a descriptor without NEXT. At most the
 * slots the device does not hold are walked. Null when the queue is not set up or its ring lies
 * outside memory.
 *
 * @example
 * ```ts ignore
 * import { packedPending } from "./ring_view.ts";
 * packedPending(views, 0); // 256: every RX buffer posted, none taken
 * ```
 */
export function packedPending(v: DeviceViews, q: number): number | null {
  const b = queueBase(v, q);
  if (!b.valid || v.ctl.regs[queueWord(q, QueueWord.READY)] === 0) return null;
  if (!v.guest.has(b.desc, PackedDesc.SIZE * b.size)) return null;
  const { size, st } = b;
  const held = Math.min(size, Math.max(0, st[StateWord.IN_FLIGHT]));
  let slot = st[StateWord.NEXT_AVAIL] % size;
  let wrap = st[StateWord.AVAIL_WRAP] & 1;
  let chains = 0;
  for (let k = 0; k < size - held; k++) {
    const flags = v.guest.u16(b.desc + PackedDesc.SIZE * slot + PackedDesc.FLAGS)!;
    const avail = (flags & PackedDescFlag.AVAIL) !== 0 ? 1 : 0;
    const used = (flags & PackedDescFlag.USED) !== 0 ? 1 : 0;
    if (avail !== wrap || used === wrap) break;
    if ((flags & PackedDescFlag.NEXT) === 0) chains++;
    if (++slot === size) {
      slot = 0;
      wrap ^= 1;
    }
  }
  return chains;
}

/** The last `count` entries of a free-running 16-bit ring index `end`, oldest first. */

function splitView(v: DeviceViews, selector: RingSelector): RingView {
  const g = v.guest;
  const q = selector.queue;
  const b = queueBase(v, q);
  const { size, st } = b;
  const nextAvail = st[StateWord.NEXT_AVAIL] & 0xffff;
  const nextUsed = st[StateWord.USED_IDX] & 0xffff;
  const availIdx = g.u16(b.driver + SplitAvail.IDX);
  const usedIdx = g.u16(b.device + SplitUsed.IDX);
  const events: Record<string, number> = {};
  const view: RingView = {
    selector,
    layout: "split",
    size,
    descriptors: [],
    availRing: [],
    usedRing: [],
    availIdx: b.valid ? availIdx : null,
    usedIdx: b.valid ? usedIdx : null,
    deviceNextAvail: nextAvail,
    availWrapCounter: null,
    deviceNextUsed: nextUsed,
    usedWrapCounter: null,
    events,
  };
  if (!b.valid) return view;

  const descAt = (i: number) => b.desc + SplitDesc.SIZE * i;
  const availEntry = (pos: number) =>
    g.u16(b.driver + SplitAvail.RING + SplitAvail.ENTRY * (pos % size));
  const owner = new Uint8Array(size);
  const mark = (head: number, who: number) => {
    let i = head;
    for (let steps = 0; steps < size && i < size && owner[i] !== who; steps++) {
      owner[i] = who;
      const flags = g.u16(descAt(i) + SplitDesc.FLAGS);
      if (flags === null || (flags & SplitDescFlag.NEXT) === 0) break;
      i = g.u16(descAt(i) + SplitDesc.NEXT) ?? size;
    }
  };
  const pending = availIdx === null ? 0 : Math.min((availIdx - nextAvail) & 0xffff, size);
  for (let k = 0; k < pending; k++) {
    const head = availEntry((nextAvail + k) & 0xffff);
    if (head !== null) mark(head, DRIVER);
  }
  const ids = Math.min(size, st.length - STATE_HEADER_WORDS);
  for (let id = 0; id < ids; id++) if (st[STATE_HEADER_WORDS + id] !== 0) mark(id, DEVICE);

  const shown = Math.min(size, RING_VIEW_MAX);
  for (let i = 0; i < shown && g.has(descAt(i), SplitDesc.SIZE); i++) {
    const at = descAt(i);
    const flags = g.u16(at + SplitDesc.FLAGS)!;
    view.descriptors.push({
      index: i,
      addr: g.u64(at + SplitDesc.ADDR)!,
      len: g.u32(at + SplitDesc.LEN)!,
      flags,
      flagNames: flagNames(flags, SPLIT_FLAG_NAMES),
      next: g.u16(at + SplitDesc.NEXT)!,
      id: null,
      owner: OWNERS[owner[i]],
    });
  }

  // The avail and used rings slot by slot (slot i next to descriptor i in the view), as far
  // as the descriptors shown.
  if (availIdx !== null) {
    for (let i = 0; i < shown; i++) view.availRing!.push(availEntry(i) ?? 0);
  }
  if (usedIdx !== null) {
    for (let i = 0; i < shown; i++) {
      const at = b.device + SplitUsed.RING + SplitUsed.ENTRY * i;
      view.usedRing!.push({
        id: g.u32(at + SplitUsed.ELEM_ID) ?? 0,
        len: g.u32(at + SplitUsed.ELEM_LEN) ?? 0,
      });
    }
  }

  const put = (name: string, value: number | null) => {
    if (value !== null) events[name] = value;
  };
  put("avail_flags", g.u16(b.driver + SplitAvail.FLAGS));
  put("used_flags", g.u16(b.device + SplitUsed.FLAGS));
  if ((v.ctl.regs[RegFileWord.DRIVER_FEATURES_LO] >>> Feature.EVENT_IDX) & 1) {
    put("used_event", g.u16(b.driver + SplitAvail.RING + SplitAvail.ENTRY * size));
    put("avail_event", g.u16(b.device + SplitUsed.RING + SplitUsed.ENTRY * size));
  }
  return view;
}

function packedView(v: DeviceViews, selector: RingSelector): RingView {
  const g = v.guest;
  const b = queueBase(v, selector.queue);
  const { size, st } = b;
  const nextAvail = st[StateWord.NEXT_AVAIL];
  const availWrap = st[StateWord.AVAIL_WRAP] & 1;
  const nextUsed = st[StateWord.USED_IDX];
  const usedWrap = st[StateWord.USED_WRAP] & 1;
  const events: Record<string, number> = {};
  const view: RingView = {
    selector,
    layout: "packed",
    size,
    descriptors: [],
    availRing: null,
    usedRing: null,
    availIdx: null,
    usedIdx: null,
    deviceNextAvail: nextAvail,
    availWrapCounter: availWrap === 1,
    deviceNextUsed: nextUsed,
    usedWrapCounter: usedWrap === 1,
    events,
  };
  if (!b.valid) return view;

  // Slots taken and not returned: from the next used slot up to the next avail slot (a whole
  // ring when the two meet on different laps).
  const held = nextAvail === nextUsed
    ? (availWrap !== usedWrap ? size : 0)
    : (nextAvail - nextUsed + size) % size;
  const shown = Math.min(size, RING_VIEW_MAX);
  for (let i = 0; i < shown; i++) {
    const at = b.desc + PackedDesc.SIZE * i;
    if (!g.has(at, PackedDesc.SIZE)) break;
    const flags = g.u16(at + PackedDesc.FLAGS)!;
    const avail = (flags & PackedDescFlag.AVAIL) !== 0 ? 1 : 0;
    const used = (flags & PackedDescFlag.USED) !== 0 ? 1 : 0;
    const expected = i >= nextAvail ? availWrap : availWrap ^ 1;
    const owner: DescriptorOwner = (i - nextUsed + size) % size < held
      ? "device"
      : avail !== used && avail === expected
      ? "driver"
      : "free";
    const d: DescriptorView = {
      index: i,
      addr: g.u64(at + PackedDesc.ADDR)!,
      len: g.u32(at + PackedDesc.LEN)!,
      flags,
      flagNames: flagNames(flags, PACKED_FLAG_NAMES),
      next: null,
      id: g.u16(at + PackedDesc.ID)!,
      owner,
    };
    view.descriptors.push(d);
  }
  const put = (name: string, value: number | null) => {
    if (value !== null) events[name] = value;
  };
  put("driver_off_wrap", g.u16(b.driver + PackedEvent.OFF_WRAP));
  put("driver_flags", g.u16(b.driver + PackedEvent.FLAGS));
  put("device_off_wrap", g.u16(b.device + PackedEvent.OFF_WRAP));
  put("device_flags", g.u16(b.device + PackedEvent.FLAGS));
  return view;
}
