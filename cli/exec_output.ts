/**
 * `vlab exec`'s lines on their way to stdout, written without blocking the command: a reader that
 * stops reading (a paused pager, `vlab exec … | (sleep 15; cat)`) used to block the command in a
 * synchronous write, so it stopped reading the lab's stream too; a `vlab down` meanwhile ended the
 * lab before its answer (the cancelled run's statistics) could reach the command, which then said
 * only `Lab "pair" is not running any more`. Now the command keeps reading: it holds at most
 * {@linkcode EXEC_LINE_QUEUE_BYTES} of lines its reader has not taken, drops the lines beyond,
 * whole, and counts them (as the lab does for a client that stops reading), and the answer reaches
 * it at once, whatever its reader does; it is printed once the lines held are.
 *
 * Runs on the CLI's main thread.
 *
 * @module
 */

import { OutputError } from "./errors.ts";
import { EXEC_LINE_QUEUE_BYTES } from "../lab/server_exec.ts";

/** Where the lines go: an asynchronous writer (`Deno.stdout`). */
export interface AsyncWriter {
  /** Write some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Lines written in order to `writer` without blocking the caller, up to `maxBytes` held (not yet
 * written); a line that finds them full is dropped and counted.
 *
 * @example
 * ```ts
 * import { HeldLines } from "./exec_output.ts";
 * const out = new HeldLines(Deno.stdout);
 * out.line("PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data."); // true: held, written soon
 * await out.flushed();
 * ```
 */
export class HeldLines {
  readonly #encoder = new TextEncoder();
  readonly #pending: Uint8Array[] = [];
  #held = 0;
  #pumping: Promise<void> | null = null;
  #error: OutputError | null = null;
  /** Lines dropped because `maxBytes` were held. */
  dropped = 0;

  readonly #maxBytes: number;
  readonly #onError: (error: OutputError) => void;

  /**
   * @param writer where the lines go (`Deno.stdout`)
   * @param options `maxBytes` held at most before lines are dropped
   *   ({@linkcode EXEC_LINE_QUEUE_BYTES}); `onError`, called once when a write fails (its reader
   *   gone: `| head -3`), after which nothing more is written
   */
  constructor(
    readonly writer: AsyncWriter,
    options: { maxBytes?: number; onError?: (error: OutputError) => void } = {},
  ) {
    this.#maxBytes = options.maxBytes ?? EXEC_LINE_QUEUE_BYTES;
    this.#onError = options.onError ?? (() => {});
  }

  /** The write that failed, if one did (nothing is written after it). */
  get error(): OutputError | null {
    return this.#error;
  }

  /** Hold `line` for the writer: false when it was dropped (held bytes full) or a write failed. */
  line(line: string): boolean {
    if (this.#error !== null) return false;
    const bytes = this.#encoder.encode(line + "\n");
    if (this.#held + bytes.length > this.#maxBytes && this.#held > 0) {
      this.dropped++;
      return false;
    }
    this.#pending.push(bytes);
    this.#held += bytes.length;
    this.#pumping ??= this.#pump();
    return true;
  }

  /** Resolves once every line held is written; rejects with the write's error if one failed. */
  async flushed(): Promise<void> {
    while (this.#pumping !== null) await this.#pumping;
    if (this.#error !== null) throw this.#error;
  }

  async #pump(): Promise<void> {
    try {
      while (this.#pending.length > 0 && this.#error === null) {
        const chunks = this.#pending.splice(0);
        const size = chunks.reduce((n, c) => n + c.length, 0);
        const all = new Uint8Array(size);
        let at = 0;
        for (const c of chunks) (all.set(c, at), at += c.length);
        try {
          for (let done = 0; done < size;) done += await this.writer.write(all.subarray(done));
        } catch (e) {
          this.#error = e instanceof OutputError
            ? e
            : new OutputError(this.writer === Deno.stdout ? "stdout" : "the output", e);
          this.#onError(this.#error);
        }
        this.#held -= size;
      }
    } finally {
      this.#pumping = null;
    }
  }
}
