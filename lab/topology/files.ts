/**
 * Topology files on disk: the shipped topologies in `topologies/` and reading a file.
 * This is the only module of `lab/topology/` that touches the runtime (`Deno.readTextFile`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { err, type Result } from "../../devices/base/result.ts";
import { MAX_TOPOLOGY_BYTES } from "./limits.ts";
import { parseTopology } from "./load.ts";
import { topologyWarnings } from "./warnings.ts";
import { quote } from "../../devices/base/quote.ts";
import { closestName } from "./issues.ts";
import type { Topology, TopologyIssue } from "./types.ts";
import { ioReason } from "../../devices/base/io_reason.ts";

const SHIPPED = [
  "pair",
  "star",
  "two-switches",
  "split-vs-packed",
  "vsock-pair",
  "iommu-pair",
  "vhost-pci",
] as const;

/**
 * Names of the topologies shipped in `topologies/`.
 *
 * @example
 * ```ts
 * import { shippedTopologies } from "./files.ts";
 * shippedTopologies()[0]; // "pair"
 * ```
 */
export function shippedTopologies(): string[] {
  return [...SHIPPED];
}

/**
 * The file a topology argument names: no argument → the shipped `pair`; a bare shipped name
 * (no "/" and no ".y") → its file in `topologies/`; anything else as given.
 *
 * @example
 * ```ts
 * import { resolveTopologyPath } from "./files.ts";
 * resolveTopologyPath("star").endsWith("topologies/star.yaml"); // true
 * resolveTopologyPath("lab.yaml"); // "lab.yaml"
 * ```
 */
export function resolveTopologyPath(arg: string | undefined): string {
  const name = arg ?? "pair";
  const bare = !name.includes("/") && !name.includes(".y");
  if (bare && (SHIPPED as readonly string[]).includes(name)) {
    return fileURLToPath(new URL(`../../topologies/${name}.yaml`, import.meta.url));
  }
  return name;
}

/**
 * What {@linkcode readBoundedText} reads: its name in messages, its size limit, and the hints
 * for a path that names nothing, no regular file, or a file too large.
 */
export interface TextFileKind {
  /** Its name in messages: `topology file`, `drill file`, `report`. */
  noun: string;
  /** Largest size, bytes. */
  maxBytes: number;
  /** The hint for a path that names nothing. */
  missingHint: string;
  /** The hint for a path that names no regular file (a folder, a FIFO, a device). */
  kindHint: string;
  /** The hint for a file over `maxBytes`. */
  limitHint: string;
}

/** A topology file as {@linkcode readBoundedText} reads it. */
const TOPOLOGY_TEXT: TextFileKind = {
  noun: "topology file",
  maxBytes: MAX_TOPOLOGY_BYTES,
  missingHint: `shipped topologies: ${SHIPPED.join(", ")}`,
  kindHint: "give a YAML file (a regular file)",
  limitHint: "a topology file is at most 1 MiB; split the lab or shorten the file",
};

/**
 * How a topology file that does not exist is read: its hint names the shipped topology the path
 * is closest to (`strat`, `pair.yaml` or `topologies/pair.yaml` from another folder), by the bare
 * name that reads it, before the list of them.
 */
function topologyText(path: string): TextFileKind {
  // `-` is stdin for a drill (`vlab drill run -`), not for a topology: a lab started with -d, or
  // started again, reads its topology file again.
  if (path === "-") {
    return {
      ...TOPOLOGY_TEXT,
      missingHint:
        "a topology is read from a file, not from stdin: save it to a file and give its path, or give a shipped name such as pair",
    };
  }
  // A bare name is a shipped topology; the user's own file of that name needs its extension.
  if (/^[^/.]+$/.test(path)) {
    const file = [`${path}.yaml`, `${path}.yml`].find((f) => {
      try {
        return Deno.statSync(f).isFile;
      } catch {
        return false;
      }
    });
    if (file !== undefined) {
      return {
        ...TOPOLOGY_TEXT,
        missingHint: `did you mean \`${file}\`? A bare name is a shipped topology (${
          SHIPPED.join(", ")
        }); give your file's name with its extension`,
      };
    }
  }
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.ya?ml$/i, "");
  const near = closestName(base, SHIPPED);
  return near === undefined ? TOPOLOGY_TEXT : {
    ...TOPOLOGY_TEXT,
    missingHint: `did you mean \`${near}\`? ${TOPOLOGY_TEXT.missingHint}`,
  };
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "it is a folder";
  if (info.isFifo) return "it is a FIFO";
  if (info.isCharDevice) return "it is a character device";
  if (info.isBlockDevice) return "it is a block device";
  if (info.isSocket) return "it is a socket";
  return "it is not a regular file";
}

