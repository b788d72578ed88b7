/**
 * `vlab capture -w FILE` whose file cannot grow any more (a full disk; here a file size limit,
 * `ulimit -f`, which fails a write the same way without root or a small filesystem): the command
 * ends with `write-failed`, and the file keeps its whole records, a pcap that tshark reads to the
 * end, never one "cut short in the middle of a packet".
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { captureStarted, runProgram, withLab } from "./run.ts";

/** The file size limit, KiB: a few 1.4 KB frames fit, the capture's ping fills it. */
const LIMIT_KIB = 8;

Deno.test({
  name: "capture -w FILE stopped by a full file leaves whole records and says how many",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const pcap = `${stateDir}/a-b.pcap`;
      // SIGXFSZ ignored (as a shell's trap leaves it for its exec'd child): the write fails with
      // EFBIG, as a full disk's fails with ENOSPC, instead of the signal killing the process.
      const capture = runProgram("bash", [
        "-c",
        `trap '' XFSZ; ulimit -f ${LIMIT_KIB}; exec "$0" "$@"`,
        Deno.execPath(),
        ...vlabRunArgs(["capture", "a-b", "-w", pcap, "--duration", "8"]),
      ], { stateDir });
      await captureStarted(pcap);
      const ping = await vlab(
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-c",
        "12",
        "-s",
        "1400",
        "-i",
        "0.02",
      );
      assert.equal(ping.code, 0, ping.stderr);
      const out = await capture;
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /^vlab: Cannot write the capture to .*a-b\.pcap": file too large$/m);
      const kept = /The file holds the first (\d+) frames, a valid pcap/.exec(out.stderr);
      assert.ok(kept !== null, out.stderr);
      const size = (await Deno.stat(pcap)).size;
      assert.ok(size <= LIMIT_KIB * 1024, `${size} bytes`);
      // tshark reads every record to the end (a torn last record is an error, exit 2).
      const read = await runProgram("tshark", ["-r", pcap, "-T", "fields", "-e", "frame.len"]);
      assert.equal(read.code, 0, read.stderr);
      const frames = read.stdout.trim().split("\n");
      assert.equal(frames.length, Number(kept[1]));
      // The global header and each record's 16 bytes and frame: nothing after the last one.
      assert.equal(size, 24 + frames.reduce((sum, len) => sum + 16 + Number(len), 0));
    });
  },
});
