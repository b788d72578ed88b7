import assert from "node:assert/strict";
import { type VsockHeader, VsockShutdown } from "../../../devices/vsock/header.ts";
import { VsockSockets } from "../../../devices/vsock/sockets.ts";
import type { Connection } from "../../../devices/vsock/connection.ts";
import type { WorkloadOptions } from "./options.ts";
import {
  labCidsText,
  runVsockEcho,
  runVsockSend,
  runVsockSink,
  type VsockSendResult,
  type VsockSinkResult,
} from "./vsock.ts";
import type { VsockWorkloadService } from "./options.ts";
import { streamByte, StreamVerifier } from "./vsock_stream.ts";
import { workloadExitCode, workloadFailure } from "./mod.ts";
import { realTimeOptions } from "./testing_opts.ts";

/**
 * Two socket tables wired back to back in memory (a's packets go to b's `handle` and back);
 * `wake` moves every queued packet until both are quiet. b's listener reads in a later task,
 * so a's writer really waits for each CREDIT_UPDATE.
 */
function backToBack(bufAlloc: number, bCid = 4, knownCids?: ReadonlySet<number>) {
  type Packet = [VsockHeader, Uint8Array | null];
  const toA: Packet[] = [];
  const toB: Packet[] = [];
  // A sink queues a copy, as a driver's TX ring would; `wake` delivers until both are quiet.
  const sinkTo = (q: Packet[]) => ({
    send: (
      h: Readonly<VsockHeader>,
      p: Uint8Array | null,
    ) => (q.push([{ ...h }, p?.slice() ?? null]), true),
  });
  const a: VsockSockets = new VsockSockets({
    cid: 3,
    sink: sinkTo(toB),
    maxPayload: 4096,
    bufAlloc,
    knownCids,
  });
  const b: VsockSockets = new VsockSockets({
    cid: bCid,
    sink: sinkTo(toA),
    maxPayload: 4096,
    bufAlloc,
  });
  let pumping = false;
  const wake = () => {
    if (pumping) return;
    pumping = true;
    // Bounded: each pass delivers what is queued; a quiet pass ends it.
    for (let i = 0; i < 10_000; i++) {
      a.flush();
      b.flush();
      if (toA.length === 0 && toB.length === 0) break;
      for (const [h, p] of toB.splice(0)) b.handle(h, p);
      for (const [h, p] of toA.splice(0)) a.handle(h, p);
    }
    pumping = false;
  };
  return { a, b, wake };
}

Deno.test("vsock-send resumes on the peer's CREDIT_UPDATE, not on a timer", async () => {
  const BYTES = 512 * 1024;
  const { a, b, wake } = backToBack(16 * 1024); // 32 credit windows at least
  const check = new StreamVerifier();
  const timers: ReturnType<typeof setTimeout>[] = [];
  b.listen(5000, (c) => {
    const buf = new Uint8Array(8192);
    const drain = () => {
      for (let i = 0; i < 64; i++) {
        const n = c.read(buf);
        if (n === 0) break;
        check.update(buf.subarray(0, n));
      }
      if (c.peerDone && c.rxQueued === 0) c.close();
      wake();
    };
    c.onEvent = (e) => {
      if (e === "readable") timers.push(setTimeout(drain, 0));
    };
  });
  const service: VsockWorkloadService = { sockets: a, wake };
  // A coarse timer: every sleep takes 250 ms, so a writer that polls a timer on each of its
  // 32+ credit stalls needs 8 s; one that waits for `writable` needs a few milliseconds.
  const opts: WorkloadOptions = {
    signal: new AbortController().signal,
    clock: { now: () => performance.now() },
    yield: () => Promise.resolve(),
    sleep: () => new Promise<void>((r) => timers.push(setTimeout(r, 250))),
    waitAtMost: (_ms, settled) =>
      Promise.race([
        settled.then(() => true),
        new Promise<boolean>((r) => timers.push(setTimeout(() => r(false), 250))),
      ]),
  };
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const r = await Promise.race([
      runVsockSend(service, { cid: 4, port: 5000, bytes: BYTES, chunk: 65536 }, opts),
      new Promise<null>((r) => deadline = setTimeout(() => r(null), 3000)),
    ]);
    assert.ok(r !== null, "vsock-send did not finish in 3 s: it waits on a timer");
    assert.equal(r.kind, "vsock-send", JSON.stringify(r));
    const s = r as VsockSendResult;
    assert.equal(s.bytes, BYTES);
    assert.ok(s.creditStalls >= 32, `${s.creditStalls} stalls: the window did not bind`);
    assert.equal(check.position, BYTES);
    assert.equal(check.mismatches, 0);
    assert.equal(check.checksum.digest(), s.checksum);
  } finally {
    clearTimeout(deadline);
    for (const t of timers) clearTimeout(t);
  }
});

