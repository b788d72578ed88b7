/**
 * `execCancellable` with `onLine` against a lab started by an older vlab, which knows no
 * `"stream"` key and refuses it (a 400 `bad-request`, nothing run): the workload is asked again
 * without it, and its output comes at the end, as it did then. Any other refusal is the caller's.
 * The old lab is a stand-in HTTP server on a Unix socket answering as that vlab's did.
 */

import assert from "node:assert/strict";
import { execCancellable } from "./client.ts";
import type { LabRecord } from "./state.ts";
import { fakeRecord } from "./fake_lab_testing.ts";

/** Serve `answer` for every `POST /exec` on a Unix socket; returns the record and the bodies sent. */
function oldLab(
  answer: (body: Record<string, unknown>) => Response,
): { record: LabRecord; bodies: Record<string, unknown>[]; close: () => Promise<void> } {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-old-lab-" });
  const socket = `${dir}/control.sock`;
  const bodies: Record<string, unknown>[] = [];
  const server = Deno.serve({ path: socket, onListen: () => {} }, async (req) => {
    const body = await req.json();
    bodies.push(body);
    return answer(body);
  });
  const record = fakeRecord("old", { socket, source: "pair" });
  return {
    record,
    bodies,
    close: async () => {
      await server.shutdown();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

Deno.test("exec with onLine on a lab that knows no stream key asks again without it, and answers", async () => {
  const lab = oldLab((body) =>
    "stream" in body
      ? json(400, {
        error: {
          code: "bad-request",
          message: 'POST /exec takes no key "stream"',
          hint: "Its keys: vm, argv, id",
        },
      })
      : json(200, { id: body.id, result: { text: "3 packets" }, cancelled: false })
  );
  try {
    const lines: string[] = [];
    const r = await execCancellable(lab.record, "a", ["ping", "10.0.0.2"], {
      onLine: (l) => void lines.push(l),
    });
    assert.deepEqual(r.result, { text: "3 packets" });
    assert.deepEqual(lines, []);
    assert.deepEqual(lab.bodies.map((b) => "stream" in b), [true, false]);
    assert.equal(lab.bodies[0].id, lab.bodies[1].id, "the same workload id both times");
  } finally {
    await lab.close();
  }
});

Deno.test("exec with onLine: another refusal is not asked again", async () => {
  const lab = oldLab(() =>
    json(400, { error: { code: "bad-request", message: 'POST /exec takes no key "x"', hint: "" } })
  );
  try {
    await assert.rejects(
      () => execCancellable(lab.record, "a", ["ping", "10.0.0.2"], { onLine: () => {} }),
      /takes no key "x"/,
    );
    assert.equal(lab.bodies.length, 1);
  } finally {
    await lab.close();
  }
});
