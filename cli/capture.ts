/**
 * `vlab capture LINK`: streams the lab's pcap of a link to stdout or a file, and, when it ends,
 * says on stderr how many frames it captured and how many the capture dropped, as tcpdump's
 * "N packets captured … N packets dropped by kernel" does. stdout carries the pcap alone, so
 * `vlab capture a-b | tshark -r -` reads it.
 *
 * The counts: frames captured are the pcap records this command wrote; frames dropped come from
 * the lab (`lab/server_capture.ts`): on Ctrl-C or `--duration` the command ends the capture with
 * `DELETE /captures/ID`, whose answer is its final counts, and then writes the last frames the
 * lab sends before it closes the stream. A capture the lab ended (it stopped) asks for its counts
 * once; a lab already gone cannot say, and the line says so. Ctrl-C before the lab answered the
 * request that starts the capture gives the request up (the lab ends the capture with its
 * connection): zero frames, nothing written.
 *
 * `--duration S` counts from the command's start, as `timeout S tcpdump …` and tshark's
 * `-a duration:S` do, not from the lab's answer: a lab that has not answered the request when
 * it ends (hung, very busy, frozen) fails the command with one line (`control-error`), nothing
 * written.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { PcapRecordCounter, WholeRecords } from "../lab/capture.ts";
import { controlFetch, resolveLab, unknownLinkError } from "../lab/client.ts";
import { startAgain } from "../lab/start_again.ts";
import { LabError } from "../lab/errors.ts";
import { processState } from "../lab/proc.ts";
import { Pcap } from "../lab/host/pcap.ts";
import { OutputError } from "./errors.ts";
import type { LabRecord } from "../lab/state.ts";
import {
  captureSinkError,
  checkCaptureSink,
  keepWholeRecords,
  MAX_CAPTURE_SECONDS,
  openCaptureSink,
} from "./capture_sink.ts";
import { intOption, secondsOption } from "./int_option.ts";
import { writeAll } from "./progress.ts";
import { count } from "../devices/base/plural.ts";
import { quote } from "../devices/base/quote.ts";
import { onInterrupt } from "./interrupt.ts";

/** The largest `capture -c` (tcpdump's `-c` is an int too). */
const MAX_CAPTURE_COUNT = 0xffff_ffff;

/** How long the command waits for the lab's last frames after it ended the capture, ms. */
const LAST_FRAMES_MS = 2000;

/**
 * The line `vlab capture` prints on stderr when it ends: frames captured, and frames dropped
 * (null: the lab could not say, it stopped first); a vsock link's are packets, as in `vlab status`.
 * `unwritten` counts frames the lab sent that never reached the output (its reader stopped
 * reading, and the command gave their writes up at the end): lost to the file, not to the link.
 * `unknownWhy` says why the drops are not known (the lab stopped, or is frozen).
 *
 * @example
 * ```ts
 * import { captureSummary } from "./capture.ts";
 * captureSummary(120, 0); // "120 frames captured, 0 dropped"
 * captureSummary(1, 3);
 * // "1 frame captured, 3 dropped (the capture could not keep up; the link lost nothing)"
 * captureSummary(2, 0, "packet"); // "2 packets captured, 0 dropped" (a vsock link, as vlab status)
 * captureSummary(5, 0, "frame", 7);
 * // "5 frames captured, 0 dropped, 7 not written (the reader stopped reading; given up at the end)"
 * ```
 */
export function captureSummary(
  captured: number,
  dropped: number | null,
  unit: "frame" | "packet" = "frame",
  unwritten = 0,
  unknownWhy = "the lab could not be asked: it stopped",
): string {
  const head = `${count(captured, unit)} captured`;
  if (unwritten > 0) {
    return `${captureSummary(captured, dropped, unit, 0, unknownWhy)}, ${unwritten} not written ` +
      "(the reader stopped reading; given up at the end)";
  }
  if (dropped === null) return `${head}, dropped not known (${unknownWhy})`;
  if (dropped === 0) return `${head}, 0 dropped`;
  return `${head}, ${dropped} dropped (the capture could not keep up; the link lost nothing)`;
}