Deno.test("a second vsock-send to a busy vsock-sink is refused, the first stream is whole", async () => {
  const { a, b, wake } = backToBack(64 * 1024);
  const { opts, clear } = realTimeOptions();
  try {
    const sink = runVsockSink({ sockets: b, wake }, { port: 5000, seconds: 3 }, opts);
    const first = runVsockSend({ sockets: a, wake }, {
      cid: 4,
      port: 5000,
      bytes: 256 * 1024,
      chunk: 4096,
    }, opts);
    const second = await runVsockSend({ sockets: a, wake }, {
      cid: 4,
      port: 5000,
      bytes: 1000,
      chunk: 4096,
    }, opts);
    assert.equal(second.kind, "error");
    assert.match(
      (second as { message: string }).message,
      /^Cannot connect to vsock 4:5000: refused$/,
    );
    const [s, k] = await Promise.all([first, sink]);
    assert.equal(s.kind, "vsock-send", JSON.stringify(s));
    assert.equal(k.kind, "vsock-sink", JSON.stringify(k));
    const sink1 = k as VsockSinkResult;
    assert.deepEqual([sink1.bytes, sink1.mismatches, sink1.complete], [256 * 1024, 0, true]);
  } finally {
    clear();
  }
});

Deno.test("vsock-send to a peer that shut down receiving fails at once, saying so (no 100 ms polling forever)", async () => {
  const { a, b, wake } = backToBack(64 * 1024);
  const { opts, clear } = realTimeOptions();
  b.listen(5000, (c) => {
    c.onEvent = (e) => {
      if (e === "readable") {
        c.read(new Uint8Array(64 * 1024));
        c.shutdown(VsockShutdown.RCV); // "no more, thanks", the connection stays open
        wake();
      }
    };
  });
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const r = await Promise.race([
      runVsockSend({ sockets: a, wake }, { cid: 4, port: 5000, bytes: 1 << 20, chunk: 4096 }, opts),
      new Promise<null>((r) => deadline = setTimeout(() => r(null), 2000)),
    ]);
    assert.ok(r !== null, "vsock-send still waits on a peer that will never read");
    assert.equal(r.kind, "error");
    assert.match(
      (r as { message: string }).message,
      /^Vsock stream to 4:5000 ended after \d+ of 1048576 bytes: the peer shut down receiving$/,
    );
  } finally {
    clearTimeout(deadline);
    clear();
  }
});

Deno.test("vsock-send names why a stream ended in words: a peer that closed early", async () => {
  const { a, b, wake } = backToBack(64 * 1024);
  const { opts, clear } = realTimeOptions();
  b.listen(5000, (c) => {
    c.onEvent = (e) => {
      if (e === "readable") {
        c.read(new Uint8Array(64 * 1024));
        c.close(); // a host reader that went away (`| head -c`)
        wake();
      }
    };
  });
  try {
    const r = await runVsockSend({ sockets: a, wake }, {
      cid: 4,
      port: 5000,
      bytes: 1 << 20,
      chunk: 4096,
    }, opts);
    assert.equal(r.kind, "error");
    assert.match((r as { message: string }).message, /bytes: the peer closed the connection$/);
  } finally {
    clear();
  }
});

Deno.test("a vsock-sink or vsock-echo that ends (-t) resets the connections it still has", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    for (const kind of ["sink", "echo"] as const) {
      const { a, b, wake } = backToBack(64 * 1024);
      const ended = kind === "sink"
        ? runVsockSink({ sockets: b, wake }, { port: 5000, seconds: 0.2 }, opts)
        : runVsockEcho({ sockets: b, wake }, { port: 5000, seconds: 0.2 }, opts);
      // A sender still writing when the receiver's time is up (its stream goes on for minutes).
      const c = a.connect(4, 5000);
      wake();
      assert.equal(c.state, "established");
      c.write(new Uint8Array(1000));
      wake();
      await ended;
      wake();
      // Nobody reads the rest: the sender must hear so (RST), not have its bytes taken by a
      // workload that already reported.
      assert.equal(c.state, "closed", `${kind}: the sender's connection is still ${c.state}`);
      assert.equal(c.closeReason, "reset");
      if (kind === "sink") {
        // The sink's line says why the stream did not end (it said only "not ended by the sender").
        const r = (await ended) as VsockSinkResult;
        assert.match(r.text, /, not ended by the sender: stopped first \(-t or Ctrl-C\)$/);
      }
    }
  } finally {
    clear();
  }
});

