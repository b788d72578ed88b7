/**
 * The scripting API of `mod.ts` (`startLab`, `loadTopology`): a lab started from a script is
 * registered like `vlab up`'s (state folder, `lab.json`, control socket), runs workloads, reads
 * metrics and status, captures a link into a pcap, reports errors as `LabError`s with stable
 * codes, and leaves nothing behind when stopped. Every test uses its own VLAB_STATE_DIR.
 *
 * The lab's workers and control socket outlive a single tick of the event loop, so the resource
 * and op sanitizers are off; every lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import {
  type Fault,
  type LabHandle,
  loadTopology,
  startLab,
  type StartLabOptions,
  topologyObject,
} from "../mod.ts";
import { LabError } from "./errors.ts";
import { pathExists, within } from "./testing.ts";

const MINI = {
  name: "api-mini",
  seed: 11,
  vms: {
    a: { nics: { eth0: { ip: "10.1.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.1.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** Run `body` with VLAB_STATE_DIR pointing at a fresh temporary folder. */
async function withStateDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-api-test-" });
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", dir);
  try {
    await body(dir);
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function isLabError(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof LabError, `not a LabError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.length > 0 && !e.message.includes("\n"));
    assert.ok(e.hint.length > 0);
    return true;
  };
}

Deno.test({
  name: "startLab registers the lab, runs workloads, reads metrics and status, stop cleans up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async (dir) => {
      const lab0 = await startLab(MINI);
      let lab: LabHandle | null = lab0;
      try {
        assert.equal(lab.name, "api-mini");
        assert.equal(lab.socket, `${dir}/api-mini/control.sock`);
        assert.ok(Deno.statSync(lab.socket).isSocket);
        const record = JSON.parse(Deno.readTextFileSync(`${dir}/api-mini/lab.json`));
        assert.equal(record.name, "api-mini");
        assert.equal(record.pid, Deno.pid);
        assert.equal(record.socket, lab.socket);
        assert.equal(record.vms, 2);

        assert.equal(lab.vm("a").state(), "running");
        const ping = await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "2", "-i", "0.05"]);
        assert.equal(ping.kind, "ping");
        assert.equal(ping.transmitted, 2);
        assert.equal(ping.received, 2);

        // spawn: the sink runs (its port bound) when it resolves, so a flood sent at once
        // reaches it whole; a workload that never ran makes spawn itself throw (it resolved,
        // and only its result threw: a script went on as if its receiver ran).
        const sink = await lab.vm("b").spawn(["sink", "-n", "200", "-t", "20"]);
        await assert.rejects(
          lab.vm("b").spawn(["sink", "-t", "1"]),
          (e) => isLabError("workload-failed")(e) && /port in use/.test((e as Error).message),
        );
        await lab.vm("a").exec(["udp-flood", "10.1.0.2", "-n", "200", "-r", "20000"]);
        const got = await sink.result;
        assert.deepEqual([got.received, got.lost], [200, 0]);
        await assert.rejects(lab.vm("b").spawn(["sink", "-n", "x"]), isLabError("workload-failed"));
        // One that runs and then fails still resolves; its result throws.
        const early = await lab.vm("b").spawn(["ping", "10.1.0.9", "-c", "1", "-W", "0.1"]);
        assert.equal(typeof (await early.result).transmitted, "number");

        assert.throws(() => lab!.vm("zz"), isLabError("unknown-vm"));
        // A name from outside reached the message raw: a script printing it cleared its screen.
        assert.throws(
          () => lab!.vm("\x1b[2J"),
          (e) => isLabError("unknown-vm")(e) && (e as Error).message.includes('VM "\\x1b[2J"'),
        );
        await assert.rejects(
          lab.vm("a").exec(["ping", "\x1b[2J"]),
          // deno-lint-ignore no-control-regex
          (e) => isLabError("workload-failed")(e) && !/[\x00-\x1f]/.test((e as Error).message),
        );
        await assert.rejects(lab.vm("a").exec(["ping"]), isLabError("workload-failed"));
        await assert.rejects(lab.vm("b").exec(["pong", "10.1.0.1"]), isLabError("workload-failed"));
        assert.throws(() => lab!.setLink("x-y", false), isLabError("unknown-link"));
        await assert.rejects(lab.capture("x-y", { ms: 10 }), isLabError("unknown-link"));

        const metrics = lab.metrics();
        assert.match(metrics, /^vlab_up\{lab="api-mini"\} 1$/m);
        const rx = metrics.match(
          /^vlab_net_device_rx_frames_total\{lab="api-mini",vm="b",device="eth0",layout="split"\} (\d+)$/m,
        );
        assert.ok(rx && Number(rx[1]) >= 2, `b rx: ${rx?.[1]}`);

        const status = lab.status();
        assert.equal(status.name, "api-mini");
        assert.deepEqual(status.vms.map((v) => [v.name, v.state]), [["a", "running"], [
          "b",
          "running",
        ]]);
        assert.equal(status.links[0].up, true);
        lab.setLink("a-b", false);
        assert.equal(lab.status().links[0].up, false);
        lab.setLink("a-b", true);
        assert.equal(lab.status().links[0].up, true);

        // Live impairment and partitions through the scripting API.
        lab.setImpairment("a-b", { delay: "2ms", jitter: "1ms", distribution: "normal" }, {
          direction: "forward",
        });
        assert.equal(lab.status().links[0].forward.impair, "delay 2ms 1ms distribution normal");
        assert.equal(lab.status().links[0].reverse.impair, "no impairment");
        assert.throws(
          () => lab!.setImpairment("a-b", { loss: "2" + "00%" }),
          isLabError("bad-impairment"),
        );
        assert.throws(
          () => lab!.setImpairment("a-b", { distribution: "pareto" }),
          (e: unknown) =>
            isLabError("bad-impairment")(e) &&
            (e as Error).message === 'Cannot set a distribution on link "a-b" without a jitter',
        );
        assert.throws(() => lab!.setImpairment("x-y", {}), isLabError("unknown-link"));
        lab.setImpairment("a-b", {});
        assert.equal(lab.status().links[0].forward.impair, "no impairment");
        const cut = lab.partition(["a"], ["b"]);
        assert.deepEqual(cut, { id: 1, a: ["a"], b: ["b"], oneWay: false });
        assert.throws(() => lab!.partition(["a"], ["a"]), isLabError("bad-partition"));
        assert.throws(() => lab!.partition(["a"], ["nope"]), isLabError("unknown-vm"));
        assert.throws(
          () => lab!.partition(["a"], ["b"], { oneway: true } as { oneWay?: boolean }),
          /^TypeError: partition: options has no key "oneway" \(did you mean oneWay\?\); it takes oneWay$/,
        );
        assert.throws(() => lab!.heal(42), isLabError("unknown-partition"));
        assert.deepEqual(lab.heal(), [1]);

        const events = lab.events;
        assert.equal(record.events, events);
        await lab.stop();
        lab = null;
        assert.equal(pathExists(`${dir}/api-mini`), false, "the state folder is still there");
        // Only the event log is kept, and it tells the run from start to end.
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["logs"]);
        assert.ok(events.startsWith(`${dir}/logs/api-mini-`), events);
        const kinds = Deno.readTextFileSync(events).trim().split("\n").map((l) =>
          JSON.parse(l).kind
        );
        assert.deepEqual([kinds[0], kinds.at(-1)], ["lab-up", "lab-down"]);
        // A stopped lab takes no more changes: each is refused, and the log ends at lab-down.
        const stopped = lab0;
        for (
          const change of [
            () => stopped.setLink("a-b", false),
            () => stopped.setImpairment("a-b", { delay: "1ms" }),
            () => stopped.partition(["a"], ["b"]),
            () => stopped.heal(),
          ]
        ) {
          assert.throws(change, isLabError("no-lab"));
        }
        await assert.rejects(stopped.capture("a-b", { ms: 10 }), isLabError("no-lab"));
        // The supervisor's fault answers a script too: its hint names startLab() (it named only
        // the CLI's `vlab up`).
        const fault = await stopped.lab.fault({ kind: "vm-crash", vm: "a" });
        assert.deepEqual(fault.ok ? null : [fault.code, fault.hint], [
          "lab-stopping",
          "Start it again with startLab() in its script",
        ]);
        // A workload asked of a stopped lab is refused as every change is (its hint said
        // "vlab up", a CLI command, to a script).
        for (
          const call of [
            () => stopped.vm("b").spawn(["sink"]),
            () => stopped.vm("b").exec(["sink"]),
          ]
        ) {
          await assert.rejects(call, (e) => {
            isLabError("no-lab")(e);
            assert.equal(
              (e as LabError).message,
              'Cannot run "sink" in VM "b": lab "api-mini" is stopped',
            );
            assert.equal((e as LabError).hint, "Start it again with startLab()");
            return true;
          });
        }
        assert.equal(Deno.readTextFileSync(events).trim().split("\n").length, kinds.length);
      } finally {
        await lab?.stop();
      }
    }),
});

Deno.test({
  name: "capture returns a whole pcap file with the traffic of the link",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab(MINI);
      try {
        // Warm the ARP caches so that the capture window sees echo requests and replies.
        await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "1"]);
        // The capture ends once the ping has its replies (the lab drains the taps at its end):
        // a fixed 500 ms could end first on a loaded machine ("2 records").
        const ending = new AbortController();
        const capture = lab.capture("a-b", { ms: 30_000, signal: ending.signal });
        const ping = await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "3", "-i", "0.05"]);
        assert.equal(ping.received, 3);
        ending.abort();
        const pcap = await capture;
        assert.deepEqual([...pcap.subarray(0, 4)], [0xd4, 0xc3, 0xb2, 0xa1]);
        const view = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
        assert.equal(view.getUint32(20, true), 1); // LINKTYPE_ETHERNET
        // Walk the records: each a 16-byte header and incl_len bytes; they must tile the file.
        let at = 24;
        let records = 0;
        while (at < pcap.length && records < 10_000) {
          assert.ok(at + 16 <= pcap.length, `a truncated record header at ${at}`);
          const incl = view.getUint32(at + 8, true);
          assert.ok(incl >= 14 && incl <= 9216, `incl_len ${incl} at ${at}`);
          at += 16 + incl;
          records++;
        }
        assert.equal(at, pcap.length, "records do not tile the file");
        // 3 requests and 3 replies crossed the link while the capture ran.
        assert.ok(records >= 6, `${records} records`);
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a malformed topology object is rejected with every problem; a second lab of a name too",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async (dir) => {
      const bad = {
        name: "bad",
        vms: { a: { nics: { eth0: { ip: "10.0.0.1/24", queue_sise: 64 } } } },
        links: [{ endpoints: ["a:eth0", "zz:eth0"] }],
      };
      await assert.rejects(startLab(bad), (e) => {
        isLabError("topology-invalid")(e);
        const details = (e as LabError).details;
        assert.match(
          e instanceof Error ? e.message : "",
          /^<object>.*\(and 1 more problem in details\)$/,
        );
        assert.ok(details.some((l) => /queue_sise/.test(l)), details.join("\n"));
        assert.ok(details.some((l) => /did you mean `queue_size`/.test(l)), details.join("\n"));
        assert.ok(details.some((l) => /"zz"/.test(l)), details.join("\n"));
        return true;
      });
      assert.deepEqual([...Deno.readDirSync(dir)], [], "a rejected topology left state behind");
      // One problem: the message is that problem, the hint its hint (not the message again).
      await assert.rejects(loadTopology("no-such-topology"), (e) => {
        isLabError("topology-invalid")(e);
        assert.equal(
          (e as LabError).message,
          'Cannot read topology file "no-such-topology": no such file',
        );
        assert.match((e as LabError).hint, /^shipped topologies: pair, /);
        return true;
      });
      for (const source of [7, null, ["a"]]) {
        await assert.rejects(
          loadTopology(source as unknown as string),
          /^TypeError: loadTopology: source must be a file path, a shipped topology's name or a topology object, got (number|null|an array)$/,
        );
      }
      assert.equal((await loadTopology("pair")).name, "pair");
      // A topology's text given for its path was "no such file", the shipped names for a hint.
      // A long one, as a file's whole text, was "file name too long" (check the permissions).
      const long = await Deno.readTextFile(new URL("../topologies/pair.yaml", import.meta.url));
      for (const text of ["name: inline\nvms: {}\n", '{"name": "inline", "vms": {}}', long]) {
        await assert.rejects(startLab(text), (e: unknown) => {
          assert.ok(e instanceof LabError && e.code === "topology-invalid", String(e));
          assert.match(
            e.message,
            /^Cannot read topology file ".*": (no such file|file name too long)$/,
          );
          assert.match(e.hint, /^That is a topology's text, not a path: pass it as an object/);
          assert.ok(e.details.some((l) => l.includes("That is a topology's text")));
          return true;
        });
      }
      await assert.rejects(
        startLab(MINI, null as unknown as undefined),
        /^TypeError: startLab: options must be an object, got null$/,
      );
      await assert.rejects(
        startLab(MINI, { stopOnSignals: "no" as unknown as boolean }),
        /^TypeError: startLab: options.stopOnSignals must be a boolean, got string$/,
      );
      await assert.rejects(
        startLab(MINI, { label: "" }),
        /^TypeError: startLab: options.label must be a non-empty string, got an empty string$/,
      );
      // A label with a file's path or a shipped name was ignored without a word (lab.json and
      // status named the file), as a misspelt option was.
      for (const source of ["pair", undefined]) {
        await assert.rejects(
          startLab(source, { label: "run-3" }),
          /^TypeError: startLab: options\.label names a topology given as an object; one from a file or a shipped name is named by its path$/,
        );
      }
      // A misspelt option was ignored without a word (the lab ran with the topology's seed).
      await assert.rejects(
        startLab(MINI, { sede: 7 } as unknown as StartLabOptions),
        /^TypeError: startLab: options has no key "sede" \(did you mean seed\?\); it takes stopOnSignals, label, seed, hostWait, guestWait$/,
      );

      const lab = await startLab(MINI);
      try {
        await assert.rejects(startLab(MINI), isLabError("lab-exists"));
        // The first lab is untouched.
        assert.ok(pathExists(`${dir}/api-mini/lab.json`));
        assert.equal(
          (await lab.vm("b").exec(["ping", "10.1.0.1", "-c", "1"])).received,
          1,
        );
      } finally {
        await lab.stop();
      }
      // The refused second start wrote nothing: only the first lab's event log is left.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["logs"]);
      assert.equal([...Deno.readDirSync(`${dir}/logs`)].length, 1);
    }),
});

Deno.test({
  name: "a script reads the dashboard's snapshot and a ring view",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab(MINI);
      try {
        await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "2", "-i", "0.05"]);
        const snap = lab.snapshot();
        assert.deepEqual(snap.vms.map((v) => [v.name, v.state]), [["a", "running"], [
          "b",
          "running",
        ]]);
        const tx = snap.vms[0].devices[0].queues[1];
        assert.equal(tx.name, "transmitq");
        assert.ok(tx.requests >= 2, `${tx.requests} requests`);
        const ring = lab.ringView("a", "eth0", 1);
        assert.equal(ring.size, tx.size);
        assert.equal(ring.descriptors.length, Math.min(256, tx.size));
        // The codes of POST /faults: an unknown NIC is an unknown device, not an unknown queue.
        assert.throws(() => lab.ringView("a", "eth9", 0), isLabError("unknown-device"));
        assert.throws(() => lab.ringView("a", "eth0", 2), isLabError("unknown-queue"));
        // An index that is no index is the script's mistake (it read as an unknown queue).
        for (const q of [-1, 1.5, Number.NaN]) {
          assert.throws(() => lab.ringView("a", "eth0", q), RangeError, String(q));
        }
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name:
    "a vhost-pci link cannot be impaired or captured: a one-line error naming why, and what to do",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab("vhost-pci");
      try {
        const said = (code: string, message: RegExp, hint: RegExp) => (e: unknown) =>
          isLabError(code)(e) && message.test((e as LabError).message) &&
          hint.test((e as LabError).hint);
        assert.throws(
          () => lab.setImpairment("a-b", { delay: "5ms" }),
          said(
            "vhost-pci-link",
            /^Cannot impair link "a-b": a vhost-pci link has no link ring/,
            /vlab link a-b down/,
          ),
        );
        // Clearing it asks for what it has (no impairment): done, as on a net link, and logged.
        lab.setImpairment("a-b", {});
        lab.setImpairment("a-b", {}, { direction: "reverse" });
        assert.equal(lab.lab.events.count("impair", "a-b"), 2);
        // Said as a net link's clear is: what each direction has from then on.
        assert.deepEqual(lab.lab.events.recent().findLast((e) => e.kind === "impair")?.detail, {
          direction: "reverse",
          forward: "no impairment",
          reverse: "no impairment",
        });
        await assert.rejects(
          lab.capture("a-b", { ms: 10 }),
          said("vhost-pci-link", /^Cannot capture link "a-b"/, /counted in vlab status/),
        );
        // An unknown name lists every link, the vhost-pci one included.
        assert.throws(
          () => lab.setLink("a-c", false),
          said("unknown-link", /"a-c"/, /^Links: a-b$/),
        );
        assert.throws(
          () => lab.setImpairment("a-c", {}),
          said("unknown-link", /"a-c"/, /^Links: a-b$/),
        );
        // b's vhost-pci-net device has no ring of its own to view: the hint says whose it serves.
        assert.throws(
          () => lab.ringView("b", "eth0", 0),
          said(
            "no-queues",
            /^NIC b:eth0 is a vhost-pci-net device with no queues of its own: it serves a:eth0's$/,
            /^View those: ringView\("a", "eth0", 0\) for the receiveq, 1 for the transmitq/,
          ),
        );
        // Down and up, and partitions, do apply to it.
        lab.setLink("a-b", false);
        lab.setLink("a-b", true);
        assert.equal(lab.partition(["a"], ["b"]).id, 1);
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name:
    "a vsock link's capture is Linux's vsockmon records (LINKTYPE_VSOCK): each packet, its CIDs and op",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab("vsock-pair");
      try {
        const sink = await lab.vm("b").spawn(["vsock-sink", "-p", "5000", "-t", "3"]);
        const capture = lab.capture("a-b-vsock", { ms: 1500 });
        await lab.vm("a").exec(["vsock-send", "4", "5000", "-b", "65536"]);
        const pcap = await capture;
        await sink.result;
        const view = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
        assert.equal(view.getUint32(20, true), 271, "LINKTYPE_VSOCK");
        const ops = new Map<number, number>();
        let payloadBytes = 0;
        let at = 24;
        for (let n = 0; at < pcap.length && n < 100_000; n++) {
          const incl = view.getUint32(at + 8, true);
          const rec = at + 16;
          // vsockmon: CIDs and ports as the virtio header says, transport virtio, header 44 B.
          assert.equal(view.getUint16(rec + 26, true), 2, "transport virtio");
          assert.equal(view.getUint16(rec + 28, true), 44, "the transport header's length");
          const hdr = rec + 32;
          assert.equal(view.getBigUint64(rec, true), view.getBigUint64(hdr, true), "src_cid");
          assert.equal(
            view.getBigUint64(rec + 8, true),
            view.getBigUint64(hdr + 8, true),
            "dst_cid",
          );
          assert.equal(view.getUint32(rec + 16, true), view.getUint32(hdr + 16, true), "src_port");
          const op = view.getUint16(rec + 24, true);
          ops.set(op, (ops.get(op) ?? 0) + 1);
          if (op === 4) payloadBytes += view.getUint32(hdr + 24, true);
          at = rec + incl;
        }
        assert.equal(at, pcap.length, "records tile the file");
        assert.ok(
          (ops.get(1) ?? 0) >= 2,
          `connect (request, response): ${JSON.stringify([...ops])}`,
        );
        assert.equal(payloadBytes, 65536, "every payload byte of the stream, once");
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a script's argument of the wrong type or range is refused by name, never taken silently",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab(MINI);
      try {
        const before = JSON.stringify(lab.status().links);
        const cases: [() => unknown, ErrorConstructor, RegExp][] = [
          [
            () => lab.setLink("a-b", "false" as unknown as boolean),
            TypeError,
            /up must be true or false, got string/,
          ],
          [
            () =>
              lab.setImpairment("a-b", { delay: "5ms" }, {
                direction: "sideways" as unknown as "both",
              }),
            RangeError,
            /direction must be forward, reverse or both, got sideways/,
          ],
          [
            () => lab.partition("a" as unknown as string[], ["b"]),
            TypeError,
            /each side must be an array of VM names/,
          ],
          [() => lab.heal(-1), RangeError, /a positive integer\) or nothing, got -1/],
          [() => lab.heal(0), RangeError, /a positive integer\) or nothing, got 0$/],
          [
            () => lab.setImpairment("a-b", {}, { direction: 1 as unknown as "both" }),
            TypeError,
            /direction must be forward, reverse or both, got number$/,
          ],
          [() => lab.heal("1" as unknown as number), TypeError, /got string$/],
          [
            () => lab.partition(["a"], ["b"], { oneWay: "yes" as unknown as boolean }),
            TypeError,
            /partition: oneWay must be true or false, got string/,
          ],
          [
            () => lab.partition(["a"], ["b"], null as unknown as { oneWay: boolean }),
            TypeError,
            /partition: options must be an object, got null/,
          ],
          [
            () => lab.setImpairment("a-b", {}, null as unknown as { direction: "both" }),
            TypeError,
            /setImpairment: options must be an object, got null/,
          ],
          [
            () => lab.ringView("a", "eth0", "1" as unknown as number),
            TypeError,
            /ringView: queue must be a queue's index \(a number\), got string/,
          ],
          [() => lab.vm(1 as unknown as string), TypeError, /vm: name must be a string/],
          [
            () => lab.setLink(1 as unknown as string, false),
            TypeError,
            /setLink: link must be a string, got number/,
          ],
        ];
        for (const [call, kind, message] of cases) {
          assert.throws(call, (e: unknown) =>
            e instanceof kind && message.test((e as Error).message));
        }
        const asyncCases: [() => Promise<unknown>, RegExp][] = [
          [
            () =>
              lab.vm("a").exec(["ping", "10.1.0.2"], null as unknown as { signal: AbortSignal }),
            /exec: options must be an object, got null/,
          ],
          [
            () => lab.vm("b").spawn(["sink"], { signal: {} as AbortSignal }),
            /spawn: options.signal must be an AbortSignal, got Object/,
          ],
          [
            () => lab.vm("a").exec("ping 10.1.0.2" as unknown as string[]),
            /^exec: argv must be a non-empty array of strings .*, got string$/,
          ],
          [
            () => lab.vm("b").spawn(["sink", 9 as unknown as string]),
            /^spawn: argv must be a non-empty array of strings .*, got number at index 1$/,
          ],
          [
            () => lab.capture("a-b", { ms: "100" as unknown as number }),
            /capture: ms must be a number of milliseconds, got string/,
          ],
          [
            () => lab.capture("a-b", { signal: "stop" as unknown as AbortSignal }),
            /capture: options.signal must be an AbortSignal, got string/,
          ],
          // "7" is no port (a RangeError said "Cannot use 7 as a vsock port", as if 7 were bad).
          [
            () => lab.vm("a").vsockConnect("7" as unknown as number),
            /vsockConnect: port must be a number, got string/,
          ],
          // A signal given where its options belong has no keys of its own: it was taken as {},
          // and the workload ran to its end whatever the signal did.
          [
            () =>
              lab.vm("a").exec(
                ["ping", "10.1.0.2"],
                new AbortController().signal as unknown as { signal: AbortSignal },
              ),
            /^exec: options must be an object, got AbortSignal \(pass it as \{ signal \}\)$/,
          ],
          [
            () => lab.capture("a-b", new Map([["ms", 5]]) as unknown as { ms: number }),
            /^capture: options must be an object, got Map$/,
          ],
        ];
        for (const [call, message] of asyncCases) {
          await assert.rejects(call, (e: unknown) =>
            e instanceof TypeError && message.test((e as Error).message));
        }
        assert.throws(() =>
          lab.ringView("zz", "eth0", 0), isLabError("unknown-vm"));
        // A fault from a script is checked as a request's is, not taken for one of another kind;
        // one the lab cannot read is the script's mistake: it throws.
        await assert.rejects(
          lab.lab.fault({ kind: "meteor", vm: "a" } as unknown as Fault),
          (e: unknown) =>
            isLabError("bad-fault")(e) &&
            (e as Error).message === 'Cannot inject a fault: unknown kind "meteor"',
        );
        // 2³¹ ms (25 days) armed a timer that fired at once: an empty pcap, silently.
        for (const ms of [-1, Number.NaN, 0, 2 ** 31]) {
          await assert.rejects(lab.capture("a-b", { ms }), (e: unknown) =>
            e instanceof RangeError &&
            /ms must be a positive number of milliseconds up to 604800000 \(a week\)/.test(
              (e as Error).message,
            ));
        }
        assert.equal(JSON.stringify(lab.status().links), before, "nothing was changed");
        assert.deepEqual(lab.lab.links.partitions(), []);
        // A Map of impairment keys has no keys of its own: it was taken as {} and cleared the link.
        lab.setImpairment("a-b", { delay: "5ms" });
        assert.throws(
          () =>
            lab.setImpairment("a-b", new Map([["delay", "50ms"]]) as never),
          (e: unknown) =>
            isLabError("bad-impairment")(e) &&
            /^Impairment must be an object of netem keys, got a Map$/.test((e as Error).message) &&
            /Object\.fromEntries\(map\)/.test((e as LabError).hint),
        );
        assert.equal(lab.status().links[0].forward.impair, "delay 5ms", "the delay is still set");
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a capture ends at once on a signal aborted before the call, and when the lab stops",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab(MINI);
      try {
        const aborted = AbortSignal.abort();
        const pcap = await within(
          1000,
          "a capture with an aborted signal",
          lab.capture("a-b", {
            ms: 60_000,
            signal: aborted,
          }),
        );
        assert.equal(pcap.length, 24, "the global header alone");
        const long = lab.capture("a-b", { ms: 60_000 });
        await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "1"]);
        await lab.stop();
        const got = await within(1000, "a capture across stop", long);
        assert.ok(got.length > 24, `${got.length} bytes: the ping's frames are in it`);
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a shipped topology changed as an object starts, checked again; a loaded one is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      type Nics = Record<string, { nics: Record<string, Record<string, unknown>> }>;
      const nicsOf = (t: Record<string, unknown>) =>
        Object.values(t.vms as Nics).flatMap((vm) => Object.values(vm.nics));
      // A loaded topology changed would not be checked again: refused, naming what to pass.
      const loaded = await loadTopology("pair");
      await assert.rejects(
        startLab(loaded as unknown as Record<string, unknown>),
        /^TypeError: startLab: source is a topology loadTopology returned.*topologyObject/,
      );
      const bad = await topologyObject("pair");
      nicsOf(bad)[0].queue_size = 300;
      await assert.rejects(startLab(bad), isLabError("topology-invalid"));
      const t = await topologyObject("pair");
      for (const nic of nicsOf(t)) nic.layout = "packed";
      const lab = await startLab({ ...t, name: "api-pair-packed" });
      try {
        assert.equal(lab.name, "api-pair-packed");
        const queues = lab.snapshot().vms.flatMap((v) => v.devices[0].queues);
        assert.deepEqual([...new Set(queues.map((q) => q.layout))], ["packed"]);
        assert.equal((await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "1"])).received, 1);
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "a script reads a switch's MAC table; a name that is no switch is unknown-switch",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      const lab = await startLab({
        name: "api-fdb",
        seed: 5,
        vms: {
          h1: { nics: { eth0: { ip: "10.2.0.1/24" } } },
          h2: { nics: { eth0: { ip: "10.2.0.2/24" } } },
        },
        switches: { sw1: {} },
        links: [{ endpoints: ["h1", "sw1"] }, { endpoints: ["h2", "sw1"] }],
      });
      try {
        await lab.vm("h1").exec(["ping", "10.2.0.2", "-c", "1"]);
        const t = await lab.macTable("sw1");
        assert.equal(t.switch, "sw1");
        const macs = lab.lab.plan.vms.map((v) => v.nics[0].mac);
        assert.deepEqual(t.macs.map((m) => m.mac).sort(), [...macs].sort());
        assert.deepEqual(t.macs.map((m) => m.peer).sort(), ["h1:eth0", "h2:eth0"]);
        await assert.rejects(lab.macTable("h1"), isLabError("unknown-switch"));
        await assert.rejects(
          lab.macTable(7 as unknown as string),
          (e) => e instanceof TypeError && /macTable: switchName must be a string/.test(e.message),
        );
        await lab.stop();
        // As every call that needs a worker (it was a control-error, "did not answer").
        await assert.rejects(lab.macTable("sw1"), (e) =>
          isLabError("no-lab")(e) &&
          (e as LabError).message ===
            'Cannot read the MAC table of switch "sw1": lab "api-fdb" is stopped');
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "startLab's hostWait and guestWait choose how the lab's threads wait; bad ones are refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async (dir) => {
      // docs/experiments.md turns the hot waits off for one lab: it named Lab.start, which mod.ts
      // exports as a type only, so a script could not do it.
      await assert.rejects(
        startLab(MINI, { hostWait: "cold" as unknown as "hot" }),
        /^RangeError: startLab: options.hostWait must be "hot" or "async", got cold$/,
      );
      await assert.rejects(
        startLab(MINI, { guestWait: false as unknown as "hot" }),
        /^TypeError: startLab: options.guestWait must be "hot" or "async", got boolean$/,
      );
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [], "nothing started");
      for (const [hostWait, guestWait] of [["async", "hot"], ["hot", "async"]] as const) {
        const lab = await startLab(MINI, { hostWait, guestWait });
        try {
          assert.deepEqual(lab.lab.waits, { host: hostWait, guest: guestWait });
          assert.equal((await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "1"])).received, 1);
        } finally {
          await lab.stop();
        }
      }
    }),
});

