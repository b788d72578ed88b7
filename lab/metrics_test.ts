/**
 * Reading a running lab: the Prometheus text (`GET /metrics`) parses, declares every family
 * once with HELP and TYPE, names and labels are valid, and the counters move with traffic; the
 * status snapshot (`GET /lab`, `vlab status`) describes VMs, NICs and links and agrees with them.
 *
 * The lab's workers and shared memory outlive a single tick of the event loop, so the resource
 * and op sanitizers are off; the lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import { Lab } from "./lab.ts";
import { labStatus, prometheusMetrics } from "./metrics.ts";
import { planLab } from "./plan.ts";
import { topologyFromObject } from "./topology/mod.ts";

const PINGS = 3;

const PAIR = {
  name: "metrics-test",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24", layout: "packed" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** A lab that has carried `PINGS` echo requests from a to b (and their replies). */
async function withPingedLab(body: (lab: Lab) => void | Promise<void>): Promise<void> {
  const t = topologyFromObject(PAIR);
  if (!t.ok) assert.fail(JSON.stringify(t.error));
  const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
  try {
    const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", String(PINGS), "-i", "0.05"]);
    assert.ok(r.ok, r.ok ? "" : r.message);
    assert.equal((r.result as { received: number }).received, PINGS);
    await body(lab);
  } finally {
    await lab.stop();
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  line: string;
}

/** Parse the text exposition format (0.0.4); fails the test on any line it does not accept. */
function parseExposition(text: string): {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
} {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith("\n"), "the text must end with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = line.match(/^# (HELP|TYPE) (\S+) (.*)$/);
    if (meta) {
      const map = meta[1] === "HELP" ? help : type;
      assert.ok(!map.has(meta[2]), `${meta[1]} of ${meta[2]} is declared twice`);
      assert.ok(
        !samples.some((s) => s.name === meta[2]),
        `${meta[1]} of ${meta[2]} comes after its samples`,
      );
      map.set(meta[2], meta[3]);
      continue;
    }
    assert.ok(!line.startsWith("#"), `unexpected comment: ${line}`);
    const m = line.match(/^([^{\s]+)\{(.*)\} (\S+)$/);
    assert.ok(m, `not "name{labels} value": ${line}`);
    const labels: Record<string, string> = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let at = 0;
    while (at < m[2].length) {
      labelRe.lastIndex = at;
      const l = labelRe.exec(m[2]);
      assert.ok(l, `bad labels at ${at} in: ${line}`);
      assert.ok(!(l[1] in labels), `label ${l[1]} twice in: ${line}`);
      labels[l[1]] = l[2];
      at = labelRe.lastIndex;
    }
    const value = Number(m[3]);
    assert.ok(Number.isFinite(value), `value is not a number: ${line}`);
    samples.push({ name: m[1], labels, value, line });
  }
  return { help, type, samples };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample {
  const found = samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0];
}

Deno.test({
  name: "prometheusMetrics is valid text format 0.0.4 and counts the pings",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPingedLab((lab) => {
      const { help, type, samples } = parseExposition(prometheusMetrics(lab));
      assert.ok(samples.length > 50, `only ${samples.length} samples`);
      const names = new Set(samples.map((s) => s.name));
      for (const name of names) {
        assert.match(name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
        assert.ok(help.has(name), `${name} has no # HELP`);
        assert.ok(help.get(name)!.length > 0, `${name} has an empty # HELP`);
        assert.ok(
          ["counter", "gauge"].includes(type.get(name)!),
          `${name}: TYPE ${type.get(name)}`,
        );
        if (type.get(name) === "counter") assert.match(name, /_total$/);
      }
      assert.deepEqual([...help.keys()].sort(), [...names].sort(), "a family without samples");
      const value = (name: string) => samples.find((x) => x.name === name)?.value;
      assert.equal(value("vlab_memory_shared_bytes"), lab.plan.sharedBytes);
      assert.ok((value("vlab_memory_resident_bytes") ?? 0) > 10 * 2 ** 20);
      assert.deepEqual([...type.keys()].sort(), [...names].sort());
      // No series twice (Prometheus rejects the whole scrape otherwise).
      const series = samples.map((s) => s.line.slice(0, s.line.lastIndexOf(" ")));
      assert.equal(new Set(series).size, series.length, "a series appears twice");
      for (const s of samples) assert.equal(s.labels.lab, "metrics-test", s.line);

      assert.equal(find(samples, "vlab_up", {}).value, 1);
      for (const vm of ["a", "b"]) {
        assert.equal(find(samples, "vlab_vm_running", { vm }).value, 1);
      }
      const nic = (vm: string, layout: string) => ({ vm, device: "eth0", layout });
      const bRx = find(samples, "vlab_net_device_rx_frames_total", nic("b", "packed")).value;
      const aTx = find(samples, "vlab_net_device_tx_frames_total", nic("a", "split")).value;
      const aRx = find(samples, "vlab_net_device_rx_frames_total", nic("a", "split")).value;
      assert.ok(bRx >= PINGS, `b received ${bRx} frames`);
      assert.ok(aTx >= PINGS, `a sent ${aTx} frames`);
      assert.ok(aRx >= PINGS, `a received ${aRx} frames`);

      // Each direction of the link has its own counters, and they agree with the NICs.
      const link = (direction: string) => ({ link: "a-b", direction });
      const forward = find(samples, "vlab_link_frames_out_total", link("forward")).value;
      const reverse = find(samples, "vlab_link_frames_out_total", link("reverse")).value;
      assert.equal(forward, aTx, "a → b frames on the link");
      assert.equal(forward, bRx, "a → b frames delivered to b");
      assert.equal(reverse, aRx, "b → a frames delivered to a");
      for (const name of ["vlab_link_frames_in_total", "vlab_link_frames_dropped_total"]) {
        find(samples, name, link("forward"));
        find(samples, name, link("reverse"));
      }
      assert.equal(find(samples, "vlab_link_frames_dropped_total", link("forward")).value, 0);
      assert.equal(find(samples, "vlab_link_up", { link: "a-b" }).value, 1);

      // Prometheus conventions: no instance (VM, device, link, queue) inside a metric name.
      for (const name of names) {
        for (const part of name.split("_")) {
          assert.ok(!["a", "b", "eth0", "receiveq", "transmitq"].includes(part), name);
        }
        assert.doesNotMatch(name, /a-b|eth0/);
      }
      // Per-queue kicks and interrupts, labelled by VM, device and queue.
      const q = (vm: string, queue: string) => ({ vm, device: "eth0", queue });
      assert.ok(find(samples, "vlab_queue_kicks_total", q("a", "transmitq")).value >= PINGS);
      assert.ok(find(samples, "vlab_queue_interrupts_total", q("b", "receiveq")).value > 0);
      find(samples, "vlab_queue_interrupts_suppressed_total", q("a", "receiveq"));
      assert.equal(find(samples, "vlab_queue_size", q("b", "receiveq")).value, 256);
      // Status bits and negotiated features of each device (as labels).
      assert.equal(find(samples, "vlab_device_status_bit", { vm: "b", bit: "DRIVER_OK" }).value, 1);
      assert.equal(
        find(samples, "vlab_device_feature", { vm: "b", feature: "RING_PACKED" }).value,
        1,
      );
      assert.ok(
        !samples.some((s) =>
          s.name === "vlab_device_feature" && s.labels.vm === "a" &&
          s.labels.feature === "RING_PACKED"
        ),
      );
      // Drops by cause and waits, one family each.
      assert.equal(
        find(samples, "vlab_link_drops_total", { ...link("forward"), cause: "queue_limit" }).value,
        0,
      );
      find(samples, "vlab_link_waits_total", { ...link("reverse"), cause: "rx_buffer" });
      assert.equal(type.get("vlab_link_waits_total"), "counter");
      assert.equal(type.get("vlab_queue_in_flight"), "gauge");
      lab.setLink("a-b", false);
      const down = parseExposition(prometheusMetrics(lab)).samples;
      assert.equal(find(down, "vlab_link_up", { link: "a-b" }).value, 0);
    }),
});

Deno.test({
  name: "labStatus lists VMs with their NICs (MAC, IP, layout) and links with their counters",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPingedLab((lab) => {
      const s = labStatus(lab);
      assert.equal(s.name, "metrics-test");
      assert.equal(s.seed, 3);
      assert.equal(s.pid, Deno.pid);
      assert.ok(s.uptimeSeconds >= 0);
      assert.ok(!Number.isNaN(Date.parse(s.startedAt)));
      assert.deepEqual(
        s.vms.map((v) => [v.name, v.state, v.nics.map((n) => [n.name, n.ip, n.layout, n.link])]),
        [
          ["a", "running", [["eth0", "10.0.0.1/24", "split", "a-b"]]],
          ["b", "running", [["eth0", "10.0.0.2/24", "packed", "a-b"]]],
        ],
      );
      const macs = s.vms.map((v) => v.nics[0].mac);
      for (const mac of macs) assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.notEqual(macs[0], macs[1]);
      for (const v of s.vms) assert.ok(v.nics[0].queueSize > 0);
      const [a, b] = s.vms.map((v) => v.nics[0]);
      assert.ok(b.device.rxFrames >= PINGS);
      // Negotiated features and status bits of each device, as QEMU's `info virtio-status`.
      for (const n of [a, b]) {
        assert.equal(n.status, 0x0f);
        assert.deepEqual(n.statusNames, ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "DRIVER_OK"]);
        for (const f of ["VERSION_1", "MAC", "STATUS"]) assert.ok(n.features.includes(f), f);
      }
      assert.equal(a.features.includes("RING_PACKED"), false);
      assert.equal(b.features.includes("RING_PACKED"), true);
      assert.ok(a.device.txFrames >= PINGS);
      assert.deepEqual(s.switches, []);
      // The lab's memory: the plan's shared memory, and the process's resident set (which holds
      // at least the guest pages the pings touched).
      assert.equal(s.memory?.sharedBytes, lab.plan.sharedBytes);
      assert.ok((s.memory?.residentBytes ?? 0) > 10 * 2 ** 20, JSON.stringify(s.memory));
      assert.equal(s.links.length, 1);
      const l = s.links[0];
      assert.equal(l.name, "a-b");
      assert.equal(l.up, true);
      assert.equal(l.endpoints.length, 2);
      assert.equal(l.forward.frames, a.device.txFrames);
      assert.equal(l.reverse.frames, b.device.txFrames);
      assert.ok(l.forward.bytes >= l.forward.frames * 60, `forward bytes ${l.forward.bytes}`);
      assert.equal(l.forward.dropped, 0);
      assert.equal(l.forward.impair, "no impairment");
      // JSON round trip: what `GET /lab` sends.
      assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
      lab.setLink("a-b", false);
      assert.equal(labStatus(lab).links[0].up, false);
    }),
});
