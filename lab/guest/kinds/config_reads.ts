/**
 * How a guest kind answers a device's configuration interrupt: it reads the configuration (the
 * device status, a NIC's link) through the register mailbox, one read at a time. Interrupts that
 * come while a read is in flight coalesce into one more read after it, as Linux's config work
 * does, so a storm of changes costs a bounded number of register accesses; a read that fails (a
 * slow or restarted device worker) is reported and made again, never thrown at the worker.
 *
 * @module
 */

/**
 * Make the handler of a device's configuration interrupts: each call asks for a `read` (one at a
 * time, coalesced as the module says); a read that rejects is reported to `failed` with its
 * message and made again while `live()` holds (the guest's generation and the lab run).
 *
 * @example
 * ```ts
 * import { coalescedConfigReads } from "./config_reads.ts";
 * let reads = 0;
 * const refresh = coalescedConfigReads(async () => { reads++; }, (m) => console.error(m));
 * refresh();
 * refresh(); // coalesced into one more read once the first is over
 * ```
 */
export function coalescedConfigReads(
  read: () => Promise<void>,
  failed: (message: string) => void,
  live: () => boolean = () => true,
): () => void {
  let busy = false;
  let again = false;
  const refresh = (): void => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    again = false;
    read().catch((error) => {
      again = true;
      failed(error instanceof Error ? error.message : String(error));
    }).finally(() => {
      busy = false;
      if (again && live()) refresh();
    });
  };
  return refresh;
}