/** Whether bytes start as a pcap file does (libpcap's magic, in microseconds or nanoseconds). */
function isPcap(bytes: Uint8Array): boolean {
  if (bytes.length < 24) return false;
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(magic);
}

/**
 * The text of a file, read only when `path` names a regular file of at most `kind.maxBytes` of
 * UTF-8 text: a FIFO would block (it is never opened), `/dev/zero` never ends. Otherwise one
 * issue with no line, code `too-large` or `unreadable` (missing, not a regular file, not
 * readable, binary, not UTF-8), and a hint. UTF-16 with its byte-order mark is read too. Drill
 * files and reports are read with it too.
 *
 * @example
 * ```ts
 * import { readBoundedText } from "./files.ts";
 * const kind = { noun: "notes", maxBytes: 1024, missingHint: "", kindHint: "", limitHint: "" };
 * const r = await readBoundedText("/dev/null", kind);
 * r.ok ? "" : r.error.message; // 'Cannot read notes "/dev/null": it is a character device'
 * ```
 */
export async function readBoundedText(
  path: string,
  kind: TextFileKind,
): Promise<Result<string, TopologyIssue>> {
  const problem = textProblem(`${kind.noun} ${quote(path, 200)}`);
  const limit = limitText(kind);
  let file: Deno.FsFile | null = null;
  try {
    // stat, not open: opening a FIFO blocks until a writer comes.
    const info = await Deno.stat(path);
    if (!info.isFile) return problem(kindOf(info), kind.kindHint);
    if (info.size > kind.maxBytes) {
      return problem(`it is ${info.size} bytes, more than ${limit}`, kind.limitHint, "too-large");
    }
    file = await Deno.open(path, { read: true });
    return await readBoundedFrom(file, kind, problem);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return problem("no such file", kind.missingHint);
    return problem(ioReason(e), "check the path and its permissions");
  } finally {
    file?.close();
  }
}

/**
 * How a text read from stdin is named where a file's path would stand: a drill piped into
 * `vlab drill run -` in its problems (`<stdin>:3:11`), its result's `source` and its lab's
 * recorded source.
 */
export const STDIN_SOURCE = "<stdin>";

/**
 * The text a stream gives (stdin, for `vlab drill run -`), read as {@linkcode readBoundedText}
 * reads a file: at most `kind.maxBytes` of UTF-8 (or UTF-16 with its byte-order mark), never
 * binary; otherwise one issue with no line whose message starts `Cannot read WHAT:` (`what`: such
 * as `the drill file from stdin`) and a hint.
 *
 * @example
 * ```ts
 * import { readBoundedStream } from "./files.ts";
 * const kind = { noun: "notes", maxBytes: 4, missingHint: "", kindHint: "", limitHint: "shorten it" };
 * const stream = ReadableStream.from([new TextEncoder().encode("hello")]);
 * const r = await readBoundedStream(stream, kind, "the notes from stdin");
 * r.ok ? "" : r.error.message; // "Cannot read the notes from stdin: it is more than 4 bytes"
 * ```
 */
export async function readBoundedStream(
  stream: ReadableStream<Uint8Array>,
  kind: TextFileKind,
  what: string,
): Promise<Result<string, TopologyIssue>> {
  const problem = textProblem(what);
  const reader = stream.getReader();
  try {
    let pending: Uint8Array | null = null;
    return await readBoundedFrom(
      {
        read: async (into: Uint8Array): Promise<number | null> => {
          if (pending === null) {
            const next = await reader.read();
            if (next.done) return null;
            pending = next.value;
          }
          const n = Math.min(into.length, pending.length);
          into.set(pending.subarray(0, n));
          pending = n === pending.length ? null : pending.subarray(n);
          return n;
        },
      },
      kind,
      problem,
    );
  } catch (e) {
    return problem(ioReason(e), "check what is piped into it");
  } finally {
    // Past the limit, the rest is left unread: the writer gets EPIPE, as with `head`.
    await reader.cancel().catch(() => {});
  }
}

/** How much {@linkcode readBoundedFrom} reads at a time (bytes). */
const READ_CHUNK = 1024 * 1024;

type TextProblem = (
  reason: string,
  hint: string,
  code?: string,
) => { ok: false; error: TopologyIssue };

/** The problems of one text read: `Cannot read WHAT: reason`, no line, and a hint. */
function textProblem(what: string): TextProblem {
  return (reason, hint, code = "unreadable") =>
    err<TopologyIssue>({
      code,
      path: "",
      line: null,
      column: null,
      message: `Cannot read ${what}: ${reason}`,
      hint,
    });
}

