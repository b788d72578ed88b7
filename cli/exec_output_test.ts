/**
 * `HeldLines`: vlab exec's lines on their way to a stdout that may stall, written without
 * blocking the command, in order, at most `maxBytes` held; the lines beyond are dropped and
 * counted; a failed write is said once and stops the writing.
 */

import assert from "node:assert/strict";
import { HeldLines } from "./exec_output.ts";
import { OutputError } from "./errors.ts";

/** A writer that takes nothing until `open()`, then everything. */
function stalledWriter() {
  const written: string[] = [];
  let release!: () => void;
  const opened = new Promise<void>((r) => release = r);
  let failed = false;
  return {
    written,
    open: () => release(),
    fail: () => {
      failed = true;
      release();
    },
    write: async (bytes: Uint8Array) => {
      await opened;
      if (failed) throw new Deno.errors.BrokenPipe("Broken pipe");
      written.push(new TextDecoder().decode(bytes));
      return bytes.length;
    },
  };
}

Deno.test("HeldLines holds what a stalled writer has not taken, drops past its bound, writes the rest in order", async () => {
  const w = stalledWriter();
  const lines = new HeldLines(w, { maxBytes: 30 });
  // Each line is 8 bytes with its newline: 3 fit in 30 (the first already on its way).
  const took = ["line 01", "line 02", "line 03", "line 04", "line 05"].map((l) => lines.line(l));
  assert.deepEqual(took, [true, true, true, false, false]);
  assert.equal(lines.dropped, 2);
  // The call returned at once, though nothing was written: the command reads on meanwhile.
  assert.deepEqual(w.written, []);
  w.open();
  await lines.flushed();
  assert.equal(w.written.join(""), "line 01\nline 02\nline 03\n");
  // Room again once written.
  assert.equal(lines.line("line 06"), true);
  await lines.flushed();
  assert.ok(w.written.join("").endsWith("line 06\n"));
});

Deno.test("HeldLines says a failed write once, then takes no more lines; flushed rejects with it", async () => {
  const w = stalledWriter();
  const errors: OutputError[] = [];
  const lines = new HeldLines(w, { onError: (e) => errors.push(e) });
  lines.line("a");
  w.fail();
  await assert.rejects(lines.flushed(), OutputError);
  assert.equal(errors.length, 1);
  assert.equal(lines.line("b"), false);
  assert.equal(errors.length, 1);
});
