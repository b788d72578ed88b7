/**
 * Where a problem of a drill given as an object is. A file's problems carry a line and a column
 * (`d.yaml:5:19: …`); an object's have none, only the key's path (`timeline.0.link.name`), which
 * the message did not show: `runDrill({ …, timeline: [{ link: {} }] })` failed with
 * `<object>: Missing key "name"`, which read as the drill's own (optional) `name`. Called by
 * `drillFromObject` (`runDrill` with an object, `replayDrill` with a report's document).
 */

import type { DrillIssue } from "./load.ts";

/**
 * `issues` of the drill object `source`, each with no line to point at, located by its key's path
 * written as in JavaScript (`timeline[0].link: Missing key "name"`, `timeline[1].fault.ms: …`,
 * as `startLab` locates a topology object's `links[0].delay: …`). A problem whose message names
 * its place already (`assert[1] must be a string`, `timeline[0]: every must be …`,
 * `Unknown key "vmss" in topology`), a top-level key's `Missing key "topology"`, and a problem of
 * another file (the drill's topology file) are left as they are.
 *
 * @example
 * ```ts
 * import { locatedByKey } from "./key_paths.ts";
 * const issue = {
 *   code: "missing-key", path: "timeline.0.link.name", line: null, column: null,
 *   message: 'Missing key "name"', hint: null, file: "<object>",
 * };
 * locatedByKey([issue], "<object>")[0].message; // 'timeline[0].link: Missing key "name"'
 * ```
 */
export function locatedByKey(issues: readonly DrillIssue[], source: string): DrillIssue[] {
  return issues.map((i) => {
    if (i.line !== null || i.file !== source || i.path === "") return i;
    const keys = i.path.split(".");
    // A missing or unknown key is missing from (or unknown in) the map that holds it: that map
    // is its place (`Unknown key "vmss" in topology` names it already).
    const key = /^(?:Missing|Unknown) key "([^"]*)"/.exec(i.message)?.[1];
    if (key !== undefined && keys.at(-1) === key) keys.pop();
    const place = written(keys);
    if (place === "" || namesPlace(i.message, keys)) return i;
    return { ...i, message: `${place}: ${i.message}` };
  });
}

/** A key path as JavaScript writes it: `timeline[0].link`. */
function written(keys: readonly string[]): string {
  return keys.reduce(
    (path, key) => /^\d+$/.test(key) ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`,
    "",
  );
}

/** Whether `message` names the place already: the whole path, or a list item of it. */
function namesPlace(message: string, keys: readonly string[]): boolean {
  for (let n = keys.length; n > 0; n--) {
    const place = written(keys.slice(0, n));
    if (message.includes(place) && (n === keys.length || place.endsWith("]"))) return true;
  }
  return false;
}
