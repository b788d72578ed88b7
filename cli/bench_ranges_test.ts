/**
 * Every integer option of `vlab bench` says its range in its help, and its parser refuses what
 * lies outside exactly that range: the help and the parser read one constant, and this test
 * fails if they drift apart or an option forgets to say its range.
 */

import assert from "node:assert/strict";
import type { Command } from "@commander-js/extra-typings";
import { benchCommand, denoBenchRuntime, parseRingsOptions } from "./bench.ts";
import { parseIommuOptions } from "./bench_iommu.ts";
import { parseNetOptions } from "./bench_net.ts";
import { parseRecoveryOptions } from "./bench_recovery.ts";
import { parseVsockBenchOptions } from "./bench_vsock.ts";
import { parseWakeupOptions } from "./bench_wakeup.ts";
import { VlabError } from "./errors.ts";

// deno-lint-ignore no-explicit-any
type Parse = (raw: any) => unknown;

/** Each subcommand's parser, as its action calls it with commander's options. */
const PARSERS: ReadonlyMap<string, Parse> = new Map<string, Parse>([
  ["rings", parseRingsOptions],
  ["net", parseNetOptions],
  ["vsock", parseVsockBenchOptions],
  ["iommu", parseIommuOptions],
  ["recovery", parseRecoveryOptions],
  ["wakeup", parseWakeupOptions],
]);

/** Options whose value is not a number: no range to state. */
const NOT_NUMBERS = new Set([
  "--layout",
  "--mode",
  "--modes",
  "--svg",
  "--csum",
  "--placement",
  "--host-wait",
  "--guest-wait",
]);

/** The subcommand `name` of a fresh `vlab bench`, with `argv` parsed into its options. */
function parsed(name: string, argv: string[]): Record<string, unknown> {
  const bench = benchCommand(denoBenchRuntime()) as unknown as Command;
  const sub = bench.commands.find((c) => c.name() === name);
  assert.ok(sub, `bench ${name}`);
  sub.parseOptions(argv);
  return sub.opts();
}

Deno.test("every integer option of vlab bench states its range, and its parser keeps to it", () => {
  const bench = benchCommand(denoBenchRuntime()) as unknown as Command;
  let checked = 0;
  for (const sub of bench.commands) {
    const parse = PARSERS.get(sub.name());
    if (parse === undefined) continue;
    for (const option of sub.options) {
      const flag = option.long;
      if (flag === undefined || !option.required || NOT_NUMBERS.has(flag)) continue;
      const where = `bench ${sub.name()} ${flag}`;
      const range = /\b(\d+) to (\d+)\b/.exec(option.description);
      assert.ok(range, `${where} states its range in its help: ${option.description}`);
      const [min, max] = [Number(range[1]), Number(range[2])];
      const outside = [String(max + 1), ...(min > 0 ? [String(min - 1)] : [])];
      for (const value of outside) {
        assert.throws(
          () => parse(parsed(sub.name(), [flag, value])),
          (e) =>
            e instanceof VlabError && e.code === "bad-option" && e.message.startsWith(flag) &&
            e.message.includes(`from ${min} to ${max}`),
          `${where} ${value} is refused, naming the range its help states`,
        );
      }
      checked++;
    }
  }
  // rings 4, net 11, vsock 4, iommu 4, recovery 3, wakeup 2.
  assert.equal(checked, 28);
});
