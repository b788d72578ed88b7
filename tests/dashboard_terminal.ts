/**
 * `labTerminal` (tests/tmux.ts) for the dashboard's end-to-end tests that check what it draws or
 * how it ends, not its priority: its dashboard runs at the normal priority
 * (`VLAB_DASHBOARD_NICE=0`). Under the default idle policy a dashboard on a machine whose CPUs
 * other work keeps busy drew its first screen after more than the 30 s a test waits (seen with a
 * load average of 12), though nothing was wrong with it. tests/dashboard_tmux_test.ts checks the
 * idle policy itself and keeps it. Test support only.
 *
 * @module
 */

import { type LabTerminal, labTerminal, type LabTerminalOptions } from "./tmux.ts";

/** The variable that chooses the dashboard's priority (cli/dashboard_command.ts). */
const NICE = "VLAB_DASHBOARD_NICE";

/**
 * `labTerminal(topology, columns, rows, options)` with `VLAB_DASHBOARD_NICE=0` in the terminal's
 * environment (the tmux server takes this process's environment when it starts).
 *
 * @example
 * ```ts ignore
 * const t = await dashboardTerminal("topologies/pair.yaml", 100, 30);
 * try { await t.waitFor("a", (s) => s.includes("running")); } finally { await t.close(); }
 * ```
 */
export async function dashboardTerminal(
  topology: string,
  columns: number,
  rows: number,
  options: LabTerminalOptions = {},
): Promise<LabTerminal> {
  const was = Deno.env.get(NICE);
  Deno.env.set(NICE, "0");
  try {
    return await labTerminal(topology, columns, rows, options);
  } finally {
    if (was === undefined) Deno.env.delete(NICE);
    else Deno.env.set(NICE, was);
  }
}