/** The `capture` command. */
export function captureCommand(): Command<[string]> {
  return new Command("capture")
    .description("capture a link's frames (both directions) as pcap, live")
    .argument("<link>", "the link")
    .option("-w, --write <file>", "write the pcap to FILE ('-' = stdout, the default)", "-")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .option("--duration <seconds>", "stop after this many seconds (default: until Ctrl-C)")
    .option("-c, --count <n>", "stop after N frames (packets, on a vsock link), as tcpdump -c")
    .addHelpText(
      "after",
      "\nWhen it ends it prints on stderr the frames captured and dropped.\n" +
        "\nExample:\n  vlab capture a-b -w - | tshark -r -\n",
    )
    .action(async (link, opts) => {
      // Options first: a bad one is a usage error whether or not a lab runs.
      // A timer longer than 2^31 ms fires at once, so durations are bounded (a week).
      const seconds = opts.duration === undefined
        ? Infinity
        : secondsOption("--duration", opts.duration, 0.001, MAX_CAPTURE_SECONDS, "5");
      const limit = opts.count === undefined
        ? Infinity
        : intOption("--count", opts.count, 1, MAX_CAPTURE_COUNT, "10");
      const abort = new AbortController();
      // Ending: before the lab answered the start request, the request is aborted (a lab that
      // holds it cannot make the command ignore a signal; the lab ends a capture whose connection
      // dropped); after, ask the lab to end the capture (its answer is the final counts, and the
      // stream gets the last frames, then closes); a lab that does not answer is cut off.
      let started: { record: LabRecord; id: string | null } | null = null;
      let ending: Promise<LabCounts | null> | null = null;
      let lastFrames: ReturnType<typeof setTimeout> | undefined;
      // `--duration` ended before the lab answered the request that starts the capture.
      let unanswered = false;
      const stop = () => {
        if (ending !== null) return;
        if (started === null) {
          ending = Promise.resolve(null);
          abort.abort();
          return;
        }
        const { record, id } = started;
        ending = id === null ? Promise.resolve(null) : countsOf(record, id, "DELETE");
        ending.then((counts) => {
          if (counts === null) abort.abort();
          else lastFrames = setTimeout(() => abort.abort(), LAST_FRAMES_MS);
        });
      };
      // Listening before anything is asked of the lab, as the other commands do: a signal while
      // the lab was asked to start the capture met no listener and ended the process with 143,
      // without the summary. Now Ctrl-C or SIGTERM then ends it as any Ctrl-C ends a capture
      // (exit 0, the summary); so does one as soon as the file exists (a pcap of the frames so
      // far): in between, it left an empty file, no pcap for tshark, and no summary.
      const offSignals = onInterrupt(stop);
      // The duration counts from here, the command's start, not from the lab's answer.
      const timer = Number.isFinite(seconds)
        ? setTimeout(() => {
          unanswered = started === null;
          stop();
        }, seconds * 1000)
        : undefined;
      const off = () => {
        offSignals();
        clearTimeout(timer);
      };
      // Interrupted (or out of time) before the lab started the capture: none ran, nothing was
      // written.
      const notStarted = () => {
        off();
        if (unanswered) throw notAnsweredInTime(record, link, seconds);
        console.error(
          `${captureSummary(0, 0)} (interrupted before the capture began: nothing written)`,
        );
      };
      let record: LabRecord;
      try {
        await checkCaptureSink(opts.write);
        record = await resolveLab(opts.lab);
        // "" is no link's name (the lab reads `link=` as no link given at all).
        if (link === "") throw await unknownLinkError(record, link);
      } catch (e) {
        off();
        throw e;
      }
      if (abort.signal.aborted) return notStarted();
      let answer: Awaited<ReturnType<typeof controlFetch>>;
      try {
        answer = await controlFetch(
          record,
          `/capture?link=${encodeURIComponent(link)}`,
          { signal: abort.signal },
        );
      } catch (e) {
        // Aborted by the signal (whatever else failed meanwhile): the capture did not start.
        if (abort.signal.aborted) return notStarted();
        off();
        throw e;
      }
      const { res, client } = answer;
      if (abort.signal.aborted) {
        // The answer came with the signal: the capture it started ends with its connection.
        client.close();
        await res.body?.cancel().catch(() => {});
        return notStarted();
      }
      const id = res.headers.get("vlab-capture-id");
      started = { record, id };
      if (!res.ok) {
        const e = (await res.json().catch(() => null))?.error;
        off();
        client.close();
        throw new LabError(
          e?.code === "vhost-pci-link" ? "vhost-pci-link" : "unknown-link",
          e?.message ?? `capture failed (${res.status})`,
          e?.hint ?? "See the lab's links with `vlab status`",
        );
      }
      let sink: Deno.FsFile | typeof Deno.stdout;
      try {
        sink = await openCaptureSink(opts.write);
      } catch (e) {
        off();
        // A Ctrl-C meanwhile asked the lab to end the capture: its last-frames timer is not
        // left to hold the process after the error (5 s).
        void (ending as Promise<unknown> | null)?.then(() => clearTimeout(lastFrames));
        clearTimeout(lastFrames);
        client.close();
        await res.body?.cancel();
        throw e;
      }
      // Only whole records reach the sink: a stream cut in the middle of one (the lab's process
      // died, or the last frames did not come in time) leaves a pcap that ends on a record's end.
      // A regular file takes every write at once (sync); a pipe may stop taking them (its reader
      // paused), so it gets async writes that Ctrl-C can give up. (Writes of at most PIPE_BUF,
      // which a pipe takes all or nothing, would never tear the record given up, but cost a
      // 64-byte flood a third of its rate on two cores: one write every 50 records.)
      const toFile = isRegularFile(opts.write);
      const whole = new WholeRecords(limit);
      const written = new PcapRecordCounter();
      const givenUp = new Promise<null>((done) =>
        abort.signal.addEventListener("abort", () => done(null), { once: true })
      );
      let header: number[] = []; // the global header's bytes: its link type names the unit
      const unit = () =>
        header.length === 24 &&
          new DataView(new Uint8Array(header).buffer).getUint32(20, true) === Pcap.linkTypeVsock
          ? "packet"
          : "frame";
      let broken: unknown = null;
      let givenUpWrite: { pending: Promise<void> } | null = null;
      let fileBytes = 0; // of the file's whole records (and its global header), written
      const ownFile = toFile && sink !== Deno.stdout ? sink as Deno.FsFile : null;
      try {
        for await (const chunk of res.body!) {
          if (header.length < 24) header = [...header, ...chunk.subarray(0, 24 - header.length)];
          if (toFile) {
            for (const part of whole.push(chunk)) {
              writeAll(sink, part);
              fileBytes += part.length;
              written.push(part);
            }
          } else {
            for (const piece of whole.push(chunk)) {
              if (abort.signal.aborted) break; // given up: no new write
              givenUpWrite = await writeUntil(sink, piece, givenUp, (b) => written.push(b));
            }
          }
          // `-c N` reached: end the capture; what the lab still sends is left out.
          if (whole.full) stop();
        }
      } catch (e) {
        if (e instanceof OutputError) {
          // A disk that filled (or a file size limit) in the middle of a record: the file
          // keeps its whole records, a valid pcap, as after Ctrl-C.
          if (ownFile !== null) keepWholeRecords(ownFile, fileBytes);
          throw captureSinkError(
            opts.write,
            e,
            ownFile === null ? undefined : {
              kept: written.complete,
              unit: unit(),
            },
          );
        }
        if (!abort.signal.aborted) broken = e;
      } finally {
        clearTimeout(timer);
        off();
        try {
          if (sink !== Deno.stdout) (sink as Deno.FsFile).close();
        } catch {
          // A write given up is still pending on it; the process's exit closes it.
        }
        client.close();
      }
      clearTimeout(lastFrames);
      // A write given up that its reader takes now still counts (a moment, then it is lost).
      if (givenUpWrite !== null) {
        await Promise.race([givenUpWrite.pending, new Promise((r) => setTimeout(r, 50))]);
      }
      if (broken !== null) {
        // The stream broke without its end: the lab cannot say what it dropped.
        console.error(captureSummary(written.complete, null, unit()));
        throw await streamBroken(record, broken);
      }
      // The stream ended by itself: the lab stopped (or ended the capture); ask once.
      const counts = await (ending ??
        (id === null ? Promise.resolve(null) : countsOf(record, id, "GET")));
      // What the lab sent that the output never took (a reader that stopped, given up at the end);
      // past `-c N`, frames are left out by request.
      const unwritten = counts === null || whole.full
        ? 0
        : Math.max(0, counts.captured - written.complete);
      // A lab frozen with kill -STOP did not stop: it could not answer.
      const why = counts === null && processState(record.pid) === "stopped"
        ? `the lab did not answer: its process ${record.pid} got SIGSTOP (kill -CONT ${record.pid})`
        : undefined;
      console.error(
        captureSummary(written.complete, counts?.dropped ?? null, unit(), unwritten, why),
      );
    });
}

