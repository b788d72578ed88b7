/**
 * Loads the dashboard on demand, with React's production build: React reads `NODE_ENV` when
 * its module is evaluated, and its development build costs several times more CPU per redraw
 * (measured: the attached dashboard used 25 % of a core in development mode, 4–7 % in
 * production). Other commands never load ink or React at all.
 *
 * @module
 */

/** The dashboard module, loaded once with `NODE_ENV=production` unless the user set it. */
export async function loadDashboard(): Promise<typeof import("./dashboard/run.ts")> {
  if (Deno.env.get("NODE_ENV") === undefined) Deno.env.set("NODE_ENV", "production");
  // ink draws nothing until it exits when it believes it runs in CI (`CI` set): in a real
  // terminal the dashboard is interactive whatever the environment says, and ink reads this
  // when it loads.
  if (Deno.stdout.isTerminal() && Deno.env.get("CI") !== undefined) Deno.env.set("CI", "false");
  return await import("./dashboard/run.ts");
}
