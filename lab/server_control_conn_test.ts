/**
 * The control socket's connections after an error answer: a client that sends its whole request
 * and then another on the same connection gets the second answered, or the connection closed;
 * never left waiting on a connection nobody reads (413 of a streamed or declared body, 404 or
 * 400 with a body the answer did not need).
 *
 * Deno 2.9's HTTP/1 server does not close a connection because the answer says
 * `Connection: close` (denoland/deno#9411), so this is what the lab can promise: the server reads
 * or cancels every body so that the connection stays usable, and Deno closes the ones it
 * flags itself. A body whose reading is released instead of cancelled left the next request
 * unanswered.
 */

import assert from "node:assert/strict";
import { Lab } from "./lab.ts";
import { planLab } from "./plan.ts";
import { serveControl } from "./server.ts";
import { topologyFromObject } from "./topology/mod.ts";

const ONE_VM = {
  name: "server-conn-test",
  seed: 5,
  vms: { a: { nics: { eth0: { ip: "10.0.0.1/24" } } } },
  links: [],
};

const enc = new TextEncoder();

/** Send `request` then `GET /lab` on one connection; how the connection went on. */
async function thenNext(
  path: string,
  request: Uint8Array,
): Promise<{ outcome: "answered" | "closed" | "stuck"; first: string }> {
  const conn = await Deno.connect({ transport: "unix", path });
  const next = enc.encode("GET /lab HTTP/1.1\r\nHost: vlab\r\n\r\n");
  const writing = (async () => {
    try {
      for (const bytes of [request, next]) {
        let at = 0;
        while (at < bytes.length) at += await conn.write(bytes.subarray(at));
      }
    } catch {
      // The server closed the connection: an outcome, read below.
    }
  })();
  let text = "";
  let outcome: "answered" | "closed" | "stuck" = "stuck";
  let late = false;
  const timer = setTimeout(() => {
    late = true; // the server neither answered the next request nor closed in 5 s
    conn.close();
  }, 5000);
  try {
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) {
        if (!late) outcome = "closed";
        break;
      }
      text += new TextDecoder().decode(buf.subarray(0, n));
      if ((text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= 2) {
        outcome = "answered";
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
    await writing;
  }
  return { outcome, first: /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "" };
}

function chunked(head: string, chunks: number): Uint8Array {
  const piece = `10000\r\n${"x".repeat(65536)}\r\n`;
  return enc.encode(
    `${head}\r\nHost: vlab\r\nTransfer-Encoding: chunked\r\n\r\n${piece.repeat(chunks)}0\r\n\r\n`,
  );
}

function sized(head: string, body: string): Uint8Array {
  return enc.encode(`${head}\r\nHost: vlab\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

Deno.test({
  name: "after a 413, 404 or 400 the connection serves the next request or closes, never sticks",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = topologyFromObject(ONE_VM);
    if (!t.ok) assert.fail(JSON.stringify(t.error));
    const dir = await Deno.makeTempDir({ prefix: "vlab-server-conn-test-" });
    const path = `${dir}/control.sock`;
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    const server = serveControl(lab, { path, onDown: () => {} });
    try {
      const cases: [string, Uint8Array, string][] = [
        // 17 chunks of 64 KiB pass the 1 MiB limit by one chunk; 18 by two.
        ["413 of a streamed body (17 chunks)", chunked("POST /exec HTTP/1.1", 17), "413"],
        ["413 of a streamed body (18 chunks)", chunked("POST /exec HTTP/1.1", 18), "413"],
        ["413 of a declared body", sized("POST /exec HTTP/1.1", "x".repeat(1_200_000)), "413"],
        ["404 with a body", sized("POST /nope HTTP/1.1", "x".repeat(500_000)), "404"],
        ["405 with a body", sized("PUT /lab HTTP/1.1", "x".repeat(200_000)), "405"],
        ["400 of malformed JSON", sized("POST /exec HTTP/1.1", "{bad}"), "400"],
      ];
      for (const [what, request, status] of cases) {
        for (let round = 0; round < 3; round++) {
          const r = await thenNext(path, request);
          assert.equal(r.first, status, what);
          assert.notEqual(r.outcome, "stuck", `${what}: the next request was never answered`);
        }
      }
    } finally {
      await server.shutdown();
      await lab.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