Deno.test("a vsock-send stopped mid-stream (Ctrl-C) answers what it sent and resets the stream", async () => {
  // It answered an error, which `vlab exec` printed nothing of, and closed the stream with
  // SHUTDOWN: its vsock-sink reported a cut stream as "ended by the sender", exit 0.
  const { a, b, wake } = backToBack(16 * 1024);
  const ac = new AbortController();
  const { opts, clear } = realTimeOptions(ac.signal);
  let peer: Connection | null = null;
  let read = 0;
  b.listen(5000, (c) => {
    peer = c;
    const buf = new Uint8Array(8192);
    // Read in a later task, as a guest does, so the sender waits for credit between windows.
    const drain = () => {
      for (let i = 0; i < 64; i++) {
        const n = c.read(buf);
        if (n === 0) break;
        read += n;
      }
      if (read >= 64 * 1024) ac.abort(); // Ctrl-C, part-way through
      wake();
    };
    c.onEvent = (e) => {
      if (e === "readable") setTimeout(drain, 0);
    };
  });
  try {
    const r = await runVsockSend({ sockets: a, wake }, {
      cid: 4,
      port: 5000,
      bytes: 1 << 30,
      chunk: 4096,
    }, opts);
    assert.equal(r.kind, "vsock-send", JSON.stringify(r));
    const sent = r as VsockSendResult;
    assert.ok(sent.bytes >= 64 * 1024 && sent.bytes < 1 << 30, String(sent.bytes));
    assert.match(
      sent.text,
      /^vsock-send to 4:5000: stopped after \d+ of 1073741824 bytes in [0-9.]+ s, .*; the stream was reset$/,
    );
    wake();
    const p = peer as Connection | null;
    assert.equal(p?.state, "closed");
    assert.equal(p?.closeReason, "reset");
  } finally {
    clear();
  }
});

Deno.test("a vsock-sink whose sender resets the stream says so", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    const { a, b, wake } = backToBack(64 * 1024);
    const sink = runVsockSink({ sockets: b, wake }, { port: 5000, seconds: 5 }, opts);
    const c = a.connect(4, 5000);
    wake();
    c.write(new Uint8Array(100));
    wake();
    c.reset("aborted");
    wake();
    const r = (await sink) as VsockSinkResult;
    assert.equal(r.closeReason, "reset");
    assert.match(
      r.text,
      /, not ended by the sender: reset \(by the sender, a crash of its VM or device worker, a vsock link going down or a partition\)$/,
    );
  } finally {
    clear();
  }
});

Deno.test("a vsock-sink that no sender reached says so", async () => {
  const { b, wake } = backToBack(64 * 1024);
  const { opts, clear } = realTimeOptions();
  try {
    const r = await runVsockSink({ sockets: b, wake }, { port: 5000, seconds: 0.05 }, opts);
    assert.equal(r.kind, "vsock-sink");
    assert.match((r as VsockSinkResult).text, /, no sender connected$/);
  } finally {
    clear();
  }
});

