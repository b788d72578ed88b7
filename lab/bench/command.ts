/**
 * Running a system command to completion, for the benchmarks that call programs of the machine
 * (the veth comparison's `ip`, `ping` and `iperf3`; the C references' compiler and binaries).
 * Each takes a {@linkcode CommandRunner}, so tests can replace the system.
 *
 * @module
 */

/** The outcome of one command. */
export interface CommandResult {
  /** Exit code (127: not found). */
  code: number;
  /** Its standard output. */
  stdout: string;
  /** Its standard error. */
  stderr: string;
}

/** Runs a command (argv[0] looked up on PATH) to completion. */
export type CommandRunner = (argv: string[]) => Promise<CommandResult>;

/** The real runner: `Deno.Command`, a missing program as code 127. */
export const systemRunner: CommandRunner = async (argv) => {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: "not found" };
    throw e;
  }
};