Deno.test({
  name: "a stopped lab's hints name its topology file (`vlab up pair`), never a bare `vlab up`",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async () => {
      // A bare `vlab up` starts pair whatever the lab was; a script's object has no file at all.
      const lab = await startLab("pair", { stopOnSignals: false });
      await lab.stop();
      const fault = await lab.lab.fault({ kind: "vm-crash", vm: "a" });
      assert.deepEqual(fault.ok ? null : fault.hint, "Start it again with `vlab up pair`");
      const exec = await lab.lab.exec("a", ["sink"]);
      assert.deepEqual(exec.ok ? null : exec.hint, "Start it again with `vlab up pair`");
    }),
});

Deno.test({
  name: "a script that stops the supervisor itself (lab.lab.stop()) stops the lab as a whole",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withStateDir(async (dir) => {
      // Its control socket and state folder stayed, and the script's process never ended.
      const lab = await startLab({ ...MINI, name: "api-inner-stop" });
      try {
        // A lab-down a script emits is no stop.
        lab.lab.events.emit("lab-down", "api-inner-stop");
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(lab.lab.stopped, false);
        assert.ok(pathExists(lab.socket), "its control socket is still there");
        await within(10_000, "lab.lab.stop()", lab.lab.stop());
        const deadline = performance.now() + 5000;
        while (pathExists(`${dir}/api-inner-stop`) && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(!pathExists(`${dir}/api-inner-stop`), "its state folder is gone");
        assert.ok(!pathExists(lab.socket), "its control socket is gone");
      } finally {
        await within(10_000, "the handle's stop", lab.stop());
      }
    }),
});

Deno.test("a topology object's problems say which key, as a file's say which line", async () => {
  // Before, `<object>: Cannot read delay "5": …` did not say which of the links had it.
  const t = {
    name: "where",
    vms: { a: { nics: { eth0: { ip: "300.0.0.1/24" } } }, b: { nics: { eth0: {} } } },
    links: [{ endpoints: ["a:eth0", "b:eth0"], delay: "5" }],
  };
  await assert.rejects(loadTopology(t), (e) => {
    isLabError("topology-invalid")(e);
    const err = e as LabError;
    assert.match(
      err.message,
      /^<object>: vms\.a\.nics\.eth0\.ip: Cannot read ip "300\.0\.0\.1\/24": .* \(and 1 more problem in details\)$/,
    );
    assert.ok(
      err.details.some((l) => l.startsWith('<object>: links[0].delay: Cannot read delay "5"')),
      err.details.join("\n"),
    );
    return true;
  });
  // A whole-document problem has no key to name.
  await assert.rejects(loadTopology({ name: "x" }), /^LabError: <object>: Missing key "vms"/);
});
