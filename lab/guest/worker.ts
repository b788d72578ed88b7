/**
 * The guest worker: the "vCPU" of one VM. It runs, on its own thread:
 *
 * 1. the virtio-net drivers, which probe their devices, negotiate features, set up their queues
 *    and reach DRIVER_OK through trapped register accesses (the mailbox in the control block),
 *    exactly as a driver does over virtio-mmio;
 * 2. the guest network stack (Ethernet, ARP, IPv4, ICMP, UDP) over those drivers;
 * 3. the workloads the main thread asks for (`exec`), whose results go back by message.
 *
 * The data path never leaves shared memory: frames go through the virtqueues in guest memory;
 * kicks and interrupts are doorbell rings. Messages carry only control (start, exec, inspect).
 *
 * @module
 */

import { GuestMemory, PAGE_SIZE, PageAllocator } from "../../devices/memory/mod.ts";
import { Feature } from "../../devices/virtio/constants.ts";
import { featureSet, hasFeature } from "../../devices/virtio/features.ts";
import { InterruptBit, kickQueue, MmioReg, RegFileWord } from "../../devices/virtio/mmio.ts";
import { initDevice } from "../../devices/virtio/mmio_driver.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { DEFAULT_MTU, driverLinkUp, driverMtu, NetFeature } from "../../devices/net/config.ts";
import { indirectEntriesFor, NetDriver } from "../../devices/net/driver.ts";
import { controlLayout, nicControl, threadStats } from "../wire/control.ts";
import {
  DOORBELL_STRIDE,
  DoorbellWord,
  ringDoorbell,
  setThreadState,
  ThreadState,
} from "../wire/doorbell.ts";
import { macrotask, runLoop } from "../wire/loop.ts";
import { MailboxPort } from "../wire/mailbox.ts";
import type { VmStart, WorkerNic } from "../wire/messages.ts";
import { onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { type NetInterface, NetStack } from "./net/stack.ts";
import { flatCounters } from "./net/counters.ts";
import { parseIpv4Address } from "./net/ipv4.ts";
import { parseWorkload, runWorkload } from "./workloads/mod.ts";

/** The features a vlab guest driver supports; the device's offer decides the rest. */
const DRIVER_FEATURES = featureSet([
  Feature.VERSION_1,
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  Feature.IN_ORDER,
  NetFeature.MAC,
  NetFeature.MTU,
  NetFeature.STATUS,
  NetFeature.MRG_RXBUF,
]);

/** One NIC as the guest sees it. */
class GuestNic implements NetInterface {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly ip: number | null;
  readonly prefix: number | null;
  readonly mtu: number;
  up = true;
  /** VIRTIO_NET_F_STATUS negotiated: the config `status` field says whether the link is up. */
  statusField = true;
  /** A config-space read is in flight (one at a time per device). */
  configBusy = false;
  /** Another configuration interrupt came while one was being handled: read again after it. */
  configAgain = false;
  constructor(
    spec: WorkerNic,
    readonly driver: NetDriver,
    readonly regs: Int32Array,
    readonly port: MailboxPort,
    readonly wake: () => void,
  ) {
    this.name = spec.name;
    this.mac = Uint8Array.from(spec.mac.split(":").map((h) => parseInt(h, 16)));
    this.ip = spec.ip === null ? null : parseIpv4Address(spec.ip);
    this.prefix = spec.prefix;
    this.mtu = driver.mtu;
  }
  linkUp(): boolean {
    return this.up;
  }
  sendWith(len: number, fill: (buf: Uint8Array) => void): boolean {
    const sent = this.driver.sendWith(len, fill) ||
      (this.driver.reclaimTx() > 0 && this.driver.sendWith(len, fill));
    // A workload may run while the loop waits on its doorbell: wake it to publish the frame.
    if (sent) this.wake();
    return sent;
  }
}

/** The link state: config `status` bit 0, or always up without VIRTIO_NET_F_STATUS (§5.1.4). */
async function readLinkUp(nic: GuestNic): Promise<boolean> {
  if (!nic.statusField) return driverLinkUp(false, 0);
  return driverLinkUp(true, await nic.port.read(MmioReg.CONFIG + 6, 2));
}

/**
 * The guest's clock. `performance.now()` (clock_gettime) was the top symbol of a flood's
 * profile, and a flood reads the clock several times per frame, so the value is cached and re-read every 32 calls, at the start of
 * every loop pass, and whenever a workload resumes from a sleep or a yield. Staleness is
 * bounded by 32 reads or one pass.
 */
class GuestClock {
  #t = performance.now();
  #n = 0;
  now(): number {
    if ((++this.#n & 31) === 0) this.#t = performance.now();
    return this.#t;
  }
  refresh(): void {
    this.#t = performance.now();
    this.#n = 0;
  }
}

async function start(msg: VmStart): Promise<void> {
  const mem = GuestMemory.fromBuffer(msg.memory);
  // Page 0 stays unused so that GPA 0 is never a valid buffer.
  const alloc = new PageAllocator(PAGE_SIZE, mem.size - PAGE_SIZE);
  const bells = new Int32Array(msg.doorbells);
  const layout = controlLayout(msg.nics);
  const ring = new SharedRingAccess(mem);
  const sleepingWord = msg.thread * DOORBELL_STRIDE + DoorbellWord.SLEEPING;
  const wakeSelf = () => {
    if (Atomics.load(bells, sleepingWord) !== 0) ringDoorbell(bells, msg.thread);
  };
  const nics: GuestNic[] = [];
  for (const spec of msg.nics) {
    const ctl = nicControl(msg.control, layout, spec.index);
    const port = new MailboxPort(ctl.mailbox, bells, msg.deviceThread);
    const init = await initDevice(port, {
      deviceId: 1,
      supported: DRIVER_FEATURES,
      queues: [{ size: spec.queueSize }, { size: spec.queueSize }],
      mem,
      alloc,
      ring,
      // Tables for the longest chain the driver builds at this MTU (the device reports it too).
      indirectEntries: indirectEntriesFor(spec.mtu),
    });
    if (!init.ok) {
      throw new Error(`Cannot start the driver of ${msg.vm}:${spec.name}: ${init.error.kind}`);
    }
    const [rx, tx] = init.value.queues;
    const negotiated = init.value.negotiated;
    // The MTU is the device's config field when VIRTIO_NET_F_MTU is negotiated (§5.1.4).
    const hasMtu = hasFeature(negotiated, NetFeature.MTU);
    const configMtu = hasMtu ? await port.read(MmioReg.CONFIG + 10, 2) : DEFAULT_MTU;
    const driver = new NetDriver({
      mem,
      alloc,
      rx,
      tx,
      negotiated,
      mtu: driverMtu(hasMtu, configMtu),
      counters: ctl.driverCounters,
    });
    const nic = new GuestNic(spec, driver, ctl.regs, port, wakeSelf);
    nic.statusField = hasFeature(negotiated, NetFeature.STATUS);
    nic.up = await readLinkUp(nic);
    nics.push(nic);
  }
  const clock = new GuestClock();
  const stack = new NetStack({
    interfaces: nics,
    clock,
    seed: msg.seed,
  });
  const stats = new StatsWriter(
    threadStats(msg.control, layout, "guest"),
    (names) => post({ type: "stats-names", names }),
  );

  /** Move every NIC's work forward; true if anything happened. */
  const pump = (): boolean => {
    clock.refresh();
    let work = false;
    for (let i = 0; i < nics.length; i++) {
      const nic = nics[i];
      const isr = Atomics.exchange(nic.regs, RegFileWord.INTERRUPT_STATUS, 0);
      if (isr & InterruptBit.CONFIG) refreshConfig(nic, i);
      const received = nic.driver.receive((frame) => stack.input(i, frame), 64);
      const reclaimed = nic.driver.reclaimTx();
      if (reclaimed > 0) stack.onWritable(i);
      nic.driver.fillRx();
      const kick = nic.driver.flush();
      if (kick.kickRx) kickQueue(nic.regs, 0);
      if (kick.kickTx) kickQueue(nic.regs, 1);
      if (kick.kickRx || kick.kickTx) ringDoorbell(bells, msg.deviceThread);
      if (received > 0 || reclaimed > 0 || isr !== 0) work = true;
    }
    return work;
  };

  /**
   * Handle a configuration interrupt: read the device status and link status through the
   * mailbox. Interrupts that come while a read is in flight coalesce into one more read after it
   * (as Linux's config work does), so a storm of link changes costs a bounded number of register
   * accesses; a read that fails (a slow or restarted device worker) is reported and retried,
   * never thrown at the worker.
   */
  const refreshConfig = (nic: GuestNic, index: number): void => {
    if (nic.configBusy) {
      nic.configAgain = true;
      return;
    }
    nic.configBusy = true;
    nic.configAgain = false;
    readConfig(nic, index).catch((error) => {
      nic.configAgain = true;
      post({
        type: "event",
        kind: "config-read-failed",
        detail: { nic: nic.name, message: error instanceof Error ? error.message : String(error) },
      });
    }).finally(() => {
      nic.configBusy = false;
      if (nic.configAgain) refreshConfig(nic, index);
    });
  };

  const readConfig = async (nic: GuestNic, index: number) => {
    const status = await nic.port.read(MmioReg.STATUS);
    if (status & 0x40) {
      post({ type: "event", kind: "device-needs-reset", detail: { nic: nic.name } });
      return;
    }
    const up = await readLinkUp(nic);
    if (up !== nic.up) {
      nic.up = up;
      post({ type: "event", kind: up ? "link-up" : "link-down", detail: { nic: nic.name, index } });
    }
  };

  const jobs = new Map<number, AbortController>();
  onControl((m) => {
    if (m.type === "exec") {
      clock.refresh();
      const parsed = parseWorkload(m.argv);
      if (!parsed.ok) {
        post({ type: "exec-result", id: m.id, ok: false, ...parsed.error });
        return;
      }
      const abort = new AbortController();
      jobs.set(m.id, abort);
      // Through a promise, so that a workload that throws at once still answers its request.
      Promise.resolve().then(() =>
        runWorkload(stack, parsed.value, {
          signal: abort.signal,
          clock,
          yield: () => macrotask().then(() => clock.refresh()),
          sleep: (ms: number) =>
            new Promise<void>((r) => setTimeout(r, ms)).then(() => clock.refresh()),
        })
      ).then(
        (result) =>
          post(
            result.kind === "error"
              ? {
                type: "exec-result",
                id: m.id,
                ok: false,
                message: result.message,
                hint: result.hint,
              }
              : { type: "exec-result", id: m.id, ok: true, result },
          ),
        (error) =>
          post({
            type: "exec-result",
            id: m.id,
            ok: false,
            message: `Workload failed: ${error instanceof Error ? error.message : String(error)}`,
            hint: "See the lab's event log for the VM's errors",
          }),
      ).finally(() => jobs.delete(m.id));
    } else if (m.type === "cancel") {
      jobs.get(m.id)?.abort();
    } else if (m.type === "inspect") {
      post({
        type: "inspect-result",
        id: m.id,
        info: {
          nics: nics.map((n) => ({
            name: n.name,
            linkUp: n.up,
            fault: n.driver.fault,
            registerAccessesPending: n.port.pending,
          })),
          arp: stack.arpRows(),
        },
      });
    }
  });

  // Running before "ready": the supervisor reads the state word as soon as it hears.
  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  await runLoop({ bells, thread: msg.thread, pollUs: msg.pollUs }, {
    pump,
    prepareSleep: () => {
      let pending = false;
      for (const nic of nics) if (nic.driver.enableInterrupts()) pending = true;
      return pending;
    },
    nextTimerMs: () => stack.tick(),
    periodic: () => {
      stats.setAll("stack_", flatCounters(stack.counters));
      stats.flush();
    },
  });
}

runWorker<VmStart>(start);
