/**
 * The worker of the bare link-ring benchmark: the limit of this runtime for moving frames
 * between two threads. The producer copies a frame of the given size into the ring slot by
 * slot, publishing once per batch of 32 (as a device worker publishes once per pump); the
 * consumer reads each frame's first and last bytes, copies it out (as a device copies it into
 * an RX buffer) and releases. Both sides busy-poll, with no doorbell: no lab can be faster.
 *
 * @module
 */

import { LinkRing } from "../host/link_ring.ts";

/** Start message. */
export interface LinkWorkerStart {
  /** Which side. */
  role: "producer" | "consumer";
  /** The ring. */
  ring: SharedArrayBuffer;
  /** Frame size in bytes. */
  frameSize: number;
  /** How long the producer runs, ms. */
  ms: number;
  /** A flag word the producer sets when done (the consumer drains and stops). */
  done: SharedArrayBuffer;
}

/** What a side reports. */
export interface LinkWorkerResult {
  /** Frames moved. */
  frames: number;
  /** Seconds it ran. */
  seconds: number;
}

const scope = self as unknown as {
  postMessage(m: LinkWorkerResult): void;
  onmessage: ((e: MessageEvent<LinkWorkerStart>) => void) | null;
};

scope.onmessage = (e) => {
  const { role, frameSize, ms } = e.data;
  const attached = LinkRing.attach(e.data.ring);
  if (!attached.ok) throw new Error("bad ring");
  const ring = attached.value;
  const done = new Int32Array(e.data.done);
  const frame = new Uint8Array(frameSize).fill(0x5a);
  const scratch = new Uint8Array(frameSize);
  const t0 = performance.now();
  let frames = 0;
  if (role === "producer") {
    const end = t0 + ms;
    let checks = 0;
    while ((checks++ & 63) !== 0 || performance.now() < end) {
      let n = 0;
      for (; n < 32; n++) {
        const slot = ring.reserve(frameSize);
        if (slot === null) break;
        slot.set(frame);
        ring.commit(frameSize);
      }
      if (n > 0) ring.publish();
      frames += n;
    }
    Atomics.store(done, 0, 1);
  } else {
    for (;;) {
      let f = ring.peek();
      if (f === null) {
        if (Atomics.load(done, 0) === 1 && (f = ring.peek()) === null) break;
        continue;
      }
      let n = 0;
      while (f !== null && n < 32) {
        scratch.set(f);
        ring.release();
        n++;
        f = n < 32 ? ring.peek() : null;
      }
      ring.finishConsume();
      frames += n;
    }
  }
  scope.postMessage({ frames, seconds: (performance.now() - t0) / 1000 });
};
