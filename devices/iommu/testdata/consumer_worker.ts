/**
 * A consumer on another thread, for threads_test.ts: an `IommuDma` over the vIOMMU buffer that
 * runs translation batches until told to stop, and reports through shared words only:
 *
 * `ctl` (Int32): [0] stop, [1] epoch written by the main thread (odd: the mapping's UNMAP has
 * completed, even: it may be mapped), [2] batches run, [3] successful translations, [4] successes
 * in a batch that observed an odd epoch (must stay 0), [5] done, [6] the epoch the last batch
 * observed.
 *
 * @module
 */

import { GuestMemory } from "../../memory/memory.ts";
import { IommuDma } from "../dma.ts";
import { Iotlb } from "../iotlb.ts";

/** The start message. */
export interface ConsumerJob {
  /** vIOMMU buffer. */
  viommu: SharedArrayBuffer;
  /** Guest memory buffer. */
  memory: SharedArrayBuffer;
  /** Consumer slot. */
  slot: number;
  /** Control words. */
  ctl: SharedArrayBuffer;
  /** The IOVA to read. */
  iova: number;
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<ConsumerJob>) => void) | null };

scope.onmessage = async (e: MessageEvent<ConsumerJob>) => {
  const job = e.data;
  const ctl = new Int32Array(job.ctl);
  const dma = new IommuDma(
    GuestMemory.fromBuffer(job.memory),
    new Iotlb(job.viommu, { slot: job.slot, endpoint: 0 }),
  );
  // Bounded: at most 2 million batches, and the main thread stops it much sooner.
  for (let batch = 0; batch < 2_000_000 && Atomics.load(ctl, 0) === 0; batch++) {
    dma.beginBatch();
    // An odd epoch: the UNMAP completed before this batch began, so it must not translate.
    const epoch = Atomics.load(ctl, 1);
    Atomics.store(ctl, 6, epoch);
    const gpa = dma.resolve(job.iova, 8, "read");
    if (gpa >= 0) {
      Atomics.add(ctl, 3, 1);
      if (epoch % 2 === 1) Atomics.add(ctl, 4, 1);
    }
    Atomics.add(ctl, 2, 1);
    if (batch % 256 === 255) await new Promise((r) => setTimeout(r, 0));
  }
  Atomics.store(ctl, 5, 1);
};