Deno.test("vsock-sink and vsock-echo sleep while they wait: a wake-up per event, not per millisecond", async () => {
  // They polled a 1 ms timer: a guest serving vsock-echo woke about 600 times a second, 6 % of
  // a core for an idle lab.
  for (const kind of ["sink", "echo"] as const) {
    const { a, b, wake } = backToBack(64 * 1024);
    const ac = new AbortController();
    const { opts: real, clear } = realTimeOptions(ac.signal);
    let waits = 0;
    const opts: WorkloadOptions = {
      ...real,
      sleep: (ms) => (waits++, real.sleep(ms)),
      waitAtMost: (ms, settled) => (waits++, real.waitAtMost(ms, settled)),
    };
    try {
      const t0 = performance.now();
      const served = kind === "sink"
        ? runVsockSink({ sockets: b, wake }, { port: 5000, seconds: 30 }, opts)
        : runVsockEcho({ sockets: b, wake }, { port: 5000, seconds: 30 }, opts);
      await new Promise((r) => setTimeout(r, 150));
      // A whole stream, then its close: the sink ends when its sender closed, not at -t.
      const c = a.connect(4, 5000);
      wake();
      c.write(new Uint8Array(1000));
      c.close();
      wake();
      await new Promise((r) => setTimeout(r, 150));
      if (kind === "echo") ac.abort();
      const r = await served;
      assert.ok(performance.now() - t0 < 5000, `${kind} waited for its -t`);
      assert.ok(waits <= 3, `${kind}: ${waits} waits in 0.3 s`);
      if (r.kind === "vsock-sink") assert.equal(r.bytes, 1000);
      else assert.equal(r.kind, "vsock-echo");
    } finally {
      ac.abort();
      clear();
    }
  }
});

Deno.test("vsock-echo sends everything back after the client's SHUTDOWN(SEND), however credit fell", async () => {
  // `vlab vsock a 7 < 2MB-file` hung with part of the echo missing: the echo sized its writes
  // to the client's credit, so the credit reached 0 without a stalled write, and credit coming
  // back was not announced once no more data (only the SHUTDOWN) arrived.
  const BYTES = 512 * 1024;
  const { a, b, wake } = backToBack(16 * 1024);
  const timers: ReturnType<typeof setTimeout>[] = [];
  const ac = new AbortController();
  const { opts, clear } = realTimeOptions(ac.signal);
  const echo = runVsockEcho({ sockets: b, wake }, { port: 7, seconds: null }, opts);
  try {
    const c = a.connect(4, 7);
    wake();
    const data = new Uint8Array(BYTES).map((_, i) => (i * 7) & 0xff);
    const got = new Uint8Array(BYTES);
    let sent = 0;
    let back = 0;
    const t0 = performance.now();
    // Bounded: 2 s; each pass writes what credit allows and reads what came back, slowly.
    while (performance.now() - t0 < 2000) {
      if (sent < BYTES) {
        sent += c.write(data, sent, BYTES - sent);
        if (sent === BYTES) c.shutdown(VsockShutdown.SEND);
      }
      back += c.read(got.subarray(back, Math.min(BYTES, back + 3000)));
      wake();
      if (back === BYTES && c.peerDone) break;
      await new Promise<void>((r) => timers.push(setTimeout(r, 0)));
    }
    assert.equal(sent, BYTES);
    assert.equal(back, BYTES, `the echo stopped after ${back} of ${BYTES} bytes`);
    assert.deepEqual(got, data);
  } finally {
    ac.abort();
    await echo;
    clear();
    for (const t of timers) clearTimeout(t);
  }
});

Deno.test("a vsock-send to the host (CID 2) that nobody listens for says how to listen on the host", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    // The peer answers a port with no listener with RST (refused), whether a VM or the host: the
    // hint must not send the user to a peer VM when the peer is the host.
    for (const cid of [2, 4]) {
      const { a, wake } = backToBack(64 * 1024, cid);
      const r = await runVsockSend(
        { sockets: a, wake },
        { cid, port: 6001, bytes: 1, chunk: 1 },
        opts,
      );
      assert.equal(r.kind, "error", JSON.stringify(r));
      const e = r as { message: string; hint: string };
      assert.equal(e.message, `Cannot connect to vsock ${cid}:6001: refused`);
      if (cid === 2) {
        assert.match(e.hint, /^The host is CID 2: listen on this VM's vsock\.sock_6001/);
        // A stale socket file (its program ended) is refused too: the hint says so.
        assert.match(e.hint, /a socket file left there by a program that ended refuses too/);
      } else assert.match(e.hint, /^Start vsock-sink or vsock-echo on that port of the peer VM/);
    }
  } finally {
    clear();
  }
});

