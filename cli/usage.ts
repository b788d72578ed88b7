/**
 * Commander's own errors (unknown command or option, missing value, too many arguments) turned
 * into `usage` {@linkcode VlabError}s, so that they print like every other vlab error: one
 * `vlab:` line and one `hint:` line, exit code 2.
 *
 * {@linkcode configureCommandTree} is called once by `main.ts` on the finished program; it sets
 * each command's output and exit handling so that commander prints help and version but never
 * its own error text, and throws instead of exiting.
 *
 * @module
 */

import { Command, type CommanderError } from "@commander-js/extra-typings";
import { quote } from "../devices/base/quote.ts";
import { closestName, VlabError } from "./errors.ts";

/**
 * Thrown (instead of exiting) when commander has printed help or the version: the caller exits
 * with {@linkcode CliExit.exitCode} and prints nothing more.
 */
export class CliExit extends Error {
  /** The process exit code. */
  readonly exitCode: number;

  /** Record that commander finished with this exit code. */
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = "CliExit";
    this.exitCode = exitCode;
  }
}

/** Where commander writes help and version text. */
export interface CliOutput {
  /** Write text to stdout. */
  writeOut(text: string): void;
  /** Write text to stderr. */
  writeErr(text: string): void;
}

// Commander's structural Command type with any option and argument types.
// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/**
 * Make `command` and all its subcommands print help and version through `output`, stay silent
 * about errors, and throw instead of exiting: a {@linkcode VlabError} (code `usage`) for a bad
 * command line, a {@linkcode CliExit} after help or version.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * import { configureCommandTree } from "./usage.ts";
 *
 * const program = new Command("vlab").command("bench").parent!;
 * configureCommandTree(program, {
 *   writeOut: (text) => console.log(text),
 *   writeErr: (text) => console.error(text),
 * });
 * ```
 */
export function configureCommandTree(command: AnyCommand, output: CliOutput): void {
  command.configureOutput({
    writeOut: output.writeOut,
    writeErr: output.writeErr,
    // Commander's error text is replaced by ours; see usageError.
    outputError: () => {},
  });
  command.showSuggestionAfterError(true);
  refuseRepeatedOptions(command);
  command.exitOverride((error: CommanderError): never => {
    if (isHelpOrVersion(error)) {
      // Help shown because a command was missing ("vlab", "vlab bench") is a usage error.
      throw new CliExit(error.exitCode === 0 ? 0 : 2);
    }
    const unknown = error.code === "commander.unknownOption";
    // `--lab=pair` is the option `--lab`.
    const flag = unknown ? quotedWord(error.message).split("=", 1)[0] : "";
    throw usageError(error, commandPath(command), {
      takenBy: unknown ? subcommandsTaking(command, flag) : [],
      // `vlab status --lab pair`, as `vlab exec --lab pair …` takes it: this one's lab is its
      // argument.
      labIsArgument: unknown && flag === "--lab" &&
        command.registeredArguments.some((a) => a.name() === "name"),
      usage: `${commandPath(command)} ${command.usage()}`,
      // The words as the user gave them: commander's message joins them with ", ".
      args: error.code === "commander.excessArguments" ? [...command.args] : undefined,
    });
  });
  if (command.commands.length > 0 && !command.commands.some((c) => c.name() === "help")) {
    // Commander's own `help` prints the usage for a command it does not know (`vlab help
    // bogus`); ours says the command is unknown, like `vlab bogus` does.
    command.helpCommand(false);
    command.addCommand(helpCommand(command));
  }
  for (const sub of command.commands) configureCommandTree(sub, output);
}

/**
 * An option that takes a value, given twice (`--ms 100 --ms 200`), is a usage error: commander
 * keeps the last, and which one the user meant is unknown (a control request's key given twice
 * is refused the same way, `duplicate-key`). Variadic options, which collect, are left alone.
 */
