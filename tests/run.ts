/**
 * How the end-to-end tests run `vlab` and the real programs beside it (tshark, curl, dot, …): one
 * child process, stdout and stderr collected, the environment a child of the CLI gets
 * (`vlabChildEnv`) with `NO_COLOR=1`, and stdin closed unless the test gives it text.
 *
 * @module
 */

import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";

/** What a finished child left: its exit code and its output. */
export interface Run {
  /** Exit code. */
  code: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
  /** Standard output as bytes (for binary output: pcap, a full disk). */
  bytes: Uint8Array;
}

/** How to run a child. */
export interface RunOptions {
  /** Environment over the CLI child's (`NO_COLOR=1` is set unless this overrides it). */
  env?: Record<string, string>;
  /** The lab state folder (`VLAB_STATE_DIR`). */
  stateDir?: string;
  /** Text for stdin, which is then closed (none: stdin is /dev/null). */
  stdin?: string;
}

const decoder = new TextDecoder();

/**
 * What Deno itself prints on stderr while another deno process of this project holds the
 * node_modules folder's lock (a test that runs two `vlab` commands at once, or a machine where
 * tests run beside other work): Deno's line, not the child's, so it is left out of `stderr`.
 */
const DENO_LOCK_WAIT = /^Blocking waiting for file lock on node_modules directory\n/gm;

/**
 * `stderr` of a deno child without Deno's node_modules lock-wait lines (see above): for a test
 * that reads a child's stderr itself, as {@linkcode runProgram} does for its own.
 *
 * @example
 * ```ts ignore
 * withoutDenoLockWait("Blocking waiting for file lock on node_modules directory\nvlab: x\n"); // "vlab: x\n"
 * ```
 */
export function withoutDenoLockWait(stderr: string): string {
  return stderr.replace(DENO_LOCK_WAIT, "");
}

/**
 * Run `cmd args` to its end.
 *
 * @example
 * ```ts ignore
 * const which = await runProgram("sh", ["-c", "command -v tshark"]);
 * which.code; // 0 when tshark is installed
 * ```
 */
export async function runProgram(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Run> {
  const env: Record<string, string> = { NO_COLOR: "1", ...options.env };
  if (options.stateDir !== undefined) env.VLAB_STATE_DIR = options.stateDir;
  const child = new Deno.Command(cmd, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv(env),
  }).spawn();
  if (options.stdin !== undefined) {
    // A child that exits before reading its stdin closes the pipe: that is its answer, not ours.
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: withoutDenoLockWait(decoder.decode(out.stderr)),
    bytes: out.stdout,
  };
}

/**
 * Run `vlab args` as `deno task vlab` does (the CLI's permission flags and config).
 *
 * @example
 * ```ts ignore
 * const r = await runVlab(["validate", "pair"]);
 * r.code; // 0
 * ```
 */
export function runVlab(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return runProgram(Deno.execPath(), vlabRunArgs(args), options);
}

/**
 * `vlab` bound to a state folder (and an environment): `const vlab = vlabIn(dir); await vlab("ls")`.
 *
 * @example
 * ```ts ignore
 * const vlab = vlabIn(await Deno.makeTempDir());
 * (await vlab("ls")).stdout; // "no lab is running\n"
 * ```
 */
export function vlabIn(
  stateDir: string,
  env: Record<string, string> = {},
): (...args: string[]) => Promise<Run> {
  return (...args) => runVlab(args, { stateDir, env });
}

/** Whether `tool` is on PATH. */
export async function onPath(tool: string): Promise<boolean> {
  return (await runProgram("sh", ["-c", `command -v ${tool}`])).code === 0;
}

/**
 * Start `vlab args` and leave it running (stdout and stderr piped, stdin closed), for a test that
 * signals it or reads it as it goes: `spawnVlab(["pingall"], { stateDir }).kill("SIGINT")`.
 *
 * @example
 * ```ts ignore
 * const child = spawnVlab(["capture", "a-b", "-w", "x.pcap"], { stateDir });
 * child.kill("SIGINT");
 * (await child.output()).code; // 0
 * ```
 */
export function spawnVlab(
  args: readonly string[],
  options: { stateDir: string },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: options.stateDir }),
  }).spawn();
}

/**
 * The text of a file under `/proc` (`/proc/PID/cgroup`), or null once it is gone (its process
 * ended), read by `cat`: Deno reads `/proc` only with --allow-all, which the test task does not
 * give (a test that read it itself passed with `deno test -A` and failed in CI).
 *
 * @example
 * ```ts ignore
 * readProc(`/proc/${child.pid}/cgroup`); // "0::/vlab-idle-4242\n"
 * ```
 */
export function readProc(path: string): string | null {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
    .outputSync();
  return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
}

/**
 * Wait until a `vlab capture … -w pcap` has written the file's global header, which it does once
 * the lab's capture is on; throws after `ms` (default 20 s).
 *
 * @example
 * ```ts ignore
 * const child = spawnVlab(["capture", "a-b", "-w", pcap], { stateDir });
 * await captureStarted(pcap);
 * ```
 */
export async function captureStarted(pcap: string, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while ((await Deno.stat(pcap).then((i) => i.size, () => 0)) < 24) {
    if (performance.now() >= deadline) throw new Error(`the capture into ${pcap} never started`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Run `body` on a lab of `topology` brought up detached in a fresh state folder; the lab is
 * brought down and the folder removed afterwards, whatever `body` did.
 *
 * @example
 * ```ts ignore
 * await withLab("pair", async (vlab) => assert.equal((await vlab("status")).code, 0));
 * ```
 */
export async function withLab(
  topology: string,
  body: (vlab: (...args: string[]) => Promise<Run>, stateDir: string) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
  const vlab = vlabIn(stateDir, env);
  try {
    const up = await vlab("up", topology, "-d");
    if (up.code !== 0) throw new Error(`vlab up -d failed:\n${up.stderr}`);
    await body(vlab, stateDir);
  } finally {
    await vlab("down", "--all");
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}