Deno.test("a vsock-send to a CID no VM has says so and lists the lab's CIDs; a known CID's hint names its VM", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    const labCids = new Map([[3, "a"], [4, "b"]]);
    // A device answers a REQUEST to a CID nobody has with RST, as it does a port nobody listens
    // on: the peer here is a table with CID 7 that nobody knows, and one with CID 4 (VM b).
    for (
      const [cid, message, hint] of [
        [
          7,
          "Cannot connect to vsock 7:6001: no VM has CID 7",
          /^The lab's vsock CIDs: 2 \(the host\), 3 \(a\), 4 \(b\); `vlab status` shows each VM's CID$/,
        ],
        [
          4,
          "Cannot connect to vsock 4:6001: refused",
          /^CID 4 is VM "b": start vsock-sink or vsock-echo on port 6001 there/,
        ],
      ] as const
    ) {
      const { a, wake } = backToBack(64 * 1024, cid, new Set([2, 3, 4]));
      const r = await runVsockSend(
        { sockets: a, wake, labCids },
        { cid, port: 6001, bytes: 1, chunk: 1 },
        opts,
      );
      assert.equal(r.kind, "error", JSON.stringify(r));
      const e = r as { message: string; hint: string; code?: string };
      assert.equal(e.message, message);
      assert.match(e.hint, hint);
      // Its own code, which a script branches on; a refusal by a VM has none (workload-failed).
      assert.equal(e.code, cid === 7 ? "no-such-cid" : undefined);
    }
  } finally {
    clear();
  }
});

Deno.test("a vsock-send to a VM no vsock link or router joins to this one says so, not to start a listener", async () => {
  // Before, its hint sent the user to start vsock-sink there and check "the vsock link between
  // the two VMs", which does not exist: every packet to it is answered with RST.
  const { opts, clear } = realTimeOptions();
  try {
    const labCids = new Map([[3, "a"], [4, "b"], [5, "c"]]);
    for (
      const [cid, hint] of [
        [
          5,
          /^No vsock link or vsock router joins VM "a" to VM "c" \(CID 5\): join them in the topology \(links: - \{ kind: vsock, endpoints: \[a, c\] \}\), or link both to one vsock router/,
        ],
        // Just beside it: a VM the link joins refused for want of a listener.
        [4, /^CID 4 is VM "b": start vsock-sink or vsock-echo on port 6001 there/],
      ] as const
    ) {
      const { a, wake } = backToBack(64 * 1024, cid, new Set([2, 3, 4, 5]));
      const r = await runVsockSend(
        { sockets: a, wake, labCids, joinedCids: new Set([4]) },
        { cid, port: 6001, bytes: 1, chunk: 1 },
        opts,
      );
      assert.equal(r.kind, "error", JSON.stringify(r));
      const e = r as { message: string; hint: string };
      assert.equal(e.message, `Cannot connect to vsock ${cid}:6001: refused`);
      assert.match(e.hint, hint);
    }
  } finally {
    clear();
  }
});

