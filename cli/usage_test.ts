import assert from "node:assert/strict";
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { CliExit, configureCommandTree, usageError } from "./usage.ts";
import { VlabError } from "./errors.ts";

/** A small program like vlab's, with its output captured. */
function program() {
  const out: string[] = [];
  const err: string[] = [];
  const root = new Command("vlab").version("1.2.3");
  const bench = new Command("bench");
  bench.addCommand(new Command("rings").option("--json").option("--batch <list>").action(() => {}));
  root.addCommand(bench);
  const fault = new Command("fault");
  fault.addCommand(new Command("vm-crash").option("--lab <name>").action(() => {}));
  fault.addCommand(
    new Command("lost-kick").option("--lab <name>").option("-n <count>").action(() => {}),
  );
  root.addCommand(fault);
  configureCommandTree(root, { writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
  return { root, out, err };
}

async function parseError(args: string[]): Promise<unknown> {
  const { root, err } = program();
  try {
    await root.parseAsync(args, { from: "user" });
  } catch (error) {
    assert.deepEqual(err, [], "commander printed no error text of its own");
    return error;
  }
  assert.fail(`expected ${args.join(" ")} to fail`);
}

Deno.test("an unknown option is a usage error naming the command, with did-you-mean", async () => {
  const error = await parseError(["bench", "rings", "--jsn"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.code, "usage");
  assert.equal(error.exitCode, 2);
  assert.equal(error.message, 'Unknown option "--jsn" for "vlab bench rings"');
  assert.equal(error.hint, "Did you mean --json?");
});

Deno.test("an unknown option with no near name points to --help", async () => {
  const error = await parseError(["bench", "rings", "--zzzzzz"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.hint, 'Run "vlab bench rings --help" for usage');
});

Deno.test("an option before the subcommand that takes it says where it goes", async () => {
  // `vlab fault --lab pair vm-crash b` said only `Unknown option "--lab" for "vlab fault"`.
  const error = await parseError(["fault", "--lab", "pair", "vm-crash", "b"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.message, 'Unknown option "--lab" for "vlab fault"');
  assert.equal(
    error.hint,
    "--lab goes after the command it is for, as in `vlab fault vm-crash --lab …` (vm-crash, lost-kick take it)",
  );
  const one = await parseError(["fault", "-n", "3", "lost-kick"]);
  assert.ok(one instanceof VlabError);
  assert.equal(
    one.hint,
    "-n goes after the command it is for, as in `vlab fault lost-kick -n …` (lost-kick takes it)",
  );
  const none = await parseError(["fault", "--zzz", "vm-crash"]);
  assert.ok(none instanceof VlabError);
  assert.equal(none.hint, 'Run "vlab fault --help" for usage');
});

Deno.test("an unknown command is a usage error with did-you-mean", async () => {
  const error = await parseError(["bnech"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.message, 'Unknown command "bnech" for "vlab"');
  assert.equal(error.hint, "Did you mean bench?");
});

Deno.test("vlab fault iommu-unmap points at the workload of that name", async () => {
  const error = await parseError(["fault", "iommu-unmap", "a", "eth0"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.message, 'Unknown command "iommu-unmap" for "vlab fault"');
  assert.equal(
    error.hint,
    "iommu-unmap is a workload the guest runs: `vlab exec VM -- iommu-unmap NIC`",
  );
});

Deno.test("an option without its value is a usage error", async () => {
  const error = await parseError(["bench", "rings", "--batch"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.message, 'Option "--batch <list>" of "vlab bench rings" needs a value');
});

Deno.test("an option that takes a value, given twice, is a usage error naming both values", async () => {
  // Commander kept the last: `--ms 100 --ms 200` ran 200, whichever the user meant.
  const error = await parseError(["bench", "rings", "--batch", "1", "--batch=9"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.code, "usage");
  assert.equal(
    error.message,
    'Option --batch of "vlab bench rings" is given twice ("1", then "9")',
  );
  assert.equal(error.hint, "Give --batch once, with the value you mean");
  // A flag without a value given twice says nothing else: it is left alone.
  const { root } = program();
  await root.parseAsync(["bench", "rings", "--json", "--json"], { from: "user" });
});

Deno.test("extra arguments are a usage error listing them", async () => {
  const error = await parseError(["bench", "rings", "a", "b"]);
  assert.ok(error instanceof VlabError);
  assert.equal(error.message, 'Too many arguments for "vlab bench rings": "a", "b"');
});

Deno.test("help and version end with CliExit 0 and print on stdout", async () => {
  for (const args of [["--help"], ["--version"], ["bench", "rings", "--help"]]) {
    const { root, out } = program();
    await assert.rejects(root.parseAsync(args, { from: "user" }), (error) => {
      assert.ok(error instanceof CliExit);
      assert.equal(error.exitCode, 0);
      return true;
    });
    assert.ok(out.join("").length > 0, `${args.join(" ")} printed something`);
  }
});

Deno.test("a missing subcommand prints help on stderr and ends with CliExit 2", async () => {
  const { root, out, err } = program();
  await assert.rejects(root.parseAsync(["bench"], { from: "user" }), (error) => {
    assert.ok(error instanceof CliExit);
    assert.equal(error.exitCode, 2);
    return true;
  });
  assert.deepEqual(out, []);
  assert.match(err.join(""), /Usage: vlab bench/);
});

Deno.test("usageError renders other commander errors in sentence case without a period", () => {
  const error = usageError(
    new CommanderError(1, "commander.conflictingOption", "error: option '--a' cannot be used."),
    "vlab x",
  );
  assert.equal(error.message, "Option '--a' cannot be used");
  assert.equal(error.hint, 'Run "vlab x --help" for usage');
});

Deno.test("a value outside an option's choices names the choices in one sentence, with did-you-mean", async () => {
  const { root } = program();
  const crash = root.commands.find((c) => c.name() === "fault")!.commands
    .find((c) => c.name() === "vm-crash")!;
  crash.addOption(new Option("--mode <mode>", "how").choices(["exit", "hang", "slow"]));
  const parse = async (value: string) => {
    try {
      await root.parseAsync(["fault", "vm-crash", "--mode", value], { from: "user" });
    } catch (error) {
      assert.ok(error instanceof VlabError);
      assert.equal(error.exitCode, 2);
      return error;
    }
    assert.fail("expected a usage error");
  };
  // It said: "Option '--mode <mode>' argument 'hnag' is invalid. Allowed choices are exit, …".
  const near = await parse("hnag");
  assert.equal(near.message, '--mode must be one of exit, hang, slow, got "hnag"');
  assert.equal(near.hint, "Did you mean hang?");
  const far = await parse("x'y\x1b");
  assert.equal(far.message, '--mode must be one of exit, hang, slow, got "x\'y\\x1b"');
  assert.equal(far.hint, "For example --mode exit");
});

Deno.test("an unknown option of vlab exec says that a workload's options go after --", () => {
  const error = usageError(
    new CommanderError(1, "commander.unknownOption", "error: unknown option '-c'"),
    "vlab exec",
  );
  assert.equal(error.message, 'Unknown option "-c" for "vlab exec"');
  assert.match(error.hint, /^A workload's options go after --, as in `vlab exec a -- ping/);
  // commander's own did-you-mean wins (`--jsn` for `--json`).
  const near = usageError(
    new CommanderError(
      1,
      "commander.unknownOption",
      "error: unknown option '--jsn'\n(Did you mean --json?)",
    ),
    "vlab exec",
  );
  assert.equal(near.hint, "Did you mean --json?");
});

Deno.test("--lab given to a command whose lab is its argument says to name the lab without it", async () => {
  const { root } = program();
  root.addCommand(new Command("status").argument("[name]", "lab name").action(() => {}));
  configureCommandTree(root, { writeOut: () => {}, writeErr: () => {} });
  for (const args of [["status", "--lab", "pair"], ["status", "--lab=pair"]]) {
    try {
      await root.parseAsync(args, { from: "user" });
      assert.fail(`expected ${args.join(" ")} to fail`);
    } catch (error) {
      assert.ok(error instanceof VlabError);
      assert.match(error.message, /^Unknown option "--lab(=pair)?" for "vlab status"$/);
      // It said: Run "vlab status --help" for usage.
      assert.equal(
        error.hint,
        "vlab status takes the lab's name as its argument, without --lab: `vlab status NAME`",
      );
    }
  }
  // A command that takes no lab keeps the usual hint.
  const other = await parseError(["bench", "rings", "--lab", "x"]);
  assert.ok(other instanceof VlabError);
  assert.equal(other.hint, 'Run "vlab bench rings --help" for usage');
});

Deno.test("a missing argument's hint is the command's usage line, with an example for vlab exec", async () => {
  const { root } = program();
  root.addCommand(
    new Command("exec").argument("<vm>", "the VM").argument("<workload...>", "words")
      .action(() => {}),
  );
  root.addCommand(new Command("vsock").argument("<vm>").argument("<port>").action(() => {}));
  configureCommandTree(root, { writeOut: () => {}, writeErr: () => {} });
  const fail = async (args: string[]) => {
    try {
      await root.parseAsync(args, { from: "user" });
    } catch (error) {
      assert.ok(error instanceof VlabError);
      return error;
    }
    assert.fail(`expected ${args.join(" ")} to fail`);
  };
  // `vlab exec -- ping` took "ping" for the VM; the hint was 'Run "vlab exec --help" for usage'.
  const exec = await fail(["exec", "--", "ping"]);
  assert.equal(exec.message, 'Missing argument "workload" for "vlab exec"');
  assert.equal(
    exec.hint,
    "Usage: vlab exec [options] <vm> <workload...>, as in `vlab exec a -- ping 10.0.0.2 -c 3`",
  );
  const vsock = await fail(["vsock", "a"]);
  assert.equal(vsock.hint, "Usage: vlab vsock [options] <vm> <port>");
});

Deno.test("an unknown command or option holding a quote or a newline is named whole", async () => {
  // The word was read up to its first quote: `vlab "it's"` said Unknown command "it".
  const command = await parseError(["it's"]);
  assert.ok(command instanceof VlabError);
  assert.equal(command.message, `Unknown command "it's" for "vlab"`);
  const option = await parseError(["bench", "rings", "--it's\nx"]);
  assert.ok(option instanceof VlabError);
  assert.equal(option.message, `Unknown option "--it's\\nx" for "vlab bench rings"`);
  // With commander's did-you-mean after it, the quote is still the option's.
  const near = await parseError(["bench", "rings", "--jso'n"]);
  assert.ok(near instanceof VlabError);
  assert.equal(near.message, `Unknown option "--jso'n" for "vlab bench rings"`);
});

Deno.test("too many arguments are listed as given, also with a comma or a newline in one", async () => {
  const { root } = program();
  root.addCommand(new Command("up").argument("[topology]").action(() => {}));
  configureCommandTree(root, { writeOut: () => {}, writeErr: () => {} });
  const fail = async (args: string[]) => {
    try {
      await root.parseAsync(args, { from: "user" });
    } catch (error) {
      assert.ok(error instanceof VlabError);
      return error;
    }
    assert.fail(`expected ${args.join(" ")} to fail`);
  };
  // They were split at commander's ", " ("a", "b", "c") and cut at a newline ("").
  assert.equal(
    (await fail(["up", "a, b", "c"])).message,
    'Too many arguments for "vlab up": "a, b", "c"',
  );
  assert.equal(
    (await fail(["up", "a\nb", "c"])).message,
    'Too many arguments for "vlab up": "a\\nb", "c"',
  );
});

Deno.test("vlab help help shows the help command's usage, which the list of commands names", async () => {
  const { root, out } = program();
  await assert.rejects(root.parseAsync(["help", "help"], { from: "user" }), (error) => {
    // It said: Unknown command "help" for "vlab", did you mean…
    assert.ok(error instanceof CliExit);
    assert.equal(error.exitCode, 0);
    return true;
  });
  assert.match(out.join(""), /^Usage: vlab help \[options\] \[command\.\.\.\]/);
});

Deno.test("vlab help CMD WORD on a command without subcommands says it has none", async () => {
  const { root } = program();
  root.addCommand(new Command("up").argument("[topology]").action(() => {}));
  configureCommandTree(root, { writeOut: () => {}, writeErr: () => {} });
  try {
    await root.parseAsync(["help", "up", "extra"], { from: "user" });
    assert.fail("expected a usage error");
  } catch (error) {
    assert.ok(error instanceof VlabError);
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, 'Unknown command "extra" for "vlab up": it has no subcommands');
    // It said 'Run "vlab up --help" for the list of commands': up lists none.
    assert.equal(error.hint, 'Run "vlab up --help" for usage');
  }
});
