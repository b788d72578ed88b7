/**
 * Parse the argv a user types after `vlab exec VM --` into a `WorkloadRequest`. Bad input is a
 * `Result` error with a one-line message and a hint (usage, or "did you mean"), never a throw.
 *
 * ```
 * ping DST [-c COUNT=3] [-i INTERVAL_S=1] [-s SIZE=56] [-W TIMEOUT_S=1]
 * udp-echo [-p PORT=7] [-t SECONDS]                      (no -t or -t 0: until stopped)
 * udp-flood DST [-p PORT=9] [-s FRAME_BYTES=64] [-r PPS | --max] [-t SECONDS=1 | -n COUNT]
 * sink [-p PORT=9] [-t SECONDS=1] [-n COUNT]              (-t 0: until stopped; -n: until COUNT)
 * vsock-echo [-p PORT=7] [-t SECONDS]                    (no -t or -t 0: until stopped)
 * vsock-send CID PORT [-b BYTES=1048576] [--chunk N=65536]
 * vsock-sink [-p PORT=5000] [-t SECONDS=10]                (-t 0: until stopped)
 * iommu-unmap NIC
 * ```
 *
 * @module
 */

import { err, ok, type Result } from "../../../devices/base/result.ts";
import { parseIpv4Address } from "../net/ipv4.ts";
import { quote } from "../../../devices/base/quote.ts";
import { VSOCK_PORT_MAX } from "../../../devices/vsock/config.ts";

/**
 * A parsed workload invocation.
 *
 * @example
 * ```ts
 * import type { WorkloadRequest } from "./args.ts";
 * const r: WorkloadRequest = { kind: "sink", port: 9, seconds: 1, count: null };
 * ```
 */
export type WorkloadRequest =
  | { kind: "ping"; dst: number; count: number; intervalS: number; size: number; timeoutS: number }
  | { kind: "udp-echo"; port: number; seconds: number | null }
  | {
    kind: "udp-flood";
    dst: number;
    port: number;
    frameSize: number;
    /** Null: as fast as the TX ring allows (`--max`). */
    ratePps: number | null;
    seconds: number | null;
    count: number | null;
  }
  | { kind: "sink"; port: number; seconds: number | null; count: number | null }
  | { kind: "vsock-echo"; port: number; seconds: number | null }
  | { kind: "vsock-send"; cid: number; port: number; bytes: number; chunk: number }
  | { kind: "vsock-sink"; port: number; seconds: number | null }
  | { kind: "iommu-unmap"; device: string };

/**
 * The `ping` request.
 *
 * @example
 * ```ts
 * import type { PingRequest } from "./args.ts";
 * const r: PingRequest = { kind: "ping", dst: 0x0a000002, count: 3, intervalS: 1, size: 56, timeoutS: 1 };
 * ```
 */
export type PingRequest = Extract<WorkloadRequest, { kind: "ping" }>;

/**
 * The `udp-echo` request.
 *
 * @example
 * ```ts
 * import type { UdpEchoRequest } from "./args.ts";
 * const r: UdpEchoRequest = { kind: "udp-echo", port: 7, seconds: null };
 * ```
 */
export type UdpEchoRequest = Extract<WorkloadRequest, { kind: "udp-echo" }>;

/**
 * The `udp-flood` request.
 *
 * @example
 * ```ts
 * import type { UdpFloodRequest } from "./args.ts";
 * const r: UdpFloodRequest = { kind: "udp-flood", dst: 0x0a000002, port: 9, frameSize: 64, ratePps: null, seconds: 1, count: null };
 * ```
 */
export type UdpFloodRequest = Extract<WorkloadRequest, { kind: "udp-flood" }>;

/**
 * The `sink` request.
 *
 * @example
 * ```ts
 * import type { SinkRequest } from "./args.ts";
 * const r: SinkRequest = { kind: "sink", port: 9, seconds: 1, count: null };
 * ```
 */
export type SinkRequest = Extract<WorkloadRequest, { kind: "sink" }>;

/**
 * A bad invocation, for the CLI to print.
 *
 * @example
 * ```ts
 * import type { ArgsError } from "./args.ts";
 * const e: ArgsError = { message: "Missing workload name", hint: "Workloads: ping" };
 * ```
 */
export interface ArgsError {
  message: string;
  hint: string;
}

/**
 * The usage line of each workload.
 *
 * @example
 * ```ts
 * import { USAGE } from "./args.ts";
 * USAGE.ping; // "ping DST [-c COUNT=3] [-i INTERVAL_S=1] [-s SIZE=56] [-W TIMEOUT_S=1]"
 * ```
 */