Deno.test("a refused vsock-send to a VM joined through a router names the router and its two links", async () => {
  // Its hint named "the vsock link between the two VMs", which a lab with a router does not have.
  const { opts, clear } = realTimeOptions();
  try {
    const labCids = new Map([[3, "a"], [4, "b"]]);
    for (
      const [path, words] of [
        [
          "vsock router r1 and its links a-r1 and b-r1",
          /for vsock router r1 and its links a-r1 and b-r1 \(down/,
        ],
        ["the vsock link a-b", /for the vsock link a-b \(down/],
      ] as const
    ) {
      const { a, wake } = backToBack(64 * 1024, 4, new Set([2, 3, 4]));
      const r = await runVsockSend(
        {
          sockets: a,
          wake,
          labCids,
          joinedCids: new Set([4]),
          joinedPaths: new Map([[4, path]]),
        },
        { cid: 4, port: 6001, bytes: 1, chunk: 1 },
        opts,
      );
      assert.equal(r.kind, "error", JSON.stringify(r));
      const e = r as { message: string; hint: string };
      assert.equal(e.message, "Cannot connect to vsock 4:6001: refused");
      assert.match(e.hint, /^CID 4 is VM "b": start vsock-sink or vsock-echo on port 6001 there/);
      assert.match(e.hint, words);
    }
  } finally {
    clear();
  }
});

Deno.test("a vsock-send whose REQUEST nobody answers in time says it timed out and points at the link's delay", async () => {
  const { opts, clear } = realTimeOptions();
  // A peer behind a long delay: nothing comes back before the table's deadline.
  const a = new VsockSockets({
    cid: 3,
    sink: { send: () => true },
    now: () => performance.now(),
    timeoutMs: 50,
  });
  const ticker = setInterval(() => a.tick(), 10);
  try {
    const r = await runVsockSend(
      { sockets: a, wake: () => {}, labCids: new Map([[3, "a"], [4, "b"]]) },
      { cid: 4, port: 6001, bytes: 1, chunk: 1 },
      opts,
    );
    assert.equal(r.kind, "error", JSON.stringify(r));
    const e = r as { message: string; hint: string };
    assert.equal(e.message, "Cannot connect to vsock 4:6001: timed out (no answer within 2 s)");
    assert.match(e.hint, /connect timeout .*delay of 1 s or more each way/);
  } finally {
    clearInterval(ticker);
    clear();
  }
});

Deno.test("a vsock-send from a VM whose socket table is full is a one-line workload error, not a thrown RangeError", async () => {
  const { opts, clear } = realTimeOptions();
  const a = new VsockSockets({ cid: 3, sink: { send: () => true }, maxConnections: 2 });
  a.connect(4, 1);
  a.connect(4, 2);
  try {
    // It threw 'Cannot connect to 4:5000: 2 connections are open', which the lab printed as
    // 'Workload failed: …' with the generic hint.
    const r = await runVsockSend({ sockets: a, wake: () => {} }, {
      cid: 4,
      port: 5000,
      bytes: 1,
      chunk: 1,
    }, opts);
    assert.equal(r.kind, "error");
    const e = r as { message: string; hint: string };
    assert.equal(
      e.message,
      "Cannot connect to vsock 4:5000: this VM has 2 vsock connections open, the most its socket " +
        "table holds",
    );
    assert.match(e.hint, /vlab status/);
  } finally {
    clear();
  }
});

Deno.test("the vsock workloads on a VM without vsock name themselves", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    const send = await runVsockSend(undefined, { cid: 4, port: 1, bytes: 1, chunk: 1 }, opts);
    const sink = await runVsockSink(undefined, { port: 1, seconds: 1 }, opts);
    const echo = await runVsockEcho(undefined, { port: 1, seconds: 1 }, opts);
    assert.deepEqual(
      [send, sink, echo].map((r) => r.kind === "error" ? r.message : r.kind),
      ["vsock-send", "vsock-sink", "vsock-echo"].map((w) =>
        `Cannot run ${w}: this VM has no vsock device`
      ),
    );
  } finally {
    clear();
  }
});

Deno.test("a vsock-send stopped while its REQUEST is unanswered says so, not that it timed out", async () => {
  // The REQUEST waits (a peer behind a long delay) and the user presses Ctrl-C: it said "timed
  // out (no answer within 2 s)" and blamed the link's delay.
  const ac = new AbortController();
  const { opts, clear } = realTimeOptions(ac.signal);
  const a = new VsockSockets({ cid: 3, sink: { send: () => true } });
  const stop = setTimeout(() => ac.abort(), 20);
  try {
    const r = await runVsockSend(
      { sockets: a, wake: () => {} },
      { cid: 4, port: 6001, bytes: 1, chunk: 1 },
      opts,
    );
    assert.equal(r.kind, "error", JSON.stringify(r));
    assert.equal(
      (r as { message: string }).message,
      "Cannot connect to vsock 4:6001: stopped before the peer answered",
    );
  } finally {
    clearTimeout(stop);
    clear();
  }
});

Deno.test("a vsock-send stream the host (CID 2) closes early points at the host's program, not at a vsock-sink", async () => {
  const { opts, clear } = realTimeOptions();
  try {
    const { a, b, wake } = backToBack(64 * 1024, 2);
    // The host's program reads the first bytes, then closes.
    b.listen(6002, (c) => {
      c.onEvent = (e) => {
        if (e === "readable") c.close();
      };
    });
    const r = await runVsockSend(
      { sockets: a, wake },
      { cid: 2, port: 6002, bytes: 1 << 20, chunk: 4096 },
      opts,
    );
    assert.equal(r.kind, "error", JSON.stringify(r));
    const e = r as { message: string; hint: string };
    assert.match(e.message, /^Vsock stream to 2:6002 ended after \d+ of 1048576 bytes/);
    assert.match(
      e.hint,
      /^The peer is the host \(CID 2\): see what the program on this VM's vsock\.sock_6002 did/,
    );
  } finally {
    clear();
  }
});

