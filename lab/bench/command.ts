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

/**
 * The commands {@linkcode systemRunner} started that have not ended. Ctrl-C and SIGTERM end a
 * bench with `Deno.exit`, which does not end its children: a C reference's timed run or a veth
 * ping went on, orphaned, after the bench had exited. At the process's exit each gets SIGTERM
 * (which `timeout` passes on to the command it runs).
 */
const running = new Set<Deno.ChildProcess>();

function endRunning(): void {
  for (const child of running) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Ended already.
    }
  }
  running.clear();
}

/**
 * The real runner: `Deno.Command`, a missing program as code 127; what still runs when the
 * process exits is ended (SIGTERM).
 */
export const systemRunner: CommandRunner = async (argv) => {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: "not found" };
    throw e;
  }
  if (running.size === 0) globalThis.addEventListener("unload", endRunning);
  running.add(child);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    running.delete(child);
    if (running.size === 0) globalThis.removeEventListener("unload", endRunning);
  }
};