/** `1 MiB` or `1024 bytes`: a kind's size limit, for messages. */
function limitText(kind: TextFileKind): string {
  return kind.maxBytes >= 1024 * 1024
    ? `${kind.maxBytes / (1024 * 1024)} MiB`
    : `${kind.maxBytes} bytes`;
}

/**
 * Read at most one byte past `kind.maxBytes` (a file may have grown since its stat; a stream
 * tells no size) and decode it: UTF-8, or UTF-16 with its byte-order mark; never a pcap or other
 * binary.
 */
async function readBoundedFrom(
  source: { read(into: Uint8Array): Promise<number | null> },
  kind: TextFileKind,
  problem: TextProblem,
): Promise<Result<string, TopologyIssue>> {
  // In chunks, so that what is read takes the memory, not the limit (a report's is 256 MiB).
  const chunks: Uint8Array[] = [];
  let used = 0;
  while (used <= kind.maxBytes) {
    const chunk = new Uint8Array(Math.min(READ_CHUNK, kind.maxBytes + 1 - used));
    const n = await source.read(chunk);
    if (n === null) break;
    chunks.push(chunk.subarray(0, n));
    used += n;
  }
  if (used > kind.maxBytes) {
    return problem(`it is more than ${limitText(kind)}`, kind.limitHint, "too-large");
  }
  const bytes = new Uint8Array(used);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  if (isPcap(bytes)) {
    return problem(
      "it is a packet capture (pcap, as `vlab capture -w` writes), not text",
      `read it with \`tcpdump -r FILE\` or Wireshark; ${kind.kindHint}`,
    );
  }
  // UTF-16 with its byte-order mark is text YAML allows (and what Windows PowerShell's `>`
  // writes); it holds NULs, so it is told apart before the binary check.
  const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe
    ? "utf-16le"
    : bytes[0] === 0xfe && bytes[1] === 0xff
    ? "utf-16be"
    : null;
  if (utf16 === null && bytes.includes(0)) {
    return problem("it is binary, not text", kind.kindHint);
  }
  try {
    return { ok: true, value: new TextDecoder(utf16 ?? "utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return utf16 === null ? problem("it is not UTF-8 text", "save the file as UTF-8") : problem(
      "it is not UTF-16 text, though it starts as UTF-16 does",
      "save the file as UTF-8",
    );
  }
}

/**
 * The text of a topology file, read as {@linkcode loadTopologyFile} reads it: only a regular file
 * of at most {@linkcode MAX_TOPOLOGY_BYTES}, in UTF-8 or UTF-16 with its byte-order mark. Read
 * the file again with this, never `Deno.readTextFile` (which takes UTF-8 only), so that the text
 * is the one the topology was checked from.
 *
 * @example
 * ```ts
 * import { readTopologyText, resolveTopologyPath } from "./files.ts";
 * const r = await readTopologyText(resolveTopologyPath("pair"));
 * r.ok && r.value.includes("name: pair"); // true
 * ```
 */
export async function readTopologyText(path: string): Promise<Result<string, TopologyIssue[]>> {
  const r = await readBoundedText(path, topologyText(path));
  return r.ok ? r : err([r.error]);
}

/**
 * The warnings of a valid topology read from `path` ({@linkcode topologyWarnings}), located in
 * its text; none when the file cannot be read again.
 *
 * @example
 * ```ts
 * import { loadTopologyFile, resolveTopologyPath, topologyFileWarnings } from "./files.ts";
 * const path = resolveTopologyPath("pair");
 * const r = await loadTopologyFile(path);
 * if (r.ok) (await topologyFileWarnings(path, r.value)).length; // 0
 * ```
 */
export async function topologyFileWarnings(
  path: string,
  topology: Topology,
): Promise<TopologyIssue[]> {
  const text = await readTopologyText(path);
  return text.ok ? topologyWarnings(text.value, topology) : [];
}

/**
 * Read and check a topology file. A missing, unreadable, non-regular or binary file is one issue
 * with code `"unreadable"` and no line; a file larger than {@linkcode MAX_TOPOLOGY_BYTES} is one
 * `"too-large"` issue.
 *
 * @example
 * ```ts
 * import { loadTopologyFile, resolveTopologyPath } from "./files.ts";
 * const r = await loadTopologyFile(resolveTopologyPath(undefined));
 * r.ok && r.value.name; // "pair"
 * ```
 */
export async function loadTopologyFile(path: string): Promise<Result<Topology, TopologyIssue[]>> {
  const text = await readTopologyText(path);
  if (!text.ok) return text;
  return parseTopology(text.value, path);
}
