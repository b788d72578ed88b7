/**
 * `POST /exec` with `"stream": true`: the workload's lines as they happen (NDJSON `{"line"}`),
 * then its answer as the last line; without `stream`, the answer is the plain JSON it always was.
 * A DELETE, the lab stopping or the client going mid-stream end it as they end a plain one.
 *
 * The lab's workers, the server and its connections outlive a single tick of the event loop, so
 * the resource and op sanitizers are off; the server, every client and the lab are closed in
 * `finally` (`withServer`).
 */

import assert from "node:assert/strict";
import { type Env, withServer } from "./server_testing.ts";
import { execCancellable } from "./client.ts";
import { PartialExecError } from "./errors.ts";
import { execRoute } from "./server_exec.ts";
import { LAB_TEST, waitForValue, within } from "./testing.ts";

const post = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

/** One object of a stream, with when it came (ms after the request was sent). */
interface Item {
  // deno-lint-ignore no-explicit-any
  value: any;
  at: number;
}

/**
 * Send `POST /exec` with `body` and read its answer object by object as it comes; `onItem` may
 * stop the reading (return true: the client goes, its connection closed).
 */
async function streamed(
  env: Env,
  body: unknown,
  onItem: (item: Item) => boolean | void = () => {},
): Promise<{ status: number; type: string; items: Item[] }> {
  const client = env.client();
  const t0 = performance.now();
  const res = await fetch("http://vlab/exec", { ...post(body), client });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const items: Item[] = [];
  let held = "";
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      held += r.value;
      for (let nl = held.indexOf("\n"); nl >= 0; nl = held.indexOf("\n")) {
        const item = { value: JSON.parse(held.slice(0, nl)), at: performance.now() - t0 };
        held = held.slice(nl + 1);
        items.push(item);
        if (onItem(item) === true) return { status: res.status, type: type(res), items };
      }
    }
    if (held !== "") items.push({ value: JSON.parse(held), at: performance.now() - t0 });
    return { status: res.status, type: type(res), items };
  } finally {
    await reader.cancel().catch(() => {});
    client.close();
  }
}

const type = (res: Response) => res.headers.get("content-type") ?? "";

Deno.test({
  name: "POST /exec with stream: a ping's reply lines come as they happen, its answer last",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      // 3 pings 0.3 s apart: the first reply about 0.6 s before the end.
      const argv = ["ping", "10.0.0.2", "-c", "3", "-i", "0.3"];
      const r = await within(10_000, "POST", streamed(env, { vm: "a", argv, stream: true }));
      assert.equal(r.status, 200);
      assert.equal(r.type, "application/x-ndjson");
      const lines = r.items.slice(0, -1).map((i) => i.value.line);
      assert.equal(lines[0], "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.");
      assert.deepEqual(
        lines.slice(1).map((l) => /icmp_seq=(\d+) ttl=64 time=[\d.]+ ms$/.exec(l)?.[1]),
        ["1", "2", "3"],
      );
      const end = r.items.at(-1)!;
      assert.equal(end.value.cancelled, false);
      assert.equal(end.value.result.received, 3);
      // The lines are the first lines of the text; the summary follows there only.
      assert.deepEqual(end.value.result.text.split("\n").slice(0, lines.length), lines);
      const first = r.items[1];
      assert.ok(
        end.at - first.at > 350,
        `the first reply came ${Math.round(first.at)} ms in, the end ${Math.round(end.at)} ms`,
      );
    }),
});

Deno.test({
  name: "POST /exec without stream answers plain JSON as before; a bad stream value is refused",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      const argv = ["ping", "10.0.0.2", "-c", "2", "-i", "0.2"];
      const plain = await env.call("/exec", post({ vm: "a", argv }));
      assert.equal(plain.status, 200);
      assert.match(plain.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(Object.keys(plain.body), ["id", "result", "cancelled", "cancelledBy"]);
      assert.equal(plain.body.result.received, 2);
      const off = await env.call("/exec", post({ vm: "a", argv, stream: false }));
      assert.match(off.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(off.body.result.received, 2);

      const bad = await env.call("/exec", post({ vm: "a", argv, stream: "yes" }));
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, "bad-request");
      assert.match(bad.body.error.message, /"stream" must be true or false, got "yes"/);

      // Asked for a stream, a workload that says no line and one that cannot run answer plain.
      const sink = await streamed(env, { vm: "b", argv: ["sink", "-t", "0.2"], stream: true });
      assert.match(sink.type, /^application\/json/);
      assert.equal(sink.items.length, 1);
      assert.equal(sink.items[0].value.result.kind, "sink");
      const cannot = await streamed(env, { vm: "a", argv: ["ping", "10.9.0.2"], stream: true });
      assert.equal(cannot.status, 422);
      assert.equal(cannot.items[0].value.error.code, "workload-failed");
    }),
});

