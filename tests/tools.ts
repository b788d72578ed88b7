/**
 * The real programs that the end-to-end tests drive, and their installation: the first step of
 * `deno task test`, so that the README's one test command passes on a fresh machine that has only
 * Node.js and npm.
 *
 * For each program missing from PATH it installs the Debian package that provides it with
 * `apt-get` (as root, or through `sudo -n` when that needs no password). Where it cannot, it fails
 * at once with one line that names the packages and the command to install them. Nothing is
 * installed when every program is already there; `VLAB_TEST_NO_INSTALL=1` turns installing off
 * (the check stays).
 *
 * Run by the `test` task: `deno run --allow-run --allow-env --allow-read --allow-sys=uid
 * tests/tools.ts`.
 *
 * @module
 */

/** A program the tests need and the Debian package that provides it. */
export interface TestTool {
  /** The command looked up on PATH. */
  command: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** What the tests use it for. */
  usedFor: string;
}

/** Every program that some test runs. */
export const TEST_TOOLS: readonly TestTool[] = [
  { command: "curl", debianPackage: "curl", usedFor: "a client of the control socket" },
  { command: "tshark", debianPackage: "tshark", usedFor: "reads the pcap files vlab writes" },
  { command: "tmux", debianPackage: "tmux", usedFor: "a real terminal for the dashboard" },
  {
    command: "script",
    debianPackage: "bsdutils",
    usedFor: "the pseudo-terminal `vlab bench net --dashboard` draws into",
  },
  { command: "socat", debianPackage: "socat", usedFor: "a real Unix-socket client" },
  { command: "dot", debianPackage: "graphviz", usedFor: "renders `vlab graph --format dot`" },
  { command: "promtool", debianPackage: "prometheus", usedFor: "checks the /metrics text" },
  { command: "xmllint", debianPackage: "libxml2-utils", usedFor: "checks drill JUnit reports" },
  {
    command: "cc",
    debianPackage: "gcc",
    usedFor: "builds the C ring of `vlab bench rings --vs-c`",
  },
];

/**
 * Whether `command` is an executable file in one of the PATH folders.
 *
 * @example
 * ```ts ignore
 * onPath("sh", "/usr/bin:/bin"); // true
 * ```
 */
export function onPath(command: string, path: string): boolean {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${command}`);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return true;
    } catch {
      // Not in this folder.
    }
  }
  return false;
}

/**
 * The tools of `tools` that are not on `path`.
 *
 * @example
 * ```ts ignore
 * missingTools(TEST_TOOLS, Deno.env.get("PATH") ?? "");
 * ```
 */
export function missingTools(tools: readonly TestTool[], path: string): TestTool[] {
  return tools.filter((t) => !onPath(t.command, path));
}

/**
 * The line printed when the tools cannot be installed; `why` says why not, without naming the
 * tools ("this machine has no apt-get"), so that one tool is "it" and several "them".
 */
export function manualInstallLine(missing: readonly TestTool[], why: string): string {
  const packages = [...new Set(missing.map((t) => t.debianPackage))].join(" ");
  const commands = missing.map((t) => t.command).join(", ");
  const [are, them] = missing.length === 1 ? ["is", "it"] : ["are", "them"];
  return `vlab tests: ${commands} ${are} missing and ${why}; install ${them} with: ` +
    `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages}`;
}

async function succeeds(cmd: string, args: string[]) {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const path = Deno.env.get("PATH") ?? "";
  const missing = missingTools(TEST_TOOLS, path);
  if (missing.length === 0) return 0;
  if (Deno.env.get("VLAB_TEST_NO_INSTALL") === "1") {
    console.error(manualInstallLine(missing, "VLAB_TEST_NO_INSTALL=1 forbids installing"));
    return 1;
  }
  if (!onPath("apt-get", path)) {
    console.error(manualInstallLine(missing, "this machine has no apt-get"));
    return 1;
  }
  let sudo: string[] = [];
  if (Deno.uid() !== 0) {
    if (!onPath("sudo", path) || !(await succeeds("sudo", ["-n", "true"]))) {
      console.error(
        manualInstallLine(missing, "installing needs root (or sudo without a password)"),
      );
      return 1;
    }
    sudo = ["sudo", "-n"];
  }
  const packages = [...new Set(missing.map((t) => t.debianPackage))];
  console.error(`vlab tests: installing ${packages.join(" ")} from Debian's packages`);
  // `env` passes DEBIAN_FRONTEND through sudo, which resets the environment.
  const apt = (args: string[]) => {
    const [cmd, ...rest] = [...sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args];
    return succeeds(cmd, rest);
  };
  const installed = await apt(["update", "-qq"]) &&
    await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  const still = missingTools(TEST_TOOLS, path);
  if (!installed || still.length > 0) {
    console.error(manualInstallLine(still.length > 0 ? still : missing, "apt-get failed"));
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
