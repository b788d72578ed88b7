/**
 * Where a lab's workers load their code from: one JavaScript bundle per worker entry (guest,
 * device, switch, vsock router) that `deno bundle` builds once into a cache directory, or the
 * TypeScript sources when no bundle can be had.
 *
 * Why: a worker started from the sources loads its module graph one module at a time (67 modules
 * for a net-only guest, 58 for a device worker), and a 64-VM lab starts 128 such workers. From
 * one file per worker, the same lab came up in 2.9–3.7 s instead of 4.2–5.1 s (`vlab bench net`,
 * medians of three labs, alternated runs), and its process used 9–10 s of CPU instead of 21–23
 * (docs/performance.md, "Workers from bundles").
 *
 * The cache is keyed by the sources: a SHA-256 over every non-test `.ts` file under `lab/` and
 * `devices/`, `deno.json` and `deno.lock`, the Deno version and {@linkcode BUNDLE_FORMAT}, so an
 * edited source gets a new bundle at the next lab start and a stale bundle is never run. A
 * bundle is built in a private directory and renamed into place, so labs starting at once in
 * several processes each see a whole bundle or none. A process holds a shared lock on the set it
 * uses until it exits, and old sets (beyond the four newest) are removed only when nobody holds
 * them: a lab that runs for days still finds its bundles when it restarts a backend. Each bundle
 * has linked source maps: a stack trace from a worker names the TypeScript file and line.
 *
 * Sources are used instead, with the reason in {@linkcode WorkerEntries.reason}, when
 * `VLAB_BUNDLE=0`, when the sources are not local files, when the process lacks a permission
 * bundling needs (read, write, env, run: none is ever prompted for), or when `deno bundle` fails
 * or takes longer than its timeout (it fetches esbuild from the npm registry on first use).
 * Deno 2.9 calls `deno bundle` experimental: the Deno version is part of the key, so another Deno
 * builds its own bundles (and one whose `deno bundle` fails leaves labs on their sources); the lab
 * tests run every kind from bundles, so a bundle that builds but does not run would fail them.
 *
 * @module
 */

import { fileURLToPath, pathToFileURL } from "node:url";
import { ioReason } from "../devices/base/io_reason.ts";
import { envFolder } from "./env_knobs.ts";

/** The lab's worker entries. */
export type WorkerEntry = "guest" | "device" | "switch" | "vsockRouter";

/** Each entry's source, relative to `lab/`. */
const ENTRY_SOURCES: Readonly<Record<WorkerEntry, string>> = {
  guest: "guest/worker.ts",
  device: "host/device_worker.ts",
  switch: "host/switch_worker.ts",
  vsockRouter: "host/vsock_router_worker.ts",
};

/** Bumped when the way bundles are built changes, so that older cached bundles are not reused. */
export const BUNDLE_FORMAT = 1;

/** Cached bundle sets kept besides the one built last (older ones are removed unless in use). */
const KEEP_OLD_BUNDLES = 4;

/** The file that marks a cached bundle set as whole. */
const COMPLETE = "complete.json";

/**
 * The file of a bundle set that every process using the set holds a shared lock on, for as long
 * as it lives: a lab spawns workers from its set long after its start (backend restarts), so
 * {@linkcode prune} removes only sets whose exclusive lock it can take. The kernel drops a
 * process's locks when it ends, however it ends.
 */
const IN_USE = "in-use.lock";

/** The sets this process holds (`IN_USE` locked shared), by directory. */
const held = new Map<string, Deno.FsFile>();

/** Where the workers' code comes from. */
export interface WorkerEntries {
  /** Each entry's module URL. */
  urls: Readonly<Record<WorkerEntry, URL>>;
  /** True if the URLs are bundles. */
  bundled: boolean;
  /** Why the sources are used (absent when bundled, or when `VLAB_BUNDLE=0` asked for them). */
  reason?: string;
  /** Time spent finding or building the bundles, ms (the lab-up event reports it as `workersMs`). */
  ms: number;
}

