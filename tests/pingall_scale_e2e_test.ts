/**
 * `vlab pingall` on a 16-VM star from the command line: 240 pairs, the line that says how long
 * the run can take (on stderr), the matrix in lab order, and `--vms` to ping among a few VMs
 * only (an unknown name is one error with a hint).
 */

import assert from "node:assert/strict";
import { vlabIn } from "./run.ts";

const E2E = { sanitizeResources: false, sanitizeOps: false } as const;

function star(n: number): string {
  const vms = Array.from(
    { length: n },
    (_, i) => `  h${i}: { nics: { eth0: { ip: 10.0.0.${i + 1}/24 } } }`,
  );
  const links = Array.from({ length: n }, (_, i) => `  - endpoints: [h${i}, sw1]`);
  return `name: star${n}\nvms:\n${vms.join("\n")}\nswitches:\n  sw1: {}\nlinks:\n${
    links.join("\n")
  }\n`;
}

Deno.test({
  name: "pingall on 16 VMs: says how long it can take, rows in lab order; --vms pings among a few",
  ...E2E,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-pingall-scale-" });
    const vlab = vlabIn(`${dir}/state`);
    try {
      Deno.writeTextFileSync(`${dir}/star16.yaml`, star(16));
      const up = await vlab("up", `${dir}/star16.yaml`, "-d");
      assert.equal(up.code, 0, up.stderr);

      const all = await vlab("pingall", "-c", "1");
      assert.equal(all.code, 0, all.stderr);
      assert.equal(
        all.stderr,
        "vlab: 240 pairs, 8 VMs pinging at once: up to 30 s if no reply comes; `--vms` shortens it\n",
      );
      const lines = all.stdout.trimEnd().split("\n");
      assert.equal(lines[0], "*** Ping: testing ping reachability");
      assert.deepEqual(
        lines.slice(1, 17).map((l) => l.split(" ")[0]),
        Array.from({ length: 16 }, (_, i) => `h${i}`),
      );
      assert.equal(lines[17], "*** Results: 0% dropped (240/240 received)");

      const few = await vlab("pingall", "-c", "1", "--vms", "h3, h1");
      assert.equal(few.code, 0, few.stderr);
      assert.equal(few.stderr, "");
      assert.deepEqual(few.stdout.trimEnd().split("\n"), [
        "*** Ping: testing ping reachability",
        "h1 -> h3",
        "h3 -> h1",
        "*** Results: 0% dropped (2/2 received)",
      ]);

      const bad = await vlab("pingall", "--vms", "h1,zz");
      assert.equal(bad.code, 1);
      assert.deepEqual(bad.stderr.split("\n").slice(0, 2), [
        'vlab: Lab "star16" has no VM "zz"',
        "hint: `vlab status` lists the VMs; --vms takes their names separated by commas, e.g. --vms h0,h1",
      ]);
      assert.equal(bad.stdout, "");
    } finally {
      await vlab("down", "--all");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
