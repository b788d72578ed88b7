/**
 * The control server's captures: `GET /capture?link=NAME` streams a pcap, and each capture gets
 * an id (the `vlab-capture-id` header) under which `GET /captures/ID` answers its counts and
 * `DELETE /captures/ID` ends it and answers its final counts.
 *
 * The counts cannot travel in the stream: it is a pcap file that `tshark -r -` reads, with no
 * place for a trailer. So `vlab capture`, like tcpdump's "packets dropped by kernel", asks for
 * them when it ends: on Ctrl-C or `--duration` it sends the `DELETE` (the lab hands the last
 * frames over, closes the stream, and answers), and prints the counts on stderr. `dropped` is
 * what the link's taps dropped while the capture ran (its reader was too slow; the link lost
 * nothing): every capture of a link gets every frame its taps keep, so a tap's drop is a drop of
 * each capture running then. The counts of an ended capture stay answerable for a while (the
 * last {@linkcode KEPT_CAPTURES}).
 *
 * Runs on the main thread, inside the control server's handler.
 *
 * @module
 */

import { PcapRecordCounter } from "./capture.ts";
import { captureHeader } from "./link_control.ts";
import type { Lab } from "./lab.ts";
import { fail, quoteForLine, ringLinkRefusal } from "./server_answers.ts";

/** Ended captures whose counts stay answerable. */
export const KEPT_CAPTURES = 64;

/**
 * Bytes of records the lab holds for one capture whose reader does not keep up (a paused
 * `tshark`, a stopped `vlab capture`, a pipe nobody reads), 32 MiB: about a second of a 64-byte
 * UDP flood, or a quarter of one of a vsock stream. Past it the lab drops what it drained for
 * that capture (counted in its `dropped`) instead of holding every frame in its memory until it
 * runs out; the link and the other captures lose nothing.
 */
export const CAPTURE_QUEUE_BYTES = 32 * 1024 * 1024;

/** What `GET /captures/ID` and `DELETE /captures/ID` answer. */
export interface CaptureCounts {
  /** The capture's id (the `vlab-capture-id` header of its stream). */
  id: number;
  /** The link captured. */
  link: string;
  /** Frames sent to this capture. */
  captured: number;
  /**
   * Frames this capture lost because its reader was too slow: those the link's taps dropped
   * while it ran, and those the lab could not hold for it (past {@linkcode CAPTURE_QUEUE_BYTES}).
   */
  dropped: number;
  /** False once the capture has ended (its counts are final). */
  running: boolean;
}

interface Entry {
  counts: CaptureCounts;
  /** The taps' drop count when the capture began. */
  droppedAtStart: number;
  /** Frames dropped because this capture's queue was full (its reader fell behind). */
  queueDropped: number;
  /** Ends the capture (idempotent); null once ended. */
  end: (() => void) | null;
}

/** The captures of one lab's control server, by id. */
const registries = new WeakMap<Lab, { next: number; entries: Map<number, Entry> }>();

function registryOf(lab: Lab): { next: number; entries: Map<number, Entry> } {
  let r = registries.get(lab);
  if (!r) {
    r = { next: 1, entries: new Map() };
    registries.set(lab, r);
  }
  return r;
}

/** Frames the capture taps of `link` (both directions) have dropped since the lab started. */
function tapDropped(lab: Lab, link: string): number {
  const l = lab.plan.links.find((x) => x.name === link);
  if (!l) return 0;
  return lab.tapCounters(l.forwardRing).tapDropped + lab.tapCounters(l.reverseRing).tapDropped;
}

function refresh(lab: Lab, entry: Entry): CaptureCounts {
  if (entry.end !== null) {
    entry.counts.dropped = tapDropped(lab, entry.counts.link) - entry.droppedAtStart +
      entry.queueDropped;
  }
  return { ...entry.counts };
}

/**
 * `GET /capture?link=NAME`: a live pcap stream of both directions of the link, with its id in
 * the `vlab-capture-id` header. The lab holds at most `queueBytes` of records its reader has not
 * taken yet (default {@linkcode CAPTURE_QUEUE_BYTES}); what it drains beyond is dropped and counted.
 *
 * @example
 * ```ts ignore
 * import { captureStream } from "./server_capture.ts";
 * const res = captureStream(lab, new URLSearchParams("link=a-b"), req.signal);
 * res.headers.get("vlab-capture-id"); // "1"
 * ```
 */