export const USAGE = {
  "ping": "ping DST [-c COUNT=3] [-i INTERVAL_S=1] [-s SIZE=56] [-W TIMEOUT_S=1]",
  "udp-echo": "udp-echo [-p PORT=7] [-t SECONDS (default, and 0: until stopped)]",
  "udp-flood":
    "udp-flood DST [-p PORT=9] [-s FRAME_BYTES=64] [-r PPS | --max] [-t SECONDS=1 | -n COUNT]",
  "sink":
    "sink [-p PORT=9] [-t SECONDS=1; 0 = until stopped] [-n COUNT: end at the COUNTth datagram, duplicates aside; no -t then: no time limit]",
  "vsock-echo": "vsock-echo [-p PORT=7] [-t SECONDS (default, and 0: until stopped)]",
  "vsock-send": "vsock-send CID PORT [-b BYTES=1048576] [--chunk N=65536]",
  "vsock-sink": "vsock-sink [-p PORT=5000] [-t SECONDS=10; 0 = until stopped]",
  "iommu-unmap": "iommu-unmap NIC",
} as const;

type Name = keyof typeof USAGE;
const NAMES = Object.keys(USAGE) as Name[];

interface Spec {
  /** Flags taking a value, short and long spellings mapped to a key. */
  values: Record<string, string>;
  /** Flags without a value. */
  switches: Record<string, string>;
  positionals: number;
}

const SPECS: Record<Name, Spec> = {
  "ping": {
    values: {
      "-c": "c",
      "--count": "c",
      "-i": "i",
      "--interval": "i",
      "-s": "s",
      "--size": "s",
      "-W": "W",
      "--timeout": "W",
    },
    switches: {},
    positionals: 1,
  },
  "udp-echo": {
    values: { "-p": "p", "--port": "p", "-t": "t", "--time": "t" },
    switches: {},
    positionals: 0,
  },
  "udp-flood": {
    values: {
      "-p": "p",
      "--port": "p",
      "-s": "s",
      "--size": "s",
      "-r": "r",
      "--rate": "r",
      "-t": "t",
      "--time": "t",
      "-n": "n",
      "--count": "n",
    },
    switches: { "--max": "max" },
    positionals: 1,
  },
  "sink": {
    values: { "-p": "p", "--port": "p", "-t": "t", "--time": "t", "-n": "n", "--count": "n" },
    switches: {},
    positionals: 0,
  },
  "vsock-echo": {
    values: { "-p": "p", "--port": "p", "-t": "t", "--time": "t" },
    switches: {},
    positionals: 0,
  },
  "vsock-send": {
    values: { "-b": "b", "--bytes": "b", "--chunk": "chunk" },
    switches: {},
    positionals: 2,
  },
  "vsock-sink": {
    values: { "-p": "p", "--port": "p", "-t": "t", "--time": "t" },
    switches: {},
    positionals: 0,
  },
  "iommu-unmap": { values: {}, switches: {}, positionals: 1 },
};

type Parsed = { flags: Map<string, string>; switches: Set<string>; positionals: string[] };

/**
 * Parse `argv` (the workload name first) into a request.
 *
 * @example
 * ```ts
 * import { parseWorkload } from "./args.ts";
 * const r = parseWorkload(["ping", "10.0.0.2", "-c", "5"]);
 * r.ok && r.value.kind === "ping" && r.value.count; // 5
 * ```
 */
export function parseWorkload(argv: string[]): Result<WorkloadRequest, ArgsError> {
  const name = argv[0];
  if (name === undefined || name === "") {
    return err({ message: "Missing workload name", hint: `Workloads: ${NAMES.join(", ")}` });
  }
  // A name from outside: `toString` and `__proto__` are names too, so only own keys count.
  if (!Object.hasOwn(USAGE, name)) {
    return err({ message: `Unknown workload ${shown(name)}`, hint: unknownNameHint(argv) });
  }
  const w = name as Name;
  const parsed = tokenize(w, argv.slice(1));
  if (!parsed.ok) return parsed;
  const p = new Fields(w, parsed.value);
  const r = build(w, p);
  return p.error !== null ? err(p.error) : ok(r);
}

/**
 * The hint for `argv` whose first word is no workload's name: the words of a workload written as
 * one string (`["ping 10.0.0.2"]`, as a script may pass them), the `--` of
 * `vlab exec VM -- ping …` copied in front, else the nearest name (capitals aside) and the list.
 */
