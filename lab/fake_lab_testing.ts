/**
 * A fake lab for tests of the lab's clients (`vlab capture`, `vlab vsock`, `vlab ls`, the control
 * client): this test process plays the lab's process. It holds the lab's folder and lock in the
 * state folder of `VLAB_STATE_DIR` (so the lab is alive: its process is this one), writes its
 * record (`lab.json`, with this process's pid) and, when asked, answers on its control socket as
 * a lab would, with the test's own handler. No worker starts. Test support only; nothing in the
 * lab imports it (`cli/` and `tests/` tests may).
 *
 * @module
 */

import { createLabDir, labPaths, type LabRecord, writeRecord } from "./state.ts";

/** The record of a lab called `name` run by this process (see {@linkcode fakeRecord}). */
export interface FakeRecordOptions {
  /** Its control socket (default: its place in the state folder, `labPaths(name).socket`). */
  socket?: string;
  /** Its topology source (default: its name). */
  source?: string;
  /** When it started (default: now). */
  startedAt?: string;
  /** Its VMs (default 2). */
  vms?: number;
}

/**
 * The record a lab called `name` run by this process would write: this process's pid, its
 * socket in the state folder unless `o.socket` says where.
 *
 * @example
 * ```ts ignore
 * import { fakeRecord } from "./fake_lab_testing.ts";
 * fakeRecord("pair").pid === Deno.pid; // true
 * ```
 */
export function fakeRecord(name: string, o: FakeRecordOptions = {}): LabRecord {
  return {
    name,
    pid: Deno.pid,
    socket: o.socket ?? labPaths(name).socket,
    source: o.source ?? name,
    startedAt: o.startedAt ?? new Date().toISOString(),
    vms: o.vms ?? 2,
  };
}

/** Options of {@linkcode holdFakeLab}: its record's, and how it answers. */
export interface FakeLabOptions extends FakeRecordOptions {
  /** Write its record (default true); false: a lab still starting (its folder and lock only). */
  record?: boolean;
  /** Answer requests on its control socket with this (default: nothing listens there). */
  serve?: (req: Request) => Response | Promise<Response>;
}

/** A lab this process holds (see {@linkcode holdFakeLab}). */
export interface FakeLab {
  /** Its record (written to `lab.json` unless `record: false`). */
  readonly record: LabRecord;
  /** Its folder, record, control socket and marker paths. */
  readonly paths: ReturnType<typeof labPaths>;
  /**
   * Stop answering (waiting for the answers under way) and release the lab: its files, its
   * folder and its lock go. Closing it again does nothing.
   */
  close(): Promise<void>;
}

/**
 * Hold a lab called `name` in the state folder as its process does: its folder and lock, its
 * record (unless `record: false`), and with `serve` a control socket answering with it.
 *
 * @example
 * ```ts ignore
 * import { holdFakeLab } from "./fake_lab_testing.ts";
 * const lab = holdFakeLab("fake", { serve: () => Response.json({ vms: [] }) });
 * try {
 *   // run `vlab status` against it
 * } finally {
 *   await lab.close();
 * }
 * ```
 */
export function holdFakeLab(name: string, o: FakeLabOptions = {}): FakeLab {
  const hold = createLabDir(name);
  const paths = labPaths(name);
  const record = fakeRecord(name, o);
  let server: Deno.HttpServer | null = null;
  try {
    if (o.record ?? true) writeRecord(record);
    if (o.serve !== undefined) {
      server = Deno.serve({ path: record.socket, onListen: () => {} }, o.serve);
    }
  } catch (e) {
    hold.release();
    throw e;
  }
  let closing: Promise<void> | null = null;
  return {
    record,
    paths,
    close: () =>
      closing ??= (async () => {
        try {
          await server?.shutdown();
        } finally {
          hold.release();
        }
      })(),
  };
}
