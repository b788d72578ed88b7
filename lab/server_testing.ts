/**
 * A pair lab with its control server on a Unix socket in a fresh folder, for the server's tests
 * (`server_test.ts`, `server_exec_test.ts`): `withServer(async (env) => env.call("/lab"))`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Lab } from "./lab.ts";
import { planLab } from "./plan.ts";
import { serveControl } from "./server.ts";
import type { LabRecord } from "./state.ts";
import { topologyFromObject } from "./topology/mod.ts";

/** The lab: two VMs on one link. */
export const PAIR = {
  name: "server-test",
  seed: 5,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** A parsed answer: JSON (checked field by field by the assertions) or text. */
// deno-lint-ignore no-explicit-any
export type Body = any;

/** What a test gets: the lab, its socket, its record and two ways to call the server. */
export interface Env {
  /** The running lab. */
  lab: Lab;
  /** The control socket's path. */
  path: string;
  /** The lab's record, as `vlab` finds it in the state folder (for the lab's clients). */
  record: LabRecord;
  /** How many times the server asked the lab down (`POST /down`). */
  downs: () => number;
  /** Fetch `http://vlab{path}` over the socket (a fresh client, closed once the body is read). */
  call(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: Body }>;
  /** A client for streaming answers; the caller closes it. */
  client(): Deno.HttpClient;
}

/**
 * Run `body` against a fresh pair lab and its control server; the server, every client, the lab
 * and the folder are gone afterwards, whatever `body` did.
 */
export async function withServer(body: (env: Env) => Promise<void>): Promise<void> {
  const t = topologyFromObject(PAIR);
  if (!t.ok) assert.fail(JSON.stringify(t.error));
  const dir = await Deno.makeTempDir({ prefix: "vlab-server-test-" });
  const path = `${dir}/control.sock`;
  const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
  let downs = 0;
  const clients: Deno.HttpClient[] = [];
  const server = serveControl(lab, { path, onDown: () => downs++ });
  let shared: Deno.HttpClient | undefined;
  const client = () => {
    const c = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    clients.push(c);
    return c;
  };
  const record: LabRecord = {
    name: PAIR.name,
    pid: Deno.pid,
    socket: path,
    source: "test",
    startedAt: new Date().toISOString(),
    vms: 2,
  };
  try {
    await body({
      lab,
      path,
      record,
      downs: () => downs,
      client,
      call: async (p, init = {}) => {
        // One client for every call, as the CLI's controlJson keeps one (lab/client.ts): a
        // client created and closed per request (Deno 2.9) left every 25th request of a series
        // waiting 5 s, which cost lab/server_test.ts about 10 s a run.
        shared ??= client();
        const res = await fetch(`http://vlab${p}`, { ...init, client: shared });
        const text = await res.text();
        const json = text !== "" &&
          (res.headers.get("content-type") ?? "").startsWith("application/json");
        return { status: res.status, headers: res.headers, body: json ? JSON.parse(text) : text };
      },
    });
  } finally {
    for (const c of clients) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    await server.shutdown();
    await lab.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