/** Options of {@linkcode findWorkerEntries} (tests replace the defaults). */
export interface WorkerEntriesOptions {
  /** The project's root (holds `lab/`, `devices/`, `deno.json`). */
  root?: URL;
  /** The bundle cache (default `$VLAB_CACHE_DIR`, else `$XDG_CACHE_HOME/vlab`, else `~/.cache/vlab`). */
  cacheDir?: string;
  /** The `deno` executable (default: this process's). */
  deno?: string;
  /**
   * Longest a `deno bundle` may take, ms (default 60,000: well inside the 120 s that `vlab up -d`
   * waits for a lab).
   */
  timeoutMs?: number;
}

const ROOT = new URL("../", import.meta.url);

/**
 * The sources' URLs, as a worker started without a bundle loads them.
 *
 * @example
 * ```ts
 * import { sourceEntries } from "./worker_entries.ts";
 * sourceEntries().guest.pathname.endsWith("/lab/guest/worker.ts"); // true
 * ```
 */
export function sourceEntries(root: URL = ROOT): Record<WorkerEntry, URL> {
  return mapEntries((src) => new URL(`lab/${src}`, root));
}

function mapEntries(f: (src: string) => URL): Record<WorkerEntry, URL> {
  return {
    guest: f(ENTRY_SOURCES.guest),
    device: f(ENTRY_SOURCES.device),
    switch: f(ENTRY_SOURCES.switch),
    vsockRouter: f(ENTRY_SOURCES.vsockRouter),
  };
}

let shared: Promise<WorkerEntries> | undefined;

/**
 * The workers' entries for this process: found (or built) once, then reused by every lab.
 *
 * @example
 * ```ts ignore
 * import { workerEntries } from "./worker_entries.ts";
 * const entries = await workerEntries();
 * new Worker(entries.urls.guest, { type: "module" });
 * ```
 */
export function workerEntries(): Promise<WorkerEntries> {
  shared ??= findWorkerEntries();
  return shared;
}

/**
 * Find the cached bundles of the current sources, building them if there are none; the sources'
 * URLs (and why) if that cannot be done. Never throws.
 *
 * @example
 * ```ts ignore
 * import { findWorkerEntries } from "./worker_entries.ts";
 * const e = await findWorkerEntries({ cacheDir: "/tmp/vlab-cache" });
 * console.log(e.bundled ? "bundles" : `sources: ${e.reason}`);
 * ```
 */
export async function findWorkerEntries(
  options: WorkerEntriesOptions = {},
): Promise<WorkerEntries> {
  const t0 = performance.now();
  const root = options.root ?? ROOT;
  const sources = (reason?: string): WorkerEntries => ({
    urls: sourceEntries(root),
    bundled: false,
    ...(reason === undefined ? {} : { reason }),
    ms: performance.now() - t0,
  });
  if (root.protocol !== "file:") return sources("the sources are not local files");
  const rootPath = fileURLToPath(root).replace(/\/$/, "");
  if (!granted({ name: "env" })) return sources("no permission to read the environment");
  // Trimmed, as envKnobError reads it: " 0" passed that check and was then bundled.
  if (Deno.env.get("VLAB_BUNDLE")?.trim() === "0") return sources();
  const cacheDir = options.cacheDir ?? bundleCacheDir();
  if (cacheDir === null) return sources("no cache directory (set VLAB_CACHE_DIR or HOME)");
  const deno = options.deno ?? Deno.execPath();
  if (!granted({ name: "read", path: rootPath }) || !granted({ name: "read", path: cacheDir })) {
    return sources("no permission to read the sources or the bundle cache");
  }
  if (!granted({ name: "write", path: cacheDir })) {
    return sources(`no permission to write the bundle cache ${cacheDir}`);
  }
  if (!granted({ name: "run", command: deno })) {
    return sources("no permission to run deno bundle");
  }
  try {
    const key = await sourceKey(rootPath);
    const dir = `${cacheDir}/workers/${key}`;
    // Twice at most: a set pruned by another process between our look and our lock is rebuilt.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!(await isComplete(dir, key))) {
        await build(rootPath, cacheDir, dir, key, deno, options.timeoutMs ?? 60_000);
        await prune(`${cacheDir}/workers`, key);
      }
      if (!(await holdSet(dir, key))) continue;
      const base = pathToFileURL(`${dir}/`);
      return {
        urls: mapEntries((src) => new URL(src.replace(/\.ts$/, ".js"), base)),
        bundled: true,
        ms: performance.now() - t0,
      };
    }
    throw new Error(`the bundle set ${dir} was removed as it was being used`);
  } catch (e) {
    // Deno's words for a cache under /dev, /proc or /sys ask to "run again with the --allow-all
    // flag", which the vlab task cannot be given: vlab's words, and the folder.
    if (e instanceof Deno.errors.NotCapable) return sources(`${ioReason(e)}: ${cacheDir}`);
    return sources(e instanceof Error ? e.message : String(e));
  }
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The bundle cache when a caller names none: `$VLAB_CACHE_DIR` (a relative one taken from the
 * current folder), else `$XDG_CACHE_HOME/vlab` (an absolute one: the XDG spec has a relative one
 * ignored), else `~/.cache/vlab`, else null. A blank variable counts as unset (`envFolder`):
 * `VLAB_CACHE_DIR=" "` built the bundles in a folder named " " in the current folder.
 *
 * @example
 * ```ts ignore
 * Deno.env.set("VLAB_CACHE_DIR", " ");
 * bundleCacheDir(); // `${HOME}/.cache/vlab` (with XDG_CACHE_HOME unset)
 * ```
 */