export function captureStream(
  lab: Lab,
  params: URLSearchParams,
  signal: AbortSignal,
  queueBytes: number = CAPTURE_QUEUE_BYTES,
): Response {
  const link = params.get("link");
  if (!link) return noLinkParameter();
  const refused = ringLinkRefusal(lab, link, "capture");
  if (refused !== null) return refused;
  const registry = registryOf(lab);
  const id = registry.next++;
  const counter = new PcapRecordCounter(0);
  const entry: Entry = {
    counts: { id, link, captured: 0, dropped: 0, running: true },
    droppedAtStart: tapDropped(lab, link),
    queueDropped: 0,
    end: null,
  };
  registry.entries.set(id, entry);
  let stop: (() => void) | null = null;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(captureHeader(lab.plan, link));
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        stop?.(); // the last frames first (the lab drains the taps once more)
        refresh(lab, entry);
        entry.counts.running = false;
        entry.end = null;
        forgetOld(registry.entries);
        try {
          controller.close();
        } catch {
          // Already closed.
        }
      };
      entry.end = end;
      stop = lab.capture(link, (records) => {
        // A reader that falls behind leaves its queue full: drop this batch (whole records, so
        // the stream stays a valid pcap) rather than hold every frame of the link in memory.
        if ((controller.desiredSize ?? 0) <= 0) {
          const lost = new PcapRecordCounter(0);
          lost.push(records);
          entry.queueDropped += lost.records;
          return;
        }
        counter.push(records);
        entry.counts.captured = counter.records;
        try {
          controller.enqueue(records);
        } catch {
          end();
        }
      }, { onEnd: end });
      signal.addEventListener("abort", end);
    },
    cancel() {
      entry.end?.();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: queueBytes }));
  return new Response(body, {
    headers: {
      "content-type": "application/vnd.tcpdump.pcap",
      "vlab-capture-id": String(id),
    },
  });
}

/**
 * `HEAD /capture?link=NAME`: the answer `GET` would give, without its stream, and without
 * starting a capture (so no `vlab-capture-id`: an id is a capture's, made when one starts).
 *
 * @example
 * ```ts ignore
 * import { captureHead } from "./server_capture.ts";
 * captureHead(lab, new URLSearchParams("link=a-b")).status; // 200
 * ```
 */
export function captureHead(lab: Lab, params: URLSearchParams): Response {
  const link = params.get("link");
  if (!link) return noLinkParameter();
  const refused = ringLinkRefusal(lab, link, "capture");
  if (refused !== null) return refused;
  return new Response(null, { headers: { "content-type": "application/vnd.tcpdump.pcap" } });
}

function noLinkParameter(): Response {
  return fail(
    400,
    "bad-request",
    "GET /capture needs the parameter link (the link to capture)",
    "For example /capture?link=a-b (vlab status lists the links)",
  );
}

/** Forget the oldest ended captures beyond {@linkcode KEPT_CAPTURES}. */
function forgetOld(entries: Map<number, Entry>): void {
  let ended = [...entries.values()].filter((e) => !e.counts.running).length;
  for (const [id, e] of entries) {
    if (ended <= KEPT_CAPTURES) break;
    if (!e.counts.running) {
      entries.delete(id);
      ended--;
    }
  }
}

/**
 * `GET /captures/ID` (the counts so far) and `DELETE /captures/ID` (end the capture: its stream
 * gets the last frames and closes; the answer is its final counts, also for one already ended).
 *
 * @example
 * ```ts ignore
 * import { captureCountsRoute } from "./server_capture.ts";
 * const res = captureCountsRoute(lab, "1", "DELETE");
 * (await res.json()).dropped; // 0
 * ```
 */
export function captureCountsRoute(lab: Lab, rawId: string, method: "GET" | "DELETE"): Response {
  const entry = /^[1-9]\d{0,15}$/.test(rawId)
    ? registryOf(lab).entries.get(Number(rawId))
    : undefined;
  if (entry === undefined) {
    return fail(
      404,
      "unknown-capture",
      `The lab has no capture ${quoteForLine(rawId)}`,
      "A capture's id is the vlab-capture-id header of its GET /capture answer; " +
        `the counts of the last ${KEPT_CAPTURES} ended captures are kept`,
    );
  }
  if (method === "DELETE") entry.end?.();
  return Response.json(refresh(lab, entry));
}
