/**
 * A real terminal for end-to-end tests of the dashboard: `vlab up` runs in a detached tmux
 * session on a private tmux server; a test sends keys and reads the screen with `capture-pane`.
 * Test support only. Needs tmux (the test task installs it: tests/tools.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { shellQuote } from "../cli/child.ts";

const decoder = new TextDecoder();

/** Run a program to its end and collect its output. */
export async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv(env),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** `vlab up` in a tmux pane: keys in, screen out. */
export interface LabTerminal {
  /** The lab's state folder (a fresh temporary folder). */
  stateDir: string;
  /** Run a tmux command on this terminal's private server. */
  tmux(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Send keys to the pane. */
  keys(...keys: string[]): Promise<void>;
  /** The pane's screen now. */
  screen(): Promise<string>;
  /** Poll the screen until `test` holds; fail with the screen after `ms`. */
  waitFor(what: string, test: (s: string) => boolean, ms?: number): Promise<string>;
  /** Kill the tmux server and remove the state folder. */
  close(): Promise<void>;
}

/** Options of `labTerminal`. */
export interface LabTerminalOptions {
  /**
   * Start the lab in the background (`vlab up -d`) and attach `vlab dashboard` to it, instead of
   * `vlab up` in the foreground; then, once it ends, `vlab dashboard` again (`EXITED AGAIN <code>`).
   */
  readonly attach?: boolean;
}

/**
 * Start `vlab up TOPOLOGY` in a `columns`×`rows` tmux pane with its own state folder; the pane
 * prints `EXITED <code>` when vlab ends.
 *
 * @example
 * ```ts ignore
 * const t = await labTerminal("topologies/pair.yaml", 100, 30);
 * try { await t.waitFor("a", (s) => s.includes("running")); } finally { await t.close(); }
 * ```
 */
export async function labTerminal(
  topology: string,
  columns: number,
  rows: number,
  options: LabTerminalOptions = {},
): Promise<LabTerminal> {
  assert.equal((await run("sh", ["-c", "command -v tmux"])).code, 0, "tmux is not installed");
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-tmux-" });
  const socket = `vlab-test-${crypto.randomUUID().slice(0, 8)}`;
  const tmux = (...args: string[]) => run("tmux", ["-L", socket, ...args]);
  const screen = async () => (await tmux("capture-pane", "-p", "-t", "lab")).stdout;
  const t: LabTerminal = {
    stateDir,
    tmux,
    screen,
    keys: async (...keys) => void await tmux("send-keys", "-t", "lab", ...keys),
    waitFor: async (what, test, ms = 30_000) => {
      const deadline = Date.now() + ms;
      let s = "";
      while (Date.now() < deadline) {
        s = await screen();
        if (test(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`);
    },
    close: async () => {
      await tmux("kill-server");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    },
  };
  const vlab = (...args: string[]) =>
    [Deno.execPath(), ...vlabRunArgs(args)].map(shellQuote).join(" ");
  const up = options.attach
    ? `${vlab("up", "-d", topology)} && ${vlab("dashboard")}`
    : vlab("up", topology);
  const again = options.attach ? `; ${vlab("dashboard")}; echo "EXITED AGAIN $?"` : "";
  const env = `VLAB_STATE_DIR=${shellQuote(stateDir)} NO_COLOR=1 INIT_CWD=${
    shellQuote(Deno.cwd())
  }`;
  const started = await tmux(
    "new-session",
    "-d",
    "-s",
    "lab",
    "-x",
    String(columns),
    "-y",
    String(rows),
    `cd ${shellQuote(Deno.cwd())} && export ${env} && ${up}; echo "EXITED $?"${again}; sleep 60`,
  );
  if (started.code !== 0) {
    await t.close();
    assert.fail(`tmux did not start: ${started.stderr}`);
  }
  return t;
}