Deno.test({
  name:
    "a streamed exec cut mid-stream: DELETE and the lab stopping end it with the answer, a client gone stops it",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      const long = ["ping", "10.0.0.2", "-c", "100", "-i", "0.1"];
      // DELETE /execs/ID after the second reply: the stream's last object is the partial answer.
      const t0 = performance.now();
      const cut = await within(
        10_000,
        "POST",
        streamed(env, { vm: "a", argv: long, id: "s-1", stream: true }, (item) => {
          if (/icmp_seq=2 /.test(item.value.line ?? "")) {
            void env.call("/execs/s-1", { method: "DELETE" });
          }
        }),
      );
      assert.ok(performance.now() - t0 < 8000, "stopped early, not after its 100 pings");
      const answer = cut.items.at(-1)!.value;
      assert.equal(answer.cancelledBy, "client");
      assert.ok(answer.result.transmitted < 100);
      const said = cut.items.slice(0, -1).map((i) => i.value.line);
      assert.deepEqual(answer.result.text.split("\n").slice(0, said.length), said);

      // The client goes after the first reply: the workload stops (as an aborted request's does).
      await streamed(env, { vm: "a", argv: long, id: "s-2", stream: true }, (item) => {
        return /icmp_seq=1 /.test(item.value.line ?? "");
      });
      const deadline = performance.now() + 5000;
      while ((await env.call("/execs")).body.length > 0) {
        assert.ok(performance.now() < deadline, "the workload of a client gone still runs");
        await new Promise((r) => setTimeout(r, 50));
      }

      // The lab stops mid-stream: the stream ends with the answer that says so.
      const stopping = streamed(env, { vm: "a", argv: long, stream: true }, (item) => {
        if (/icmp_seq=1 /.test(item.value.line ?? "")) void env.lab.stop();
      });
      const stopped = await within(10_000, "POST", stopping);
      assert.equal(stopped.items.at(-1)!.value.cancelledBy, "lab-stopped");
    }),
});

Deno.test({
  name:
    "execCancellable with onLine hears the lines before it resolves; without, it asks no stream",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      const heard: string[] = [];
      const argv = ["ping", "10.0.0.2", "-c", "2", "-i", "0.2"];
      const answer = await execCancellable<{ text: string }>(env.record, "a", argv, {
        onLine: (line) => heard.push(line),
      });
      assert.equal(heard.length, 3, heard.join("\n"));
      assert.deepEqual(answer.result.text.split("\n").slice(0, 3), heard);
      // A failure answered plain (before any line) is the LabError it always was.
      await assert.rejects(
        execCancellable(env.record, "a", ["ping", "10.9.0.2"], { onLine: () => {} }),
        /no interface's subnet holds it/,
      );
    }),
});

Deno.test({
  name: "execCancellable reads no line past one whose onLine promise is pending: a caller whose " +
    "output blocks stops the stream, the lab holds the lines",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      // `vlab exec … | sleep 60`: the write of the first line does not return. The client read
      // on all the same (onLine's promise was not awaited), so the command held every line in
      // its memory and the lab's bound on the lines its client has not taken never came into play.
      let release = () => {};
      const blocked = new Promise<void>((resolve) => release = resolve);
      const heard: string[] = [];
      const argv = ["ping", "10.0.0.2", "-c", "4", "-i", "0.05"];
      const answer = execCancellable<{ text: string; received: number }>(env.record, "a", argv, {
        onLine: (line) => {
          heard.push(line);
          return blocked;
        },
      });
      void answer.catch(() => {}); // awaited below; a failed assertion first leaves it
      try {
        // The ping ends in the guest (the lab answers it) while the first line's write waits.
        await waitForValue("the first line", () => heard.length > 0 || null);
        const deadline = performance.now() + 10_000;
        while ((await env.call("/execs")).body.length > 0) {
          assert.ok(performance.now() < deadline, "the ping did not end");
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(heard, ["PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data."]);
      } finally {
        release();
      }
      // Once it returns, the rest comes, then the answer.
      const r = await within(10_000, "the answer", answer);
      assert.equal(r.result.received, 4);
      assert.equal(heard.length, 5, heard.join("\n"));
      assert.deepEqual(r.result.text.split("\n").slice(0, 5), heard);
    }),
});

