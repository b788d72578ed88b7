/**
 * A capture's counts over the control socket: the stream carries its id, `DELETE /captures/ID`
 * ends it and answers what it captured and what its tap dropped when the reader fell behind.
 */

import assert from "node:assert/strict";
import { PcapRecordCounter } from "./capture.ts";
import { tapCapacity } from "./host/tap.ts";
import { Lab } from "./lab.ts";
import { planLab } from "./plan.ts";
import { serveControl } from "./server.ts";
import { captureCountsRoute, captureStream } from "./server_capture.ts";
import { LAB_TEST, startTestLab, waitForValue } from "./testing.ts";
import { topologyFromObject } from "./topology/mod.ts";

const PAIR = {
  name: "server-capture-test",
  seed: 5,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name: "DELETE /captures/ID ends a capture and answers its frames and the drops of its tap",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = topologyFromObject(PAIR);
    if (!t.ok) assert.fail(JSON.stringify(t.error));
    const dir = await Deno.makeTempDir({ prefix: "vlab-capture-test-" });
    const path = `${dir}/control.sock`;
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    const server = serveControl(lab, { path, onDown: () => {} });
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    const call = async (p: string, method = "GET") => {
      const res = await fetch(`http://vlab${p}`, { method, client });
      return { status: res.status, body: await res.json() };
    };
    try {
      const res = await fetch("http://vlab/capture?link=a-b", { client });
      assert.equal(res.status, 200);
      const id = res.headers.get("vlab-capture-id");
      assert.match(id ?? "", /^[1-9]\d*$/);
      const counter = new PcapRecordCounter();
      const reading = (async () => {
        for await (const chunk of res.body!) counter.push(chunk);
      })();

      // A flood, and the main thread (the tap's only reader) blocked meanwhile: the tap fills.
      const l = lab.plan.links.find((x) => x.name === "a-b")!;
      const framesNow = () => lab.tapCounters(l.forwardRing).tapFrames;
      // The flood lasts until the tap has filled (then the test ends it): a 3 s flood ended
      // before it filled on a loaded machine, and the test failed "the tap never filled".
      const ending = new AbortController();
      const flood = lab.exec(
        "a",
        ["udp-flood", "10.0.0.2", "-s", "1400", "--max", "-t", "30"],
        ending.signal,
      );
      const deadline = performance.now() + 10_000;
      while (framesNow() === 0) {
        assert.ok(performance.now() < deadline, "the flood never reached the tap");
        await new Promise((r) => setTimeout(r, 5));
      }
      // Blocked until the tap drops (its counters live in shared memory), not for a fixed time:
      // on a loaded machine the flood is slower, and 600 ms did not always fill the tap.
      const tapDropped = () => lab.tapCounters(l.forwardRing).tapDropped;
      const blockUntil = performance.now() + 8_000;
      // Asleep in Atomics.wait, not spinning: the event loop (the tap's drain) stays blocked, and
      // the CPU is the flood's (a spinning main thread took a core of two from it, and with two
      // copies of the test both: the tap never filled in 8 s, 2 runs in 10).
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (tapDropped() === 0 && performance.now() < blockUntil) Atomics.wait(nap, 0, 0, 5);
      assert.ok(tapDropped() > 0, "the tap never filled while nobody drained it");
      ending.abort();
      const sent = await flood;
      assert.ok(sent.ok && (sent.result as { sent: number }).sent > 0, JSON.stringify(sent));

      const ended = await call(`/captures/${id}`, "DELETE");
      assert.equal(ended.status, 200, JSON.stringify(ended.body));
      assert.equal(ended.body.running, false);
      assert.equal(ended.body.link, "a-b");
      assert.ok(ended.body.dropped > 0, JSON.stringify(ended.body));
      assert.ok(ended.body.captured > 0, JSON.stringify(ended.body));
      // The stream ends after the last frames, and holds exactly the frames counted.
      await reading;
      assert.equal(counter.records, ended.body.captured);
      // The final counts stay answerable, the same each time.
      assert.deepEqual((await call(`/captures/${id}`)).body, ended.body);
      assert.deepEqual((await call(`/captures/${id}`, "DELETE")).body, ended.body);

      const unknown = await call("/captures/999");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "unknown-capture");
      assert.equal((await call("/captures/x")).status, 404);
      assert.equal((await call(`/captures/${id}`, "POST")).status, 405);
    } finally {
      client.close();
      // The lab first, as the runner stops it: its stop ends the capture, whose stream the
      // server's graceful shutdown would wait for. In the other order a failed assertion, the
      // capture still running, hung the test for ever instead of failing it.
      await lab.stop();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "a capture whose reader takes nothing holds a bounded queue and counts the rest dropped, " +
    "in whole records",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({ ...PAIR, name: "server-capture-queue" });
    try {
      // A queue of 8 KiB: a few batches of a 64-byte flood fill it; nothing reads the stream.
      const res = captureStream(
        lab,
        new URLSearchParams("link=a-b"),
        new AbortController().signal,
        8192,
      );
      const id = res.headers.get("vlab-capture-id")!;
      const l = lab.plan.links.find((x) => x.name === "a-b")!;
      const r = await lab.exec("a", ["udp-flood", "10.0.0.2", "-n", "20000", "--max"]);
      if (!r.ok) assert.fail(r.message);
      await waitForValue(
        "b's NIC to take the flood",
        () => lab.tapCounters(l.forwardRing).tapFrames >= 20_000 || null,
      );
      // Past the queue's bound the lab drops (it held every frame before: 450 MB in 6 s).
      await new Promise((done) => setTimeout(done, 100)); // a few drains
      const ended = await captureCountsRoute(lab, id, "DELETE").json();
      const tap = lab.tapCounters(l.forwardRing).tapFrames +
        lab.tapCounters(l.reverseRing).tapFrames;
      assert.ok(ended.dropped > 0, JSON.stringify(ended));
      assert.equal(ended.captured + ended.dropped, tap, JSON.stringify(ended));
      // What was queued is a whole pcap of exactly the frames counted captured.
      const bytes = new Uint8Array(await res.arrayBuffer());
      // At most the bound and one batch (a drain of both taps) past it.
      assert.ok(bytes.length <= 8192 + 2 * tapCapacity(1514), `${bytes.length} bytes queued`);
      const counter = new PcapRecordCounter();
      counter.push(bytes);
      assert.equal(counter.records, ended.captured);
      assert.equal(counter.partialBytes, 0, "the stream ends on a record's end");
    } finally {
      await lab.stop();
    }
  },
});