Deno.test("a large lab's 'no VM has CID' hint lists the CIDs nearest the one asked, and how many more", () => {
  const cids = new Map(Array.from({ length: 64 }, (_, i) => [i + 3, `vm${i}`] as [number, string]));
  assert.equal(
    labCidsText(cids, 40),
    "2 (the host), 36 (vm33), 37 (vm34), 38 (vm35), 39 (vm36), 40 (vm37), 41 (vm38), 42 (vm39), " +
      "43 (vm40) and 56 more (the nearest to 40 shown)",
  );
  assert.equal(labCidsText(new Map([[3, "a"]]), 9), "2 (the host), 3 (a)");
  assert.equal(labCidsText(undefined, 9), "2 (the host)");
});

Deno.test("vsock-sink fails (exit 1, workloadFailure) on a reset, a byte out of place or no sender; a whole stream is 0", async () => {
  // It exited 0 in every case: a script (`vlab exec b -- vsock-sink && …`) took a cut stream for a
  // whole one, though the result said so.
  const { opts, clear } = realTimeOptions();
  const run = async (send: (a: VsockSockets, wake: () => void) => void, seconds = 5) => {
    const { a, b, wake } = backToBack(64 * 1024);
    const sink = runVsockSink({ sockets: b, wake }, { port: 5000, seconds }, opts);
    send(a, wake);
    return (await sink) as VsockSinkResult;
  };
  try {
    const whole = await run((a, wake) => {
      const c = a.connect(4, 5000);
      wake();
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => streamByte(i));
      c.write(bytes, 0, bytes.length);
      c.close();
      wake();
    });
    assert.equal(whole.mismatches, 0, whole.text);
    assert.equal(whole.complete, true, whole.text);
    assert.equal(workloadFailure(whole), null);
    assert.equal(workloadExitCode(whole), 0);
    const reset = await run((a, wake) => {
      const c = a.connect(4, 5000);
      wake();
      c.write(Uint8Array.from({ length: 100 }, (_, i) => streamByte(i)), 0, 100);
      wake();
      c.reset("aborted");
      wake();
    });
    assert.equal(reset.mismatches, 0, reset.text);
    assert.equal(
      workloadFailure(reset),
      "its stream was not ended by the sender: reset (by the sender, a crash of its VM or device worker, a vsock link going down or a partition)",
    );
    assert.equal(workloadExitCode(reset), 1);
    const misordered = await run((a, wake) => {
      const c = a.connect(4, 5000);
      wake();
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => streamByte(i));
      bytes.set([bytes[11], bytes[10]], 10); // two bytes swapped
      c.write(bytes, 0, bytes.length);
      c.close();
      wake();
    });
    assert.equal(misordered.complete, true, misordered.text);
    assert.equal(
      workloadFailure(misordered),
      "2 bytes of 1000 out of place in its stream (lost, duplicated or reordered)",
    );
    assert.equal(workloadExitCode(misordered), 1);
    const nobody = await run(() => {}, 0.05);
    assert.equal(workloadFailure(nobody), "no sender connected");
    assert.equal(workloadExitCode(nobody), 1);
  } finally {
    clear();
  }
});

Deno.test("vsock-send to a vsock-echo finishes: what comes back is read and dropped, not left to stall the echo", async () => {
  // The echoed bytes filled the sender's receive buffer, the echo waited for credit with its own
  // buffer full, and the stream stalled until the echo's -t (forever without one).
  const { a, b, wake } = backToBack(16 * 1024);
  const ac = new AbortController();
  const { opts, clear } = realTimeOptions(ac.signal);
  const { opts: sendOpts, clear: clearSend } = realTimeOptions();
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const echo = runVsockEcho({ sockets: b, wake }, { port: 5000, seconds: 30 }, opts);
    const r = await Promise.race([
      runVsockSend(
        { sockets: a, wake },
        { cid: 4, port: 5000, bytes: 512 * 1024, chunk: 4096 },
        sendOpts,
      ),
      new Promise<null>((r) => deadline = setTimeout(() => r(null), 3000)),
    ]);
    assert.ok(r !== null, "vsock-send to a vsock-echo stalled");
    assert.equal(r.kind, "vsock-send", JSON.stringify(r));
    assert.equal((r as VsockSendResult).bytes, 512 * 1024);
    ac.abort();
    const e = await echo;
    assert.equal(e.kind, "vsock-echo");
  } finally {
    clearTimeout(deadline);
    ac.abort();
    clear();
    clearSend();
  }
});