export function bundleCacheDir(): string | null {
  const own = envFolder("VLAB_CACHE_DIR", "cwd");
  if (own !== undefined) return own;
  const xdg = envFolder("XDG_CACHE_HOME", "ignore");
  if (xdg !== undefined) return `${xdg}/vlab`;
  const home = envFolder("HOME", "cwd");
  return home === undefined ? null : `${home}/.cache/vlab`;
}

/**
 * The cache key of the sources under `rootPath`: hex SHA-256 (first 32 digits) over the bundle
 * format, the Deno version, `deno.json`, `deno.lock` (if any) and every non-test `.ts` file under
 * `lab/` and `devices/`
 * (path and contents, in path order).
 *
 * @example
 * ```ts ignore
 * import { sourceKey } from "./worker_entries.ts";
 * console.log(await sourceKey("/work/vlab")); // "3f1c…"
 * ```
 */
export async function sourceKey(rootPath: string): Promise<string> {
  const files = ["deno.json"];
  // The lock file too, should a worker ever bundle an npm package (none does today).
  if (await Deno.stat(`${rootPath}/deno.lock`).then(() => true, () => false)) {
    files.push("deno.lock");
  }
  for (const top of ["lab", "devices"]) await collect(rootPath, top, files);
  files.sort();
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [
    enc.encode(`vlab-bundle ${BUNDLE_FORMAT} deno ${Deno.version.deno}\0`),
  ];
  const contents = await Promise.all(files.map((f) => Deno.readFile(`${rootPath}/${f}`)));
  files.forEach((f, i) => parts.push(enc.encode(`${f}\0`), contents[i], enc.encode("\0")));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function collect(rootPath: string, rel: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(`${rootPath}/${rel}`)) {
    const path = `${rel}/${e.name}`;
    if (e.isDirectory) {
      if (e.name !== "testdata") await collect(rootPath, path, out);
    } else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      out.push(path);
    }
  }
}

/**
 * Lock set `dir` shared for the rest of the process (blocking only while a pruner holds it), then
 * check that it is still whole; false if it is gone or no longer whole.
 */
