import assert from "node:assert/strict";
import { OutputError } from "./errors.ts";
import { createProgressLine, writeAll } from "./progress.ts";

Deno.test("progress off a terminal writes one plain line per update", () => {
  const written: string[] = [];
  const line = createProgressLine({ write: (t) => written.push(t), isTerminal: false });
  line.progress("split poll batch 1");
  line.progress("split poll\nbatch 2");
  line.done();
  assert.deepEqual(written, ["split poll batch 1\n", "split poll batch 2\n"]);
});

Deno.test("progress on a terminal rewrites one line and clears it when done", () => {
  const written: string[] = [];
  const line = createProgressLine({ write: (t) => written.push(t), isTerminal: true });
  line.progress("run 1/5");
  line.progress("run 2/5");
  line.done();
  assert.deepEqual(written, ["\rrun 1/5\x1b[K", "\rrun 2/5\x1b[K", "\r\x1b[K"]);
  assert.ok(written.every((text) => !text.includes("\n")));
});

Deno.test("progress on a terminal is cut to the terminal width", () => {
  const written: string[] = [];
  const line = createProgressLine({ write: (t) => written.push(t), isTerminal: true, columns: 21 });
  line.progress("x".repeat(50));
  assert.equal(written[0], `\r${"x".repeat(19)}…\x1b[K`);
});

Deno.test("progress on a terminal that reports 0 columns (unsized pty) uses 80, not 10", () => {
  const written: string[] = [];
  const line = createProgressLine({ write: (t) => written.push(t), isTerminal: true, columns: 0 });
  const summary = "pair: 2/2 VMs running, 0 frames over links, up 6 s";
  line.progress(summary);
  assert.equal(written[0], `\r${summary}\x1b[K`);
});

Deno.test("done without progress on a terminal writes nothing", () => {
  const written: string[] = [];
  createProgressLine({ write: (t) => written.push(t), isTerminal: true }).done();
  assert.deepEqual(written, []);
});

Deno.test("writeAll writes every byte of partial writes and names the output when one fails", () => {
  const got: number[] = [];
  writeAll({ writeSync: (b) => (got.push(b[0]), 1) }, new Uint8Array([1, 2, 3]));
  assert.deepEqual(got, [1, 2, 3]);
  const failing = {
    writeSync: () => {
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    },
  };
  assert.throws(
    () => writeAll(failing, new Uint8Array([1]), "stdout"),
    (e: unknown) =>
      e instanceof OutputError && e.target === "stdout" &&
      e.cause instanceof Deno.errors.BrokenPipe,
  );
  assert.throws(
    () => writeAll(failing, new Uint8Array([1])),
    (e: unknown) => e instanceof OutputError && e.target === "the output",
  );
});