Deno.test({
  name: "a streamed exec whose reader takes nothing holds a bounded queue of lines and counts " +
    "the lines it dropped in its answer",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      // 300 pings 1 ms apart into a queue of 2 KiB (about 25 lines) that nothing reads until
      // the ping has ended: the lab held every line before (a `| sleep 60` grew it 1.5 MB/s).
      const argv = ["ping", "10.0.0.2", "-c", "300", "-i", "0.001"];
      const res = await execRoute(
        env.lab,
        { ok: true, value: { vm: "a", argv, id: "unread", stream: true } },
        new AbortController().signal,
        2048,
      );
      assert.equal(type(res), "application/x-ndjson");
      const deadline = performance.now() + 20_000;
      while ((await env.call("/execs")).body.length > 0) {
        assert.ok(performance.now() < deadline, "the ping did not end");
        await new Promise((r) => setTimeout(r, 20));
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      // The bound, and the answer past it (never dropped).
      const items = new TextDecoder().decode(bytes).trim().split("\n").map((l) => JSON.parse(l));
      const answer = items.at(-1)!;
      assert.equal(answer.result.transmitted, 300, JSON.stringify(answer.result).slice(0, 300));
      assert.ok(answer.droppedLines > 0, `droppedLines ${answer.droppedLines}`);
      const said: string[] = items.slice(0, -1).map((i) => i.line);
      assert.ok(bytes.length - JSON.stringify(answer).length <= 2048 + 200, `${bytes.length} B`);
      // The lines that came and those dropped are, together, the run's lines before its summary.
      const text: string[] = answer.result.text.split("\n");
      const run = text.slice(0, text.indexOf(""));
      assert.equal(said.length + answer.droppedLines, run.length);
      assert.deepEqual(said, run.slice(0, said.length), "the first lines, in order");
      // A stream whose reader keeps up drops nothing, and says so.
      const kept = await streamed(env, {
        vm: "a",
        argv: ["ping", "10.0.0.2", "-c", "2", "-i", "0.1"],
        stream: true,
      });
      assert.equal(kept.items.at(-1)!.value.droppedLines, 0);
    }),
});

Deno.test({
  name: "a streamed ping whose VM crashes mid-run ends with the error and the statistics of " +
    "what it had sent and heard",
  ...LAB_TEST,
  fn: () =>
    withServer(async (env) => {
      const long = ["ping", "10.0.0.2", "-c", "100", "-i", "0.05"];
      const crash = () => void env.lab.fault({ kind: "vm-crash", vm: "a" });
      const r = await within(
        10_000,
        "POST",
        streamed(env, { vm: "a", argv: long, stream: true }, (item) => {
          if (/icmp_seq=3 /.test(item.value.line ?? "")) crash();
        }),
      );
      const last = r.items.at(-1)!.value;
      assert.match(last.error.message, /VM "a" crashed before it answered/);
      // It said the replies and the error alone: the requests it had sent were lost with it.
      const result = last.result;
      assert.equal(result?.kind, "ping", JSON.stringify(last));
      assert.ok(result.transmitted >= 3 && result.transmitted < 100, JSON.stringify(result));
      assert.ok(result.received >= 3, JSON.stringify(result));
      assert.equal(result.replies.length, result.received);
      assert.equal(last.droppedLines, 0);
      const said = r.items.slice(0, -1).map((i) => i.value.line);
      const text: string[] = result.text.split("\n");
      assert.deepEqual(text.slice(0, said.length), said);
      assert.deepEqual(text.slice(said.length, said.length + 2), [
        "",
        "--- 10.0.0.2 ping statistics ---",
      ]);
      assert.match(
        text[said.length + 2],
        new RegExp(`^${result.transmitted} packets transmitted, ${result.received} received, `),
      );
      assert.match(
        text[said.length + 3],
        /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/,
      );

      // The CLI's client hands it over with the error, which `vlab exec` prints before the error.
      const rebooted = performance.now() + 10_000;
      while (env.lab.vmState("a") !== "running") {
        assert.ok(performance.now() < rebooted, "a did not reboot");
        await new Promise((done) => setTimeout(done, 20));
      }
      let heard = 0;
      const cut = await execCancellable(env.record, "a", long, {
        onLine: (line) => {
          if (/icmp_seq=2 /.test(line)) crash();
          heard++;
        },
      }).then(() => null, (e) => e);
      assert.ok(cut instanceof PartialExecError, String(cut));
      assert.match(cut.message, /VM "a" crashed before it answered/);
      assert.ok((cut.partial as { transmitted: number }).transmitted >= 2);
      assert.ok(heard >= 3);
    }),
});
