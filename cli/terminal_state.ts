/**
 * The terminal's state around a child that draws on it (`vlab up`'s dashboard): saved before the
 * child starts, put back if the child ends without doing so itself (killed, crashed). A dashboard
 * leaves its terminal in raw mode (no Ctrl-C, no echo), on the alternate screen and with the
 * cursor hidden until it restores them; one killed with SIGKILL restores nothing, and `vlab up`'s
 * "Ctrl-C stops it" was then false.
 *
 * Runs on the CLI's main thread; reads and sets the line discipline with `stty` on the inherited
 * stdin (Deno's `setRaw(false)` restores only a mode this process set).
 *
 * @module
 */

/** Clears the alternate screen's use, shows the cursor, leaves keypad application mode. */
const RESET_SCREEN = "\x1b[?1049l\x1b[?25h\x1b>";

/** Puts the terminal back as `saveTerminal` found it. */
export interface SavedTerminal {
  /**
   * Restore the line discipline, and with `screen` the normal screen, the cursor and the keypad
   * (only for a child that may have left them: one killed mid-draw; leaving an alternate screen
   * that was never entered moves the cursor back to where it was last saved). Nothing where
   * stdin or stdout is no terminal.
   */
  restore(options: { readonly screen: boolean }): Promise<void>;
}

/**
 * Save the state of the terminal on stdin and stdout, to restore after a child drew on it.
 * Where stdin is no terminal (or `stty` cannot read it), only the screen is restored.
 *
 * @example
 * ```ts ignore
 * const saved = await saveTerminal();
 * const status = await child.status;
 * if (!status.success) await saved.restore({ screen: status.signal !== null });
 * ```
 */
export async function saveTerminal(): Promise<SavedTerminal> {
  const settings = Deno.stdin.isTerminal() ? await stty(["-g"]) : null;
  return {
    async restore({ screen }) {
      if (settings !== null && settings.trim() !== "") await stty([settings.trim()]);
      if (screen && Deno.stdout.isTerminal()) {
        await Deno.stdout.write(new TextEncoder().encode(RESET_SCREEN)).catch(() => 0);
      }
    },
  };
}

/** Run `stty ARGS` on the inherited stdin; its output, or null where it failed. */
async function stty(args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("stty", {
      args,
      stdin: "inherit",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}