function refuseRepeatedOptions(command: AnyCommand): void {
  for (const option of command.options) {
    if (option.variadic || !(option.required || option.optional)) continue;
    const seen: string[] = [];
    command.on(`option:${option.name()}`, (value: unknown) => {
      seen.push(String(value));
      if (seen.length < 2) return;
      const flag = option.long ?? option.short ?? option.name();
      throw new VlabError(
        "usage",
        `Option ${flag} of "${commandPath(command)}" is given twice (${quote(seen[0])}, then ${
          quote(seen[1])
        })`,
        { hint: `Give ${flag} once, with the value you mean` },
      );
    });
  }
}

/** `help [command...]`: the help of a (nested) subcommand of `parent`, or a usage error. */
function helpCommand(parent: AnyCommand): AnyCommand {
  return new Command("help")
    .description("display help for command")
    .argument("[command...]", "the command (and subcommand) to show the help of")
    .action((names: string[]) => {
      let at: AnyCommand = parent;
      for (const name of names) {
        const subs = at.commands.filter((c) => c.name() !== "help");
        // `help` too (`vlab help help`): the list of commands shows it.
        const found = at.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (found === undefined) {
          const near = closestName(name, subs.map((c) => c.name()));
          const path = commandPath(at);
          throw new VlabError(
            "usage",
            subs.length === 0
              // `vlab help up extra`: up has no commands to list.
              ? `Unknown command ${quote(name)} for "${path}": it has no subcommands`
              : `Unknown command ${quote(name)} for "${path}"`,
            {
              hint: near !== undefined
                ? `Did you mean ${near}?`
                : subs.length === 0
                ? `Run "${path} --help" for usage`
                : `Run "${path} --help" for the list of commands`,
            },
          );
        }
        at = found;
      }
      at.help();
    });
}

/** The names of `command`'s subcommands that take the option `flag` (`--lab`, `-n`). */
function subcommandsTaking(command: AnyCommand, flag: string): string[] {
  if (flag === "") return [];
  return command.commands
    .filter((c) => c.options.some((o) => o.long === flag || o.short === flag))
    .map((c) => c.name());
}

/** What {@linkcode usageError} knows of the command beside commander's error. */
export interface UsageContext {
  /**
   * For an unknown option, the subcommands that take it (`vlab fault --lab pair guest-bug …`
   * gave `--lab` to `vlab fault`, whose subcommands take it): the hint then says where it goes.
   */
  takenBy?: readonly string[];
  /**
   * The unknown option is `--lab` and the command takes its lab as the argument `[name]`
   * (`vlab status --lab pair`): the hint says so.
   */
  labIsArgument?: boolean;
  /** The command's usage line (`vlab exec [options] <vm> <workload...>`): a missing argument's hint. */
  usage?: string;
  /**
   * For too many arguments, the arguments as given (commander's message joins them with ", ",
   * which loses an argument that holds one).
   */
  args?: readonly string[];
}

/**
 * The `usage` error for one of commander's errors raised while parsing the arguments of the
 * command `path` (such as `"vlab bench rings"`), with what `context` knows of the command.
 *
 * @example
 * ```ts
 * import { CommanderError } from "@commander-js/extra-typings";
 * import { usageError } from "./usage.ts";
 *
 * const error = new CommanderError(
 *   1,
 *   "commander.unknownOption",
 *   "error: unknown option '--jsn'\n(Did you mean --json?)",
 * );
 * usageError(error, "vlab bench rings").hint; // "Did you mean --json?"
 * ```
 */