/**
 * Write `bytes` whole, asynchronously: a reader that stops reading (a paused `tshark`, a pager)
 * then blocks this write, not the process, so Ctrl-C still ends the capture. Once `givenUp`
 * resolves (the lab's last frames did not all get through in time) the write is given up: it
 * returns at once, and the bytes it had not written yet stay unwritten. `written` sees each
 * run of bytes written.
 */
async function writeUntil(
  sink: Deno.FsFile | typeof Deno.stdout,
  bytes: Uint8Array,
  givenUp: Promise<null>,
  written: (bytes: Uint8Array) => void,
): Promise<{ pending: Promise<void> } | null> {
  for (let at = 0; at < bytes.length;) {
    const piece = bytes.subarray(at);
    const write = sink.write(piece).catch((e) => {
      throw new OutputError(sink === Deno.stdout ? "stdout" : "the output", e);
    });
    const n = await Promise.race([write, givenUp]);
    // Given up: the write may still complete (its reader came back); the caller counts it then.
    if (n === null) return { pending: write.then((n) => written(piece.subarray(0, n)), () => {}) };
    written(bytes.subarray(at, at + n));
    at += n;
  }
  return null;
}

/** Whether the capture's sink (`-` for stdout) is a regular file, whose writes never wait long. */
function isRegularFile(path: string): boolean {
  try {
    return Deno.statSync(path === "-" ? "/dev/stdout" : path).isFile;
  } catch {
    return false;
  }
}

