/**
 * Test worker for `affinity_test.ts`: pins itself to the first allowed CPU, reads its CPUs back
 * from the kernel, widens again, spins 30 ms, and posts what it saw (and the CPU time it used) (its own thread only: the test's thread is
 * never pinned).
 *
 * @module
 */

import { threadAffinity } from "../affinity.ts";

const scope = self as unknown as { postMessage(m: unknown): void };

const first = threadAffinity();
if ("reason" in first) {
  scope.postMessage({ reason: first.reason });
} else {
  const cpu = first.allowed[0];
  const pinned = first.pin(cpu);
  const narrowed = threadAffinity();
  const refused = first.pin(-1);
  const widened = first.pin(null);
  const after = threadAffinity();
  const cpu0 = first.cpuTimeUs();
  const until = performance.now() + 30;
  while (performance.now() < until) {
    // 30 ms of CPU on this thread
  }
  const cpuUsed = first.cpuTimeUs() - cpu0;
  scope.postMessage({
    cpuUsed,
    allowed: first.allowed,
    pinned,
    refused,
    narrowedTo: "allowed" in narrowed ? narrowed.allowed : null,
    widened,
    widenedTo: "allowed" in after ? after.allowed : null,
  });
}
