// One seed for everything: `vlab up --seed`, `vlab drill run --seed`, a topology's `seed:` and
// `startLab(…, { seed })` take the same values (a whole number 0..4294967295) and refuse the same
// others, and the seed in force is printed where a user reruns from.
import assert from "node:assert/strict";
import { inStateDir, LAB_TEST } from "../lab/testing.ts";
import { startLab } from "../lab/api.ts";
import { vlabIn } from "./run.ts";
import { twoAtOnce } from "./two_at_once.ts";
import { parseSeedOption } from "../cli/drill.ts";
import { VlabError } from "../cli/errors.ts";
import { parseTopology } from "../lab/topology/mod.ts";
import { parseDrill } from "../lab/drill/mod.ts";

const BAD = ["-1", "4294967296", "9007199254740992", "1.5", "0x10", "1e3", "", "seven"];

Deno.test("vlab up --seed takes 0 and 4294967295 and refuses the rest as drill run does", async () => {
  await inStateDir("vlab-seed-options-", async (dir) => {
    const vlab = vlabIn(dir);
    // Each command is a process of its own: they run two at once.
    await twoAtOnce(["0", "4294967295", "42"], async (seed) => {
      const r = await vlab("up", "pair", "--dry-run", "--seed", seed);
      assert.equal(r.code, 0, r.stderr);
      // The plan names the seed that replaced the topology's (pair's is 1).
      assert.match(r.stdout, new RegExp(`^lab pair \\(seed ${seed}\\) from`, "m"), r.stdout);
    });
    await twoAtOnce(BAD, async (seed) => {
      const up = await vlab("up", "pair", "--dry-run", `--seed=${seed}`);
      assert.equal(up.code, 2, `up --seed ${seed}: ${up.stderr}`);
      assert.match(
        up.stderr,
        /^vlab: Cannot start the lab: --seed must be a whole number from 0 to 4294967295 in decimal digits, got ".*"$/m,
        up.stderr,
      );
      // A seed in range in another notation gets its decimal spelling.
      const decimal = new Map([["0x10", 16], ["1e3", 1000]]).get(seed);
      assert.match(
        up.stderr,
        new RegExp(
          decimal !== undefined
            ? `^hint: Write it in decimal digits: --seed ${decimal}$`
            : "^hint: Give a seed such as --seed 42$",
          "m",
        ),
        up.stderr,
      );
    });
    await twoAtOnce(BAD, async (seed) => {
      const drill = await vlab("drill", "run", "drills/link-flap.yaml", `--seed=${seed}`);
      assert.equal(drill.code, 2, `drill run --seed ${seed}: ${drill.stderr}`);
      assert.match(
        drill.stderr,
        /^vlab: Cannot run the drill: --seed must be a whole number/m,
        drill.stderr,
      );
    });
    assert.equal((await vlab("ls")).stdout, "no lab is running\n");
  });
});

Deno.test("a topology's and a drill's seed: take the seeds --seed takes, in decimal digits", async () => {
  // `seed: 0x10`, `0o10`, `1e3` and `+5` were taken (16, 8, 1000, 5) where --seed refused them.
  const topology = (seed: string) => parseTopology(`name: s\nseed: ${seed}\nvms: {}\n`, "t.yaml");
  const option = (seed: string) => {
    try {
      return parseSeedOption(seed, "start the lab");
    } catch (e) {
      assert.ok(e instanceof VlabError, String(e));
      return e.hint;
    }
  };
  for (const [seed, value] of [["0", 0], ["42", 42], ["4294967295", 4294967295]] as const) {
    const t = topology(seed);
    assert.ok(t.ok && t.value.seed === value, `seed: ${seed}`);
    assert.equal(option(seed), value);
  }
  for (const [seed, decimal] of [["0x10", 16], ["0o10", 8], ["1e3", 1000], ["+5", 5]] as const) {
    const t = topology(seed);
    assert.ok(!t.ok, `seed: ${seed} was taken`);
    assert.deepEqual(
      t.error.map((i) => [i.code, i.line, i.message, i.hint]),
      [[
        "seed-notation",
        2,
        `seed ${seed} is not written in decimal digits`,
        `write seed: ${decimal}, as --seed takes it`,
      ]],
    );
    assert.equal(option(seed), `Write it in decimal digits: --seed ${decimal}`);
    const drill = await parseDrill(`topology: pair\nseed: ${seed}\ntimeline: []\n`, "d.yaml");
    assert.ok(!drill.ok && drill.error[0].code === "seed-notation", `drill seed: ${seed}`);
  }
  for (const seed of ["-1", "1.5", "4294967296"]) {
    assert.ok(!topology(seed).ok, `seed: ${seed}`);
    assert.equal(option(seed), "Give a seed such as --seed 42");
  }
  // A leading zero: 10 to --seed (no YAML reads it); in a file YAML 1.1 reads octal 8, so it is
  // refused there, with the one spelling a seed takes.
  assert.equal(option("010"), 10);
  const zero = topology("010");
  assert.ok(!zero.ok);
  assert.deepEqual(zero.error.map((i) => [i.code, i.hint]), [["leading-zero", "write seed: 10"]]);
});

Deno.test({
  name: "startLab refuses a seed that is no u32 before anything starts, as runDrill does",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-seed-options-", async () => {
      // A lab that starts all the same (the seed ignored) is stopped, and the test fails.
      const refused = async (seed: unknown, check: (e: Error) => boolean) => {
        try {
          const lab = await startLab("pair", { seed: seed as number, stopOnSignals: false });
          await lab.stop();
        } catch (e) {
          assert.ok(check(e as Error), `${seed}: ${(e as Error).message}`);
          return;
        }
        assert.fail(`startLab took the seed ${seed}`);
      };
      for (const seed of [-1, 2 ** 32, 2 ** 53, 1.5, NaN, Infinity]) {
        await refused(seed, (e) =>
          e instanceof RangeError &&
          e.message ===
            `startLab: options.seed must be a whole number 0..4294967295, got ${seed}`);
      }
      await refused("7", (e) =>
        e instanceof TypeError &&
        e.message === "startLab: options.seed must be a number, got string");
    }),
});

Deno.test({
  name: "startLab(…, { seed }) and vlab up --seed replace the topology's seed; up prints it",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-seed-options-", async (dir) => {
      const vlab = vlabIn(dir);
      // The CLI's lab starts while this process runs its own (another name) beside it.
      const starting = vlab("up", "pair", "-d", "--seed", "0");
      try {
        const lab = await startLab({ name: "seed-opt", seed: 1, vms: {} }, {
          seed: 4294967295,
          stopOnSignals: false,
        });
        try {
          // Before, the option was ignored without a word: the lab ran with the topology's 1.
          assert.equal(lab.status().seed, 4294967295);
        } finally {
          await lab.stop();
        }
        const up = await starting;
        assert.equal(up.code, 0, up.stderr);
        assert.match(up.stdout, /^lab pair up in the background \(pid \d+, seed 0\);/);
        const status = await vlab("status", "pair");
        assert.match(status.stdout, /^lab pair \(seed 0, pid \d+/);
      } finally {
        await starting;
        await vlab("down", "--all");
      }
    }),
});