/**
 * The error of a capture whose `--duration` of `seconds` ended before the lab answered the
 * request that starts it: the lab is frozen (SIGSTOP), gone, or hung or very busy.
 */
function notAnsweredInTime(record: LabRecord, link: string, seconds: number): LabError {
  const at = `Cannot capture link ${quote(link)}: its ${seconds} s of --duration ended before lab ${
    quote(record.name)
  } answered the request that starts it`;
  const state = processState(record.pid);
  if (state === "stopped") {
    return new LabError(
      "control-error",
      `${at} (its process ${record.pid} got SIGSTOP)`,
      `Resume it with \`kill -CONT ${record.pid}\`; nothing was written`,
    );
  }
  if (state === "gone" || state === "zombie") {
    return new LabError(
      "no-lab",
      `${at} (its process is gone)`,
      `Start it again with ${startAgain(record)}; nothing was written`,
    );
  }
  return new LabError(
    "control-error",
    at,
    `Nothing was written. Its process ${record.pid} runs: a longer --duration, or, if it does ` +
      `not answer at all (hung), \`vlab down ${record.name}\``,
  );
}

/** The error of a capture whose stream broke: the lab's process died, or its connection did. */
async function streamBroken(record: LabRecord, e: unknown): Promise<LabError> {
  // A dying process closes its sockets before it is a zombie: give it a moment to be one.
  const dead = () => ["gone", "zombie"].includes(processState(record.pid));
  for (let i = 0; i < 25 && !dead(); i++) await new Promise((r) => setTimeout(r, 20));
  const gone = dead();
  const why = e instanceof Error ? e.message : String(e);
  return new LabError(
    gone ? "no-lab" : "control-error",
    gone
      ? `Lab "${record.name}" stopped in the middle of the capture: its process is gone`
      : `Lab "${record.name}" broke off the capture's stream: ${why}`,
    "What was written is a valid pcap up to its last whole frame; " +
      (gone ? `start the lab again with ${startAgain(record)}` : "capture again"),
  );
}

/** What the lab counted of a capture: the frames it sent to it, and those it dropped. */
interface LabCounts {
  captured: number;
  dropped: number;
}

/** The lab's counts of its capture `id`, from `/captures/ID`; null when the lab cannot say. */
async function countsOf(
  record: LabRecord,
  id: string,
  method: "GET" | "DELETE",
): Promise<LabCounts | null> {
  try {
    const { res, client } = await controlFetch(
      record,
      `/captures/${encodeURIComponent(id)}`,
      { method, signal: AbortSignal.timeout(LAST_FRAMES_MS) },
    );
    const body = await res.json().catch(() => null);
    client.close();
    return res.ok && typeof body?.dropped === "number" && typeof body?.captured === "number"
      ? { captured: body.captured, dropped: body.dropped }
      : null;
  } catch {
    return null; // the lab is gone (it stopped), or did not answer in time
  }
}