function unknownNameHint(argv: readonly string[]): string {
  const name = argv[0];
  const words = name.trim().split(/\s+/);
  if (words.length > 1 && Object.hasOwn(USAGE, words[0])) {
    const each = words.slice(0, 8).map((w) => shown(w)).join(", ");
    return `Each word is an argument of its own: ${each}${
      words.length > 8 ? ", …" : ""
    }, not one with spaces`;
  }
  if (name === "--" && argv.length > 1 && Object.hasOwn(USAGE, argv[1])) {
    return `Leave the "--" out: the words start at the workload's name, ${shown(argv[1])}`;
  }
  // A long word is near no name, and its distances would cost the guest a second at 1 MB.
  const near = name.length <= 32 ? nearestName(name.toLowerCase()) : null;
  const guess = near !== null && near.distance <= 3 ? `Did you mean "${near.name}"? ` : "";
  return `${guess}Workloads: ${NAMES.join(", ")}`;
}

/**
 * The workload name nearest to a misspelt one by edit distance (the first of equals). Written
 * here rather than taken from the npm package the topology checker uses: an npm import makes
 * every guest worker start Deno's Node compatibility layer (26 ms of CPU and 4 MiB per worker,
 * docs/performance.md, "A 64-VM lab up").
 */
function nearestName(word: string): { name: Name; distance: number } {
  let best = { name: NAMES[0], distance: Infinity };
  for (const name of NAMES) {
    const d = editDistance(word, name);
    if (d < best.distance) best = { name, distance: d };
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(substitute, row[j] + 1, next[j - 1] + 1));
    }
    row = next;
  }
  return row[b.length];
}

/** `vlab exec`'s own options, which a user may write after the `--` by mistake. */
const EXEC_OPTIONS = new Set(["--json", "--lab"]);

function tokenize(w: Name, args: string[]): Result<Parsed, ArgsError> {
  const spec = SPECS[w];
  const out: Parsed = { flags: new Map(), switches: new Set(), positionals: [] };
  const fail = (message: string) => err({ message, hint: `Usage: ${USAGE[w]}` });
  // An option given twice is refused (which value was meant is unknown), as the CLI's are.
  const set = (typed: string, key: string, value: string) => {
    const before = out.flags.get(key);
    if (before === undefined) {
      out.flags.set(key, value);
      return null;
    }
    return err({
      message: `Cannot run ${w}: ${typed} is given twice (${shown(before)}, then ${shown(value)})`,
      hint: `Give ${typed} once, with the value you mean`,
    });
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (Object.hasOwn(spec.switches, flag)) {
      out.switches.add(spec.switches[flag]);
    } else if (Object.hasOwn(spec.values, flag)) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) return fail(`Cannot run ${w}: ${flag} needs a value`);
      const twice = set(flag, spec.values[flag], v);
      if (twice !== null) return twice;
    } else if (/^-[a-zA-Z]./.test(a) && Object.hasOwn(spec.values, a.slice(0, 2))) {
      const twice = set(a.slice(0, 2), spec.values[a.slice(0, 2)], a.slice(2)); // -c5
      if (twice !== null) return twice;
    } else if (EXEC_OPTIONS.has(flag)) {
      // `vlab exec a -- ping … --json`: the command's option, given after the workload's words.
      return err({
        message: `Cannot run ${w}: unknown option ${shown(a)}`,
        // `--lab` takes the lab's name, not the VM's: show it with its value.
        hint: `${flag} is vlab exec's own option: put it before the -- (vlab exec ${
          flag === "--lab" ? "--lab LAB" : flag
        } VM -- ${w} …)`,
      });
    } else if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) {
      return fail(`Cannot run ${w}: unknown option ${shown(a)}`);
    } else {
      out.positionals.push(a);
    }
  }
  if (out.positionals.length > spec.positionals) {
    return fail(`Cannot run ${w}: unexpected argument ${shown(out.positionals[spec.positionals])}`);
  }
  return ok(out);
}

/**
 * A word from outside (a workload's argument) as a message shows it: in double quotes, cut after
 * 64 characters, control characters escaped (`"\x1b[2J"`, as every message's {@linkcode quote}),
 * so a word never reaches a terminal raw or at any length.
 */
function shown(word: string): string {
  return quote(word, 64);
}

/** A flag as typed: `-b` for a one-letter key, `--chunk` for a long one. */
function flagName(key: string): string {
  return key.length > 1 ? `--${key}` : `-${key}`;
}

/** Typed field readers that record the first error. */
class Fields {
  error: ArgsError | null = null;
  constructor(readonly w: Name, readonly p: Parsed) {}

  fail(message: string): void {
    this.error ??= { message: `Cannot run ${this.w}: ${message}`, hint: `Usage: ${USAGE[this.w]}` };
  }

  has(key: string): boolean {
    return this.p.flags.has(key);
  }