export function usageError(
  error: CommanderError,
  path: string,
  context: UsageContext = {},
): VlabError {
  const { takenBy = [], labIsArgument = false, usage } = context;
  const quoted = quotedWord(error.message);
  const suggestion = /\(Did you mean (?:one of )?(.+)\?\)/.exec(error.message)?.[1];
  const helpHint = `Run "${path} --help" for usage`;
  const hint = suggestion === undefined ? helpHint : `Did you mean ${suggestion}?`;
  switch (error.code) {
    case "commander.unknownOption":
      // `vlab exec a ping 10.0.0.2 -c 1`: the workload's own options go after `--`.
      return new VlabError("usage", `Unknown option ${quote(quoted)} for "${path}"`, {
        hint: path === "vlab exec" && suggestion === undefined
          ? `A workload's options go after --, as in \`vlab exec a -- ping 10.0.0.2 -c 3\``
          : labIsArgument
          ? `${path} takes the lab's name as its argument, without --lab: \`${path} NAME\``
          : takenBy.length > 0
          ? `${quoted} goes after the command it is for, as in \`${path} ${
            takenBy[0]
          } ${quoted} …\`` +
            ` (${takenBy.join(", ")} ${takenBy.length === 1 ? "takes" : "take"} it)`
          : hint,
      });
    case "commander.unknownCommand":
      return new VlabError("usage", `Unknown command ${quote(quoted)} for "${path}"`, {
        // The vIOMMU's revocation is the guest's own doing, a workload: not a fault to inject.
        hint: path === "vlab fault" && quoted === "iommu-unmap"
          ? "iommu-unmap is a workload the guest runs: `vlab exec VM -- iommu-unmap NIC`"
          : hint,
      });
    case "commander.optionMissingArgument":
      return new VlabError("usage", `Option ${quote(quoted)} of "${path}" needs a value`, { hint });
    case "commander.missingArgument":
      // The usage line says what goes where (`vlab exec -- ping` took "ping" for the VM).
      return new VlabError("usage", `Missing argument ${quote(quoted)} for "${path}"`, {
        hint: usage === undefined
          ? hint
          : `Usage: ${usage}${
            path === "vlab exec" ? ", as in `vlab exec a -- ping 10.0.0.2 -c 3`" : ""
          }`,
      });
    case "commander.invalidArgument": {
      // `.choices()`: "option '--mode <mode>' argument 'nope' is invalid. Allowed choices are
      // exit, hang, …": two sentences and commander's quotes, in vlab's words instead.
      const m =
        /option '(\S+)[^']*' argument '([\s\S]*)' is invalid\. Allowed choices are (.+?)\.?$/
          .exec(error.message);
      if (m === null) return new VlabError("usage", sentence(error.message), { hint });
      const [, flag, value, list] = m;
      const choices = list.split(", ");
      const near = closestName(value, choices);
      return new VlabError(
        "usage",
        `${flag} must be one of ${choices.join(", ")}, got ${quote(value)}`,
        {
          hint: near === undefined ? `For example ${flag} ${choices[0]}` : `Did you mean ${near}?`,
        },
      );
    }
    case "commander.excessArguments": {
      const extra = context.args ??
        (/got \d+: ([\s\S]*)\.$/.exec(error.message)?.[1] ?? "").split(", ");
      return new VlabError("usage", `Too many arguments for "${path}": ${cut(extra)}`, { hint });
    }
    default:
      return new VlabError("usage", sentence(error.message), { hint });
  }
}

/**
 * The word commander quotes in its message (`error: unknown option '--it's'`, then maybe
 * `\n(Did you mean --json?)`): everything between the first quote and the last one before the
 * suggestion, so a word holding a quote or a newline comes out whole.
 */
function quotedWord(message: string): string {
  const m = /^[^']*'([\s\S]*)'(?:\n\(Did you mean [\s\S]*\?\))?$/.exec(message) ??
    /'([^']*)'/.exec(message);
  return m?.[1] ?? "";
}

/**
 * The command's arguments (`["pair", "star"]`) as a message shows them: each quoted (and cut), the
 * first three only.
 */
function cut(words: readonly string[]): string {
  const shown = words.slice(0, 3).map((w) => quote(w)).join(", ");
  return words.length > 3 ? `${shown}, … (${words.length} in all)` : shown;
}

/** The full name of a command, such as `vlab bench rings`. */
function commandPath(command: AnyCommand): string {
  const names: string[] = [];
  for (let at: AnyCommand | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

function isHelpOrVersion(error: CommanderError): boolean {
  return error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
    error.code === "commander.help";
}

/** Commander's "error: something." as "Something": first line, sentence case, no period. */
function sentence(message: string): string {
  const line = message.split("\n", 1)[0].replace(/^error:\s*/, "").replace(/\.$/, "");
  return line.charAt(0).toUpperCase() + line.slice(1);
}
