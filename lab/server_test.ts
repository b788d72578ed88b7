/**
 * The control server over its Unix socket, as `vlab` and scripts reach it: every route, every
 * error answer (status and stable code), a live pcap stream, `POST /down`, and the lab still
 * running after each bad request.
 *
 * The lab's workers, the server and its connections outlive a single tick of the event loop, so
 * the resource and op sanitizers are off; the server, every client and the lab are closed in
 * `finally`.
 */

import assert from "node:assert/strict";
import { type Body, type Env, withServer } from "./server_testing.ts";

const post = (body: string): RequestInit => ({
  method: "POST",
  body,
  headers: { "content-type": "application/json" },
});

/** Assert an error answer: status, stable code, and a one-line message and hint. */
function assertError(
  r: { status: number; body: Body },
  status: number,
  code: string,
  message?: RegExp,
): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, "string");
  assert.equal(typeof r.body.error.hint, "string");
  assert.ok(!r.body.error.message.includes("\n"));
  if (message) assert.match(r.body.error.message, message);
}

async function assertStillRuns(env: Env): Promise<void> {
  const r = await env.call(
    "/exec",
    post(JSON.stringify({ vm: "b", argv: ["ping", "10.0.0.1", "-c", "1"] })),
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.result.received, 1);
}

Deno.test({
  name: "GET routes answer the status, metrics, events and a VM; the socket is mode 0600",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      assert.equal(Deno.statSync(env.path).mode! & 0o777, 0o600);

      const lab = await env.call("/lab");
      assert.equal(lab.status, 200);
      assert.equal(lab.body.name, "server-test");
      assert.deepEqual(lab.body.vms.map((v: { state: string }) => v.state), [
        "running",
        "running",
      ]);

      const metrics = await env.call("/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      assert.match(metrics.body, /^vlab_up\{lab="server-test"\} 1$/m);

      const events = await env.call("/events");
      assert.equal(events.status, 200);
      assert.ok(Array.isArray(events.body));
      assert.ok(events.body.some((e: { kind: string }) => e.kind === "lab-up"));

      const vm = await env.call("/vms/a");
      assert.equal(vm.status, 200);
      assert.equal(vm.body.name, "a");
      assert.equal(vm.body.state, "running");
      assert.deepEqual(
        vm.body.guest.nics.map((n: { name: string; linkUp: boolean }) => [n.name, n.linkUp]),
        [["eth0", true]],
      );
      assertError(await env.call("/vms/zz"), 404, "unknown-vm", /"zz"/);
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /exec runs a workload; bad JSON is 400, an unknown VM 404, bad arguments 422",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const good = await env.call(
        "/exec",
        post(JSON.stringify({ vm: "a", argv: ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"] })),
      );
      assert.equal(good.status, 200, JSON.stringify(good.body));
      assert.equal(good.body.result.kind, "ping");
      assert.equal(good.body.result.transmitted, 2);
      assert.equal(good.body.result.received, 2);

      for (const bad of ["not json", "{}", '{"vm": "a"}', '{"vm": "a", "argv": [1]}', "null"]) {
        assertError(await env.call("/exec", post(bad)), 400, "bad-request");
      }
      assertError(
        await env.call("/exec", post(JSON.stringify({ vm: "zz", argv: ["ping", "10.0.0.2"] }))),
        404,
        "unknown-vm",
        /"zz"/,
      );
      assertError(
        await env.call("/exec", post(JSON.stringify({ vm: "a", argv: ["ping"] }))),
        422,
        "workload-failed",
      );
      assertError(
        await env.call("/exec", post(JSON.stringify({ vm: "a", argv: ["pong", "10.0.0.2"] }))),
        422,
        "workload-failed",
      );
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /links/NAME flips a link; a bad body is 400 and an unknown link 404",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const down = await env.call("/links/a-b", post('{"up": false}'));
      assert.equal(down.status, 200, JSON.stringify(down.body));
      assert.deepEqual(down.body, { link: "a-b", up: false });
      assert.equal(env.lab.linkUp("a-b"), false);
      assert.equal((await env.call("/lab")).body.links[0].up, false);

      for (const bad of ["not json", "{}", '{"up": "false"}', "[]"]) {
        assertError(await env.call("/links/a-b", post(bad)), 400, "bad-request");
      }
      assert.equal(env.lab.linkUp("a-b"), false, "a bad request changed the link");
      assertError(await env.call("/links/x-y", post('{"up": true}')), 404, "unknown-link", /x-y/);

      const up = await env.call("/links/a-b", post('{"up": true}'));
      assert.equal(up.status, 200);
      assert.equal(env.lab.linkUp("a-b"), true);
      // The guests must see the link up again before a ping can cross.
      const deadline = performance.now() + 5000;
      while (performance.now() < deadline) {
        const vm = await env.call("/vms/b");
        if (vm.body.guest.nics[0].linkUp) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "GET /capture streams a pcap: the libpcap header, then records of the traffic",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      assertError(await env.call("/capture?link=x-y"), 404, "unknown-link");
      assertError(await env.call("/capture"), 400, "bad-request", /link/);

      const client = env.client();
      const res = await fetch("http://vlab/capture?link=a-b", { client });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/vnd.tcpdump.pcap");
      const reader = res.body!.getReader();
      let bytes = new Uint8Array(0);
      const readAtLeast = async (n: number) => {
        const deadline = performance.now() + 10_000;
        while (bytes.length < n) {
          assert.ok(performance.now() < deadline, `only ${bytes.length} of ${n} bytes came`);
          const { value, done } = await reader.read();
          assert.ok(!done, `the stream ended after ${bytes.length} bytes`);
          const next = new Uint8Array(bytes.length + value.length);
          next.set(bytes);
          next.set(value, bytes.length);
          bytes = next;
        }
      };
      try {
        await readAtLeast(24);
        const header = new DataView(bytes.buffer, 0, 24);
        assert.deepEqual([...bytes.subarray(0, 4)], [0xd4, 0xc3, 0xb2, 0xa1]);
        assert.equal(header.getUint16(4, true), 2); // version 2.4
        assert.equal(header.getUint16(6, true), 4);
        assert.equal(header.getUint32(20, true), 1); // LINKTYPE_ETHERNET

        const ping = await env.call(
          "/exec",
          post(JSON.stringify({ vm: "a", argv: ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"] })),
        );
        assert.equal(ping.body.result.received, 2);
        // The first record: a 16-byte header, then incl_len bytes of an Ethernet frame.
        await readAtLeast(24 + 16);
        const inclLen = new DataView(bytes.buffer, 24 + 8, 4).getUint32(0, true);
        assert.ok(inclLen >= 42 && inclLen <= 1514, `incl_len ${inclLen}`);
        await readAtLeast(24 + 16 + inclLen);
      } finally {
        await reader.cancel();
        client.close();
      }
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "a wrong method is 405, an unknown path 404, and POST /down calls onDown",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      for (
        const [path, method] of [
          ["/lab", "POST"],
          ["/metrics", "DELETE"],
          ["/events", "PUT"],
          ["/exec", "GET"],
          ["/links/a-b", "GET"],
          ["/capture?link=a-b", "POST"],
          ["/down", "GET"],
          ["/vms/a", "POST"],
        ]
      ) {
        assertError(await env.call(path, { method }), 405, "method-not-allowed");
      }
      assertError(await env.call("/nope"), 404, "not-found", /GET \/nope/);
      assertError(await env.call("/"), 404, "not-found");
      assert.equal(env.downs(), 0, "a bad request stopped the lab");
      await assertStillRuns(env);

      const down = await env.call("/down", { method: "POST" });
      assert.equal(down.status, 202);
      assert.deepEqual(down.body, { stopping: "server-test" });
      const deadline = performance.now() + 5000;
      while (env.downs() === 0 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(env.downs(), 1);
    }),
});

Deno.test({
  name:
    "GET /snapshot and GET /ring answer the dashboard; bad parameters are 400, an unknown queue 404",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      await assertStillRuns(env);
      const snap = await env.call("/snapshot");
      assert.equal(snap.status, 200);
      assert.equal(snap.body.lab.name, "server-test");
      assert.deepEqual(
        snap.body.vms.map((v: { name: string; state: string }) => [v.name, v.state]),
        [["a", "running"], ["b", "running"]],
      );
      const dev = snap.body.vms[0].devices[0];
      assert.ok(dev.features.includes("VERSION_1"));
      assert.deepEqual(dev.queues.map((q: { name: string }) => q.name), ["receiveq", "transmitq"]);
      assert.ok(snap.body.links[0].reverse.frames >= 1);
      assert.ok(Array.isArray(snap.body.events));

      const ring = await env.call("/ring?vm=a&nic=eth0&queue=0");
      assert.equal(ring.status, 200, JSON.stringify(ring.body));
      assert.deepEqual(ring.body.selector, { vm: "a", nic: "eth0", queue: 0 });
      assert.equal(ring.body.layout, "split");
      assert.equal(ring.body.size, 256);
      assert.equal(ring.body.descriptors.length, 256);
      assert.equal((await env.call("/ring?vm=b&nic=eth0&queue=1")).body.selector.queue, 1);

      // The codes of POST /faults: what the lab lacks is named for what it is.
      for (
        const [q, code] of [
          ["vm=a&nic=eth0&queue=2", "unknown-queue"],
          ["vm=zz&nic=eth0&queue=0", "unknown-vm"],
          ["vm=a&nic=eth7&queue=1", "unknown-device"],
        ]
      ) {
        assertError(await env.call(`/ring?${q}`), 404, code);
      }
      for (
        const q of [
          "",
          "vm=a&nic=eth0",
          "vm=a&queue=0",
          "nic=eth0&queue=0",
          "vm=a&nic=eth0&queue=x",
          "vm=a&nic=eth0&queue=-1",
          "vm=a&nic=eth0&queue=1.5",
          "vm=a&nic=eth0&queue=",
        ]
      ) {
        assertError(await env.call(`/ring?${q}`), 400, "bad-request");
      }
      // A queue's name, as vlab fault takes it: the message names the queue, not missing
      // parameters, and the hint lists the device's queues by index.
      const named = await env.call("/ring?vm=a&nic=eth0&queue=transmitq");
      assertError(named, 400, "bad-request");
      assert.equal(named.body.error.message, `GET /ring takes the queue's index, got "transmitq"`);
      assert.equal(named.body.error.hint, "Queues of a:eth0: 0 receiveq, 1 transmitq");
      assertError(await env.call("/snapshot", { method: "POST" }), 405, "method-not-allowed");
      assertError(
        await env.call("/ring?vm=a&nic=eth0&queue=0", { method: "PUT" }),
        405,
        "method-not-allowed",
      );
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /exec of a name on Object.prototype is a 422 and the guest keeps working",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"]) {
        const r = await env.call("/exec", post(JSON.stringify({ vm: "a", argv: [name] })));
        assertError(r, 422, "workload-failed", new RegExp(`Unknown workload "${name}"`));
      }
      for (const vm of ["toString", "__proto__", "constructor"]) {
        const r = await env.call("/exec", post(JSON.stringify({ vm, argv: ["sink"] })));
        assertError(r, 404, "unknown-vm");
      }
      assertError(await env.call("/links/toString", post('{"up": false}')), 404, "unknown-link");
      assertError(await env.call("/vms/__proto__"), 404, "unknown-vm");
      assert.equal(env.lab.vmState("a"), "running");
      await assertStillRuns(env);
      const r = await env.call(
        "/exec",
        post(JSON.stringify({ vm: "a", argv: ["ping", "10.0.0.2", "-c", "1"] })),
      );
      assert.equal(r.body.result.received, 1, JSON.stringify(r.body));
    }),
});

/** Send one request exactly as written (no client-side normalisation); the status and body. */
async function rawRequest(path: string, line: string): Promise<{ status: number; body: Body }> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(new TextEncoder().encode(
      `${line} HTTP/1.1\r\nHost: vlab\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    ));
    let text = "";
    const buf = new Uint8Array(8192);
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    return { status, body: body.startsWith("{") ? JSON.parse(body) : body };
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "a raw .. segment or a malformed escape is a 400 routed nowhere; the lab runs on",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      for (
        const line of [
          "POST /links/../down",
          "POST /links/%2e%2E/down",
          "POST /links/./a-b",
          "POST //down",
          "GET /vms/a/..",
          "GET /vms/%zz",
          "GET /vms/%C3%28",
          "GET /lab?x=%",
        ]
      ) {
        const r = await rawRequest(env.path, line);
        assertError(r, 400, "bad-path");
        assert.ok(!r.body.error.message.includes("\x1b"), "an escape reached the message");
      }
      assert.equal(env.downs(), 0, "a non-canonical path stopped the lab");
      assert.equal((await rawRequest(env.path, "GET /vms/a")).status, 200);
      assertError(await rawRequest(env.path, "GET /vms/%7A%7A"), 404, "unknown-vm", /"zz"/);
      // An encoded slash or escape sequence is part of a name: looked up, quoted, never routed.
      assertError(await rawRequest(env.path, "GET /vms/a%2F..%2Fdown"), 404, "unknown-vm");
      const escape = await rawRequest(env.path, "GET /vms/%1b%5b31m");
      assertError(escape, 404, "unknown-vm");
      assert.ok(!escape.body.error.message.includes("\x1b"), "an escape reached the message");
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "answering an exec or a capture prints no Deno warning about request.signal",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const warnings: string[] = [];
      const warn = console.warn;
      console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(" "));
      try {
        await assertStillRuns(env);
        const client = env.client();
        const res = await fetch("http://vlab/capture?link=a-b", { client });
        const reader = res.body!.getReader();
        assert.ok(!(await reader.read()).done, "the pcap header came");
        await reader.cancel();
        client.close();
        await assertStillRuns(env);
      } finally {
        console.warn = warn;
      }
      assert.deepEqual(warnings.filter((w) => /request\.signal/.test(w)), []);
    }),
});

Deno.test({
  name: "POST /links/NAME with impair changes it live; bad values are 400 naming the key",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const set = await env.call(
        "/links/a-b",
        post('{"impair": {"delay": "5ms", "loss_gemodel": "1% 10%"}, "direction": "reverse"}'),
      );
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal(set.body.reverse.delayUs, 5000);
      assert.equal(set.body.forward.delayUs, 0);
      const status = await env.call("/lab");
      assert.equal(status.body.links[0].reverse.impair, "delay 5ms loss gemodel 1% 10% 100% 0%");
      assert.equal(status.body.links[0].forward.impair, "no impairment");
      assertError(
        await env.call("/links/a-b", post('{"impair": {"delay": "5"}}')),
        400,
        "bad-impairment",
        /Cannot read delay "5"/,
      );
      // The answer names the link, as a reorder without a delay's does.
      assertError(
        await env.call("/links/a-b", post('{"impair": {"distribution": "normal"}}')),
        400,
        "bad-impairment",
        /^Cannot set a distribution on link "a-b" without a jitter$/,
      );
      assertError(
        await env.call("/links/a-b", post('{"impair": {}, "direction": "sideways"}')),
        400,
        "bad-impairment",
        /Direction/,
      );
      assertError(await env.call("/links/x-y", post('{"impair": {}}')), 404, "unknown-link");
      const clear = await env.call("/links/a-b", post('{"impair": {}}'));
      assert.equal(clear.status, 200);
      assert.equal((await env.call("/lab")).body.links[0].reverse.impair, "no impairment");
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /partitions cuts, GET lists, POST /heal heals; bad sides are 400, unknown VMs 404",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const made = await env.call("/partitions", post('{"a": ["a"], "b": ["b"], "oneWay": true}'));
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.deepEqual(made.body, { id: 1, a: ["a"], b: ["b"], oneWay: true });
      assert.deepEqual((await env.call("/partitions")).body, [made.body]);
      assertError(
        await env.call("/partitions", post('{"a": ["a"], "b": ["zz"]}')),
        404,
        "unknown-vm",
      );
      assertError(
        await env.call("/partitions", post('{"a": ["a"], "b": ["a"]}')),
        400,
        "bad-partition",
      );
      assertError(await env.call("/partitions", post('{"a": "a"}')), 400, "bad-request");
      assertError(await env.call("/heal", post('{"id": 9}')), 404, "unknown-partition");
      const healed = await env.call("/heal", post("{}"));
      assert.deepEqual(healed.body, { healed: [1] });
      assert.deepEqual((await env.call("/partitions")).body, []);
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /faults injects a fault; a bad body is 400, unknown names 404, __proto__ is a name",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      // transmitq: dropped TX interrupts delay only reclaiming, so the ping below still answers
      // (dropped receiveq interrupts stall a's receive path until its guest's next wake-up).
      const ok = await env.call(
        "/faults",
        post('{"kind": "lost-irq", "vm": "a", "device": "eth0", "queue": "transmitq", "count": 2}'),
      );
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(ok.body, {
        fault: "lost-irq",
        vm: "a",
        device: "eth0",
        queue: "transmitq",
        count: 2,
      });
      assertError(
        await env.call("/faults", post('{"kind": "meteor", "vm": "a"}')),
        400,
        "bad-fault",
      );
      assertError(await env.call("/faults", post("[1]")), 400, "bad-fault");
      assertError(
        await env.call("/faults", post('{"kind": "backend-crash", "vm": "a", "ms": -1}')),
        400,
        "bad-fault",
      );
      assertError(
        await env.call("/faults", post('{"kind": "backend-crash", "vm": "__proto__"}')),
        404,
        "unknown-vm",
      );
      assertError(
        await env.call(
          "/faults",
          post('{"kind": "lost-kick", "vm": "a", "device": "eth0", "queue": "toString"}'),
        ),
        404,
        "unknown-queue",
      );
      assertError(await env.call("/faults"), 405, "method-not-allowed");
      await assertStillRuns(env);
    }),
});

Deno.test({
  name:
    "a body that gives a key twice is a 400 duplicate-key on every POST route, and changes nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const cases: [string, string, RegExp][] = [
        [
          "/faults",
          '{"kind": "lost-kick", "vm": "a", "device": "eth0", "queue": "transmitq", "count": 1, "count": 1000}',
          /^Cannot read the request body: key "count" is given twice$/,
        ],
        ["/links/a-b", '{"up": true, "up": false}', /key "up" is given twice/],
        [
          "/links/a-b",
          '{"impair": {"delay": "5ms", "delay": "6ms"}}',
          /key "delay" in impair is given twice/,
        ],
        ["/partitions", '{"a": ["a"], "b": ["b"], "a": ["b"]}', /key "a" is given twice/],
        ["/heal", '{"id": 1, "id": 2}', /key "id" is given twice/],
        ["/exec", '{"vm": "a", "vm": "b", "argv": ["ping"]}', /key "vm" is given twice/],
      ];
      for (const [path, body, message] of cases) {
        const r = await env.call(path, post(body));
        assertError(r, 400, "duplicate-key", message);
        assert.equal(r.body.error.hint, "Give each key once");
      }
      assert.equal(env.lab.linkUp("a-b"), true, "a refused body changed the link");
      assert.deepEqual((await env.call("/partitions")).body, []);
      await assertStillRuns(env);
    }),
});

Deno.test({
  name:
    "POST /links/NAME refuses up with impair, up with direction, and an unknown key; nothing changes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const cases: [string, RegExp][] = [
        ['{"up": false, "impair": {"delay": "7ms"}}', /"up" and "impair"/],
        ['{"up": true, "impair": {}}', /"up" and "impair"/],
        ['{"up": false, "direction": "forward"}', /"direction"/],
        ['{"up": false, "direction": "both"}', /"direction"/],
        ['{"up": false, "dirction": "forward"}', /"dirction"/],
        ['{"impair": {"delay": "7ms"}, "direciton": "reverse"}', /"direciton"/],
        ['{"impair": {"delay": "7ms"}, "up": null}', /"up" and "impair"/],
        ['{"direction": "forward"}', /"direction" only with "impair"/],
      ];
      for (const [body, message] of cases) {
        assertError(await env.call("/links/a-b", post(body)), 400, "bad-request", message);
      }
      const hint = (await env.call("/links/a-b", post('{"up": false, "dirction": "x"}'))).body;
      assert.match(hint.error.hint, /Did you mean "direction"\?/);
      assert.equal(env.lab.linkUp("a-b"), true, "a refused body brought the link down");
      const status = (await env.call("/lab")).body.links[0];
      assert.equal(status.forward.impair, "no impairment", "a refused body impaired the link");
      assert.equal(status.reverse.impair, "no impairment", "a refused body impaired the link");
      await assertStillRuns(env);
    }),
});

Deno.test({
  name: "POST /exec, /partitions and /heal refuse a key they do not take (a typo is not ignored)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const cases: [string, string, RegExp][] = [
        ["/exec", '{"vm": "a", "argv": ["ping", "10.0.0.2"], "junk": 1}', /"junk"/],
        ["/partitions", '{"a": ["a"], "b": ["b"], "one_way": true}', /"one_way"/],
        ["/heal", '{"ids": 1}', /"ids"/],
      ];
      for (const [path, body, message] of cases) {
        assertError(await env.call(path, post(body)), 400, "bad-request", message);
      }
      assert.deepEqual((await env.call("/partitions")).body, [], "a refused body cut the lab");
      await assertStillRuns(env);
    }),
});

/**
 * Send raw bytes over the socket and read the answer: until its `content-length` has come, or
 * with `untilClose` until the server closes (to see that a HEAD answer carries no body).
 */
async function rawExchange(
  path: string,
  head: string,
  body: AsyncIterable<Uint8Array> | null = null,
  untilClose = false,
): Promise<{ status: number; head: string; body: string; sent: number; ms: number }> {
  const t0 = performance.now();
  const conn = await Deno.connect({ transport: "unix", path });
  let sent = 0;
  // A server that never answers (it waits for a body that never comes) fails the test, not hangs it.
  const timer = setTimeout(() => conn.close(), 15_000);
  try {
    await conn.write(new TextEncoder().encode(head));
    // The client stops sending once the answer begins, as curl does on an early error.
    let answered = false;
    const reading = (async () => {
      let text = "";
      const buf = new Uint8Array(65536);
      while (true) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        answered = true;
        text += new TextDecoder().decode(buf.subarray(0, n));
        const end = text.indexOf("\r\n\r\n");
        const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
        if (!untilClose && end >= 0 && length && text.length - end - 4 >= Number(length[1])) break;
      }
      return text;
    })();
    if (body !== null) {
      for await (const chunk of body) {
        if (answered) break;
        try {
          await conn.write(chunk);
        } catch {
          break; // the server closed the connection
        }
        sent += chunk.length;
      }
    }
    const text = await reading;
    const end = text.indexOf("\r\n\r\n");
    return {
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
      head: text.slice(0, end),
      body: text.slice(end + 4),
      sent,
      ms: performance.now() - t0,
    };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** `n` bytes of a JSON string's insides, in chunks of 64 KiB. */
async function* filler(n: number, prefix = "", suffix = ""): AsyncIterable<Uint8Array> {
  const enc = new TextEncoder();
  yield enc.encode(prefix);
  const chunk = enc.encode("x".repeat(65536));
  for (let left = n; left > 0; left -= chunk.length) {
    yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    await new Promise((r) => setTimeout(r, 0));
  }
  yield enc.encode(suffix);
}

Deno.test({
  name:
    "a body over 1 MiB is a 413 at once, declared or streamed; a deep body is a clean 400; status answers meanwhile",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      // Declared: answered from the header alone, the body never sent.
      const declared = await rawExchange(
        env.path,
        "POST /exec HTTP/1.1\r\nHost: vlab\r\nContent-Type: application/json\r\n" +
          "Content-Length: 104857600\r\nConnection: close\r\n\r\n",
      );
      assert.equal(declared.status, 413, declared.head + declared.body);
      assert.ok(declared.ms < 5000, `the 413 took ${declared.ms} ms`);
      const d = JSON.parse(declared.body);
      assert.equal(d.error.code, "body-too-large");
      assert.match(d.error.message, /104857600 bytes/);
      assert.match(d.error.hint, /1048576/);

      // Streamed (chunked, no length): the server stops reading soon after the limit.
      const streamed = rawExchange(
        env.path,
        "POST /exec HTTP/1.1\r\nHost: vlab\r\nContent-Type: application/json\r\n" +
          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        (async function* () {
          const enc = new TextEncoder();
          for await (const piece of filler(100 * 1024 * 1024, '{"vm": "a", "argv": ["', '"]}')) {
            yield enc.encode(`${piece.length.toString(16)}\r\n`);
            yield piece;
            yield enc.encode("\r\n");
          }
          yield enc.encode("0\r\n\r\n");
        })(),
      );
      // Meanwhile the lab answers its status promptly.
      const t0 = performance.now();
      assert.equal((await env.call("/lab")).status, 200);
      assert.ok(performance.now() - t0 < 2000, `GET /lab took ${performance.now() - t0} ms`);
      const s = await streamed;
      assert.equal(s.status, 413, s.head + s.body);
      assert.equal(JSON.parse(s.body).error.code, "body-too-large");
      assert.ok(s.sent < 32 * 1024 * 1024, `the server read ${s.sent} bytes of a refused body`);
      assert.ok(s.ms < 10_000, `the 413 took ${s.ms} ms`);

      // 50 MB of a valid body through fetch: refused, not run.
      const big = JSON.stringify({ vm: "a", argv: ["ping", "10.0.0.2"], junk: "x".repeat(50e6) });
      assertError(await env.call("/exec", post(big)), 413, "body-too-large");

      // Just under the limit is read (and refused for what it says, not for its size).
      const under = JSON.stringify({ vm: "a", argv: ["x".repeat(1024 * 1024 - 40)] });
      assert.ok(new TextEncoder().encode(under).length <= 1024 * 1024);
      assertError(await env.call("/exec", post(under)), 422, "workload-failed");

      // Deeply nested JSON within the limit: a clean 400 on every POST route, never a 500.
      const open = "[".repeat(500_000);
      const deep = "[".repeat(250_000) + "]".repeat(250_000);
      const deepObj = (key: string) => `{"${key}": ${deep}}`;
      const bodies: [string, string, string][] = [
        ["/exec", open, "bad-request"],
        ["/exec", deep, "bad-request"],
        ["/exec", `{"vm": "a", "argv": ${deep}}`, "bad-request"],
        ["/links/a-b", deep, "bad-request"],
        ["/links/a-b", deepObj("up"), "bad-request"],
        ["/links/a-b", deepObj("impair"), "bad-impairment"],
        ["/links/a-b", `{"impair": {}, "direction": ${deep}}`, "bad-impairment"],
        ["/links/a-b", `{"impair": {"delay": ${deep}}}`, "bad-impairment"],
        ["/partitions", deepObj("a"), "bad-request"],
        ["/heal", deepObj("id"), "bad-request"],
        ["/faults", deep, "bad-fault"],
      ];
      for (const [path, body, code] of bodies) {
        const r = await env.call(path, post(body));
        assert.equal(r.status, 400, `${path} ${body.slice(0, 30)}: ${JSON.stringify(r.body)}`);
        assertError(r, 400, code);
      }
      assert.equal(env.lab.linkUp("a-b"), true);
      await assertStillRuns(env);
    }),
});

/** Send `request`, close the sending half (as `socat` does at its input's end), read to close. */
async function halfClosedExchange(path: string, request: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  // A server that never answers fails the test, not hangs it.
  const timer = setTimeout(() => conn.close(), 10_000);
  try {
    await conn.write(new TextEncoder().encode(request));
    await conn.closeWrite();
    let text = "";
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

Deno.test({
  name:
    "a body cut short by the client's half-close is a 400 incomplete-body, not a 500 'bug in vlab'",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const cases: [string, RegExp][] = [
        [
          'POST /links/a-b HTTP/1.1\r\nHost: vlab\r\nContent-Length: 50\r\n\r\n{"up":',
          /ended before the body did \(its Content-Length gives 50 bytes\)$/,
        ],
        [
          "POST /heal HTTP/1.1\r\nHost: vlab\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
          /ended before the body did$/,
        ],
      ];
      for (const [request, said] of cases) {
        const text = await halfClosedExchange(env.path, request);
        assert.match(text, /^HTTP\/1\.1 400 /, text);
        const error = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)).error;
        assert.equal(error.code, "incomplete-body", text);
        assert.match(error.message, said);
      }
      // Nothing was done with half a body, and the lab answers on.
      assert.equal(env.lab.linkUp("a-b"), true);
      await assertStillRuns(env);
    }),
});

Deno.test({
  name:
    "405 carries Allow; HEAD answers as GET without a body; /capture without link= is a 400; the 404 hint lists every route",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      for (
        const [path, method, allow] of [
          ["/lab", "POST", "GET, HEAD"],
          ["/metrics", "DELETE", "GET, HEAD"],
          ["/exec", "GET", "POST"],
          ["/links/a-b", "GET", "POST"],
          ["/capture?link=a-b", "POST", "GET, HEAD"],
          ["/captures/1", "POST", "GET, HEAD, DELETE"],
          ["/partitions", "DELETE", "GET, HEAD, POST"],
          ["/switches", "POST", "GET, HEAD"],
          ["/switches/s", "PUT", "GET, HEAD"],
          ["/down", "GET", "POST"],
          ["/down", "HEAD", "POST"],
        ]
      ) {
        const r = await env.call(path, { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
        if (method !== "HEAD") assertError(r, 405, "method-not-allowed");
      }

      for (const path of ["/lab", "/metrics", "/events", "/snapshot", "/vms/a", "/partitions"]) {
        const get = await env.call(path);
        const head = await rawExchange(
          env.path,
          `HEAD ${path} HTTP/1.1\r\nHost: vlab\r\nConnection: close\r\n\r\n`,
          null,
          true,
        );
        assert.equal(head.status, 200, `HEAD ${path}: ${head.head}`);
        assert.equal(head.body, "", `HEAD ${path} sent a body`);
        assert.match(
          head.head,
          new RegExp(`content-type: ${get.headers.get("content-type")}`, "i"),
        );
      }
      assert.equal((await env.call("/vms/zz", { method: "HEAD" })).status, 404);
      const headCapture = await env.call("/capture?link=a-b", { method: "HEAD" });
      assert.equal(headCapture.status, 200);
      assert.equal(headCapture.headers.get("content-type"), "application/vnd.tcpdump.pcap");
      assert.equal((await env.call("/capture?link=x-y", { method: "HEAD" })).status, 404);
      // A HEAD starts no capture: the first capture's id is still 1.
      const c = env.client();
      const res = await fetch("http://vlab/capture?link=a-b", { client: c });
      assert.equal(res.headers.get("vlab-capture-id"), "1");
      await res.body!.cancel();
      c.close();

      for (const q of ["", "?link=", "?lnk=a-b"]) {
        assertError(await env.call(`/capture${q}`), 400, "bad-request", /link/);
      }

      const nf = await env.call("/nope");
      assertError(nf, 404, "not-found");
      // The hint is "GET /lab /metrics …; POST /exec …; DELETE /captures/ID".
      const listed = new Set<string>();
      for (const group of nf.body.error.hint.replace(/^Endpoints: /, "").split("; ")) {
        const [m, ...paths] = group.split(" ");
        for (const p of paths) listed.add(`${m} ${p}`);
      }
      for (
        const route of [
          "GET /lab",
          "GET /metrics",
          "GET /events",
          "GET /snapshot",
          "GET /ring?vm=&nic=&queue=",
          "GET /switches",
          "GET /switches/NAME",
          "GET /vms/NAME",
          "GET /capture?link=NAME",
          "GET /captures/ID",
          "DELETE /captures/ID",
          "GET /partitions",
          "POST /partitions",
          "POST /exec",
          "POST /links/NAME",
          "POST /heal",
          "POST /faults",
          "POST /down",
        ]
      ) {
        assert.ok(listed.has(route), `the hint leaves out ${route}: ${nf.body.error.hint}`);
      }
      await assertStillRuns(env);
    }),
});