  num(key: string, what: string, def: number, min: number, max: number, integer: boolean): number {
    const text = this.p.flags.get(key);
    if (text === undefined) return def;
    const v = Number(text);
    // An integer is written in decimal digits, as iputils reads `-c` (strtol, base 10): Number()
    // took "0x10" for 16 pings, "1e3" for 1000 bytes and "2.0" for 2.
    const digits = /^\s*-?[0-9]+\s*$/.test(text);
    if (text.trim() === "" || !Number.isFinite(v) || (integer && !digits)) {
      this.fail(
        `${flagName(key)} needs ${integer ? "an integer" : "a number"} ${what}, got ${shown(text)}`,
      );
      return def;
    }
    if (v < min || v > max) {
      this.fail(`${flagName(key)} ${what} must be between ${min} and ${max}, got ${text.trim()}`);
      return def;
    }
    return v;
  }

  /**
   * A receiving workload's `-t` (sink, udp-echo, vsock-echo, vsock-sink): seconds, with 0 for
   * "until stopped" (null), as every one of them takes it; `def` when `-t` is not given.
   */
  untilStopped(def: number | null): number | null {
    if (!this.has("t")) return def;
    const seconds = this.num("t", "duration (seconds, 0 = until stopped)", 0, 0, 86400, false);
    return seconds === 0 ? null : seconds;
  }

  /** Positional `i` as an integer in [min, max]. */
  int(i: number, what: string, min: number, max: number): number {
    const text = this.p.positionals[i];
    if (text === undefined) {
      this.fail(`missing ${what}`);
      return min;
    }
    const v = Number(text);
    if (!/^\d+$/.test(text) || v < min || v > max) {
      this.fail(`${what} must be an integer between ${min} and ${max}, got ${shown(text)}`);
      return min;
    }
    return v;
  }

  dst(): number {
    const text = this.p.positionals[0];
    if (text === undefined) {
      this.fail("missing destination address DST");
      return 0;
    }
    const ip = parseIpv4Address(text);
    if (ip === null) {
      this.fail(`destination must be an IPv4 address like 10.0.0.2, got ${shown(text)}`);
    }
    return ip ?? 0;
  }
}

function build(w: Name, f: Fields): WorkloadRequest {
  switch (w) {
    case "ping":
      return {
        kind: "ping",
        dst: f.dst(),
        count: f.num("c", "count", 3, 1, 1_000_000, true),
        intervalS: f.num("i", "interval (seconds)", 1, 0.001, 3600, false),
        size: f.num("s", "payload size", 56, 0, 65507, true),
        timeoutS: f.num("W", "timeout (seconds)", 1, 0.001, 3600, false),
      };
    case "udp-echo":
      return {
        kind: "udp-echo",
        port: f.num("p", "port", 7, 1, 65535, true),
        seconds: f.untilStopped(null),
      };
    case "udp-flood": {
      const max = f.p.switches.has("max");
      if (max && f.has("r")) f.fail("-r and --max cannot be combined");
      if (f.has("t") && f.has("n")) f.fail("-t and -n cannot be combined");
      const count = f.has("n") ? f.num("n", "count", 1, 1, 1e12, true) : null;
      return {
        kind: "udp-flood",
        dst: f.dst(),
        port: f.num("p", "port", 9, 1, 65535, true),
        frameSize: f.num("s", "frame size (Ethernet bytes)", 64, 60, 65535, true),
        ratePps: f.has("r") ? f.num("r", "rate (packets per second)", 1, 0.001, 1e9, false) : null,
        seconds: count === null ? f.num("t", "duration (seconds)", 1, 0.001, 86400, false) : null,
        count,
      };
    }
    case "vsock-echo":
      return {
        kind: "vsock-echo",
        port: f.num("p", "port", 7, 0, VSOCK_PORT_MAX, true),
        seconds: f.untilStopped(null),
      };
    case "vsock-send":
      return {
        kind: "vsock-send",
        cid: f.int(0, "destination CID", 2, 0xffff_fffe),
        port: f.int(1, "destination PORT", 0, VSOCK_PORT_MAX),
        bytes: f.num("b", "byte count", 1 << 20, 1, 2 ** 40, true),
        chunk: f.num("chunk", "write size (bytes)", 65536, 1, 1 << 20, true),
      };
    case "vsock-sink":
      return {
        kind: "vsock-sink",
        port: f.num("p", "port", 5000, 0, VSOCK_PORT_MAX, true),
        seconds: f.untilStopped(10),
      };
    case "iommu-unmap": {
      const device = f.p.positionals[0];
      if (device === undefined) f.fail("missing the NIC whose DMA window to revoke");
      return { kind: "iommu-unmap", device: device ?? "" };
    }
    case "sink": {
      // With -n the sink ends on the COUNTth datagram; -t then bounds the wait only if given.
      const count = f.has("n") ? f.num("n", "count", 1, 1, 1e12, true) : null;
      return {
        kind: "sink",
        port: f.num("p", "port", 9, 1, 65535, true),
        seconds: f.untilStopped(count !== null ? null : 1),
        count,
      };
    }
  }
}