async function holdSet(dir: string, key: string): Promise<boolean> {
  if (held.has(dir)) return true;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${dir}/${IN_USE}`, { read: true, write: true, create: true });
  } catch {
    return false; // removed meanwhile
  }
  await file.lock(false);
  if (!(await isComplete(dir, key))) {
    file.close();
    return false;
  }
  held.set(dir, file);
  return true;
}

/**
 * Drop the locks this process holds on its bundle sets. For tests (their resource checks count
 * the open lock files); a lab's process keeps its locks until it exits.
 *
 * @example
 * ```ts ignore
 * import { releaseBundleSets } from "./worker_entries.ts";
 * releaseBundleSets();
 * ```
 */
export function releaseBundleSets(): void {
  for (const file of held.values()) file.close();
  held.clear();
}

async function isComplete(dir: string, key: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await Deno.readTextFile(`${dir}/${COMPLETE}`));
    return marker.key === key;
  } catch {
    return false;
  }
}

/** Bundle the entries into a private directory, mark it whole, and rename it to `dir`. */
async function build(
  rootPath: string,
  cacheDir: string,
  dir: string,
  key: string,
  deno: string,
  timeoutMs: number,
): Promise<void> {
  await Deno.mkdir(`${cacheDir}/workers`, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: `${cacheDir}/workers`, prefix: `.tmp-${key}-` });
  const timeout = AbortSignal.timeout(timeoutMs);
  const tooLong = () => new Error(`deno bundle took longer than ${timeoutMs} ms`);
  try {
    const out = await new Deno.Command(deno, {
      args: [
        "bundle",
        "--quiet",
        "--outdir",
        tmp,
        "--sourcemap",
        "linked",
        ...Object.values(ENTRY_SOURCES).map((src) => `lab/${src}`),
      ],
      cwd: rootPath,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: timeout,
    }).output().catch((e) => {
      throw timeout.aborted ? tooLong() : e;
    });
    if (!out.success) {
      if (timeout.aborted) throw tooLong();
      // One line for the reason: the error's, without colour codes (or warnings before it).
      // deno-lint-ignore no-control-regex
      const colour = /\x1b\[[0-9;]*m/g; // NO_COLOR leaves none, unless a Deno ignores it
      const lines = new TextDecoder().decode(out.stderr).replace(colour, "").trim().split("\n");
      const why = lines.find((l) => /error/i.test(l)) ?? lines[0] ?? "";
      throw new Error(`deno bundle failed${why ? `: ${why}` : ` (exit ${out.code})`}`);
    }
    for (const src of Object.values(ENTRY_SOURCES)) {
      const js = `${tmp}/${src.replace(/\.ts$/, ".js")}`;
      try {
        await Deno.stat(js);
      } catch {
        throw new Error(`deno bundle wrote no ${src.replace(/\.ts$/, ".js")}`);
      }
    }
    await Deno.writeTextFile(`${tmp}/${COMPLETE}`, JSON.stringify({ key }));
    // A set under this key without its marker was damaged outside the lab: replace it.
    if (!(await isComplete(dir, key))) {
      held.get(dir)?.close(); // our lock on it goes with it
      held.delete(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // Another process published the same key first: theirs is as good as ours.
      if (!(await isComplete(dir, key))) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Remove bundle set `dir` unless a process uses it: under its exclusive lock, the marker first (a
 * process that locks the set after us finds it incomplete and builds anew), then the rest.
 */
async function removeUnused(dir: string): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${dir}/${IN_USE}`, { read: true, write: true, create: true });
  } catch {
    return;
  }
  try {
    if (!file.tryLockSync(true)) return; // a running lab's set
    await Deno.remove(`${dir}/${COMPLETE}`).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  } finally {
    file.close();
  }
}

/** Remove all but the newest {@linkcode KEEP_OLD_BUNDLES} other bundle sets, and old leftovers. */
async function prune(workers: string, keep: string): Promise<void> {
  try {
    const sets: { name: string; mtime: number }[] = [];
    for await (const e of Deno.readDir(workers)) {
      if (!e.isDirectory || e.name === keep) continue;
      const mtime = (await Deno.stat(`${workers}/${e.name}`)).mtime?.getTime() ?? 0;
      if (e.name.startsWith(".tmp-")) {
        // Another process's build in progress, or one that died: removed once an hour old.
        if (Date.now() - mtime > 3_600_000) {
          await Deno.remove(`${workers}/${e.name}`, { recursive: true }).catch(() => {});
        }
        continue;
      }
      sets.push({ name: e.name, mtime });
    }
    sets.sort((x, y) => y.mtime - x.mtime);
    for (const s of sets.slice(KEEP_OLD_BUNDLES)) await removeUnused(`${workers}/${s.name}`);
  } catch {
    // Pruning is housekeeping: a failure costs disk space, not the lab.
  }
}
