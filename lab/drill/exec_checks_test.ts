/**
 * What an exec step's workload needs of its VM is judged against the topology before the lab
 * starts: a vsock workload without vsock, a CID nobody has, a NIC that is not behind the vIOMMU.
 */

import assert from "node:assert/strict";
import { type DrillIssue, parseDrill } from "./load.ts";

async function problems(text: string): Promise<string[]> {
  const r = await parseDrill(text, "d.yaml");
  assert.ok(!r.ok, "the drill should not validate");
  return r.error.map((i: DrillIssue) => `${i.line}:${i.column}: ${i.message} / hint: ${i.hint}`);
}

Deno.test("a workload its VM cannot run is a validation error, not a failed run", async () => {
  // Before, each started the lab and failed as a workload ("this VM has no vsock device", …).
  assert.deepEqual(
    await problems(
      "topology: pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [vsock-echo, -t, 1] }\n" +
        "  - exec: { vm: b, argv: [iommu-unmap, eth0] }\n",
    ),
    [
      '3:26: Cannot run vsock-echo in VM "a": it has no vsock device / hint: add `vsock: { cid: N }` to VM "a" in the topology, or run it in a VM with one',
      '4:26: Cannot revoke "eth0": VM "b" has no vIOMMU / hint: iommu-unmap revokes the window of a NIC behind its VM\'s vIOMMU (`iommu:` in the topology)',
    ],
  );
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [vsock-send, 9, 5000] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 3, 5000] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 2, 5000] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
    ),
    [
      "3:26: Cannot connect to vsock 9:5000: no VM has CID 9 / hint: the lab's vsock CIDs: 2 (the host), 3 (a), 4 (b)",
      "4:26: Cannot connect to vsock 3:5000: CID 3 is VM \"a\"'s own / hint: vlab has no vsock loopback: connect to another VM's CID, or to the host (CID 2)",
      // (Its CID is fine; nothing listens on the port.)
      '6:26: Cannot connect to vsock 4:5000 from VM "a": no step above starts vsock-sink or vsock-echo on port 5000 in VM "b" (CID 4) in the background, so the connection would be refused / hint: start one there first: exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }',
    ],
  );
  assert.deepEqual(
    await problems(
      "topology: iommu-pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [iommu-unmap, eth1] }\n" +
        "  - exec: { vm: a, argv: [iommu-unmap, eth0] }\n" +
        "  - exec: { vm: c, argv: [iommu-unmap, eth1] }\n",
    ),
    [
      '3:26: Cannot revoke "eth1": not a NIC behind VM "a"\'s vIOMMU (those: eth0) / hint: did you mean `eth0`?',
      '5:17: Unknown VM "c" / hint: expected one of `a`, `b`',
    ],
  );
});

Deno.test("a topology that did not load brings no workload problem", async () => {
  const issues = await problems(
    "topology: pari\ntimeline:\n  - exec: { vm: a, argv: [iommu-unmap, eth9] }\n",
  );
  assert.equal(issues.length, 1, issues.join("\n"));
  assert.match(issues[0], /^1:11: Unknown shipped topology "pari"/);
});

Deno.test("a server that runs until stopped, in the foreground, is refused: the drill could not go on", async () => {
  // Before, the drill waited for it until its timeout, then failed.
  assert.deepEqual(
    await problems(
      "topology: pair\ntimeline:\n" +
        "  - exec: { vm: b, argv: [udp-echo], as: echo }\n" +
        "  - exec: { vm: b, argv: [sink, -t, 0, -p, 7], background: false }\n" +
        "  - exec: { vm: b, argv: [sink, -t, 0, -n, 5, -p, 8] }\n" +
        "  - exec: { vm: b, argv: [vsock-echo, -t, 1] }\n" +
        "  - exec: { vm: b, argv: [udp-echo, -p, 9], background: true }\n",
    ),
    [
      "3:26: udp-echo runs until it is stopped: in the foreground, the drill would wait for it until its timeout / hint: add background: true (it is stopped when the drill ends, with what it measured), or give it a duration (-t SECONDS)",
      "4:26: sink runs until it is stopped: in the foreground, the drill would wait for it until its timeout / hint: add background: true (it is stopped when the drill ends, with what it measured), or give it a duration (-t SECONDS or -n COUNT)",
      '6:26: Cannot run vsock-echo in VM "b": it has no vsock device / hint: add `vsock: { cid: N }` to VM "b" in the topology, or run it in a VM with one',
    ],
  );
});

Deno.test("a network workload in a VM with vsock only is a validation error", async () => {
  // It started the lab and failed as "Cannot ping 10.0.0.2: no interface's subnet holds it".
  const vsockOnly =
    "topology:\n  name: v\n  vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }\n" +
    "  links: [{ kind: vsock, endpoints: [a, b] }]\n";
  assert.deepEqual(
    await problems(
      vsockOnly + "timeline:\n" +
        "  - exec: { vm: a, argv: [ping, 10.0.0.2] }\n" +
        "  - exec: { vm: b, argv: [sink, -t, 1] }\n",
    ),
    [
      '6:26: Cannot run ping in VM "a": it has no network interface / hint: give VM "a" a NIC (`nics:` in the topology), or run it in a VM with one; over vsock run vsock-send, vsock-sink or vsock-echo',
      '7:26: Cannot run sink in VM "b": it has no network interface / hint: give VM "b" a NIC (`nics:` in the topology), or run it in a VM with one; over vsock run vsock-send, vsock-sink or vsock-echo',
    ],
  );
});

Deno.test("a ping or flood to an address its VM cannot reach is a validation error, not a failed run", async () => {
  // Before, each started the lab: the ping failed ("no interface's subnet holds it"), and so did
  // the flood once its ARP went unanswered.
  assert.deepEqual(
    await problems(
      "topology: pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [ping, 10.1.0.2, -c, 1] }\n" +
        "  - exec: { vm: a, argv: [udp-flood, 10.0.0.3, -n, 10] }\n",
    ),
    [
      '3:26: Cannot ping 10.1.0.2 from VM "a": no interface\'s subnet holds it / hint: did you mean `10.0.0.2`?',
      '4:26: Cannot flood 10.0.0.3 from VM "a": no VM has that address, so its ARP would get no reply / hint: did you mean `10.0.0.2`?',
    ],
  );
  // A ping to an address no VM has only loses its requests (a drill may mean it), a ping to the
  // subnet's network address too; the VM's own address and a peer's are left to the run.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.3, -c, 1] }\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.1, -c, 1] }\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.0, -c, 1] }\n" +
      "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 10] }\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
});

Deno.test("a vsock-send to a VM's port that no step above listens on is a validation error, not a failed run", async () => {
  // Before, it ran, and failed the drill: "Cannot connect to vsock 4:5000: refused".
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5000, -b, 1000] }\n" +
        // In the foreground, the sink ended before the send.
        "  - exec: { vm: b, argv: [vsock-sink, -p, 5001, -t, 1] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5001] }\n" +
        // Another VM's port.
        "  - exec: { vm: a, argv: [vsock-echo, -p, 5002], background: true }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5002] }\n",
    ),
    [
      '3:26: Cannot connect to vsock 4:5000 from VM "a": no step above starts vsock-sink or vsock-echo on port 5000 in VM "b" (CID 4) in the background, so the connection would be refused / hint: start one there first: exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }',
      '5:26: Cannot connect to vsock 4:5001 from VM "a": no step above starts vsock-sink or vsock-echo on port 5001 in VM "b" (CID 4) in the background, so the connection would be refused / hint: start one there first: exec: { vm: b, argv: [vsock-sink, -p, 5001], background: true }',
      '7:26: Cannot connect to vsock 4:5002 from VM "a": no step above starts vsock-sink or vsock-echo on port 5002 in VM "b" (CID 4) in the background, so the connection would be refused / hint: start one there first: exec: { vm: b, argv: [vsock-sink, -p, 5002], background: true }',
    ],
  );
  // A server in the background above (an echo too, one with a problem of its own), the host's
  // CID (its listeners are no step's), a step whose workload did not read: left to the run.
  for (
    const steps of [
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 5], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      "  - exec: { vm: a, argv: [vsock-send, 2, 5000] }\n",
    ]
  ) {
    const r = await parseDrill(`topology: vsock-pair\ntimeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
  }
  for (
    const [steps, count] of [
      ["  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true, as: events }\n", 1],
      ["  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: yes }\n", 1],
    ] as const
  ) {
    const issues = await problems(
      `topology: vsock-pair\ntimeline:\n${steps}  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n`,
    );
    assert.equal(issues.length, count, issues.join("\n"));
  }
});

Deno.test("a vsock-send to a vsock-sink that took a stream already, or to a server of a VM crashed since, is a validation error", async () => {
  // Before, both validated, then failed on every run: "Cannot connect to vsock 4:5000: refused"
  // (a vsock-sink takes one stream; a vm-crash ends the VM's workloads, and the new guest
  // listens on nothing).
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5000, -b, 1000] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5000, -b, 1000] }\n" +
        "  - exec: { vm: b, argv: [vsock-sink, -p, 5001, -t, 1], background: true }\n" +
        "  - wait: 2s\n" +
        "  - fault: { kind: vm-crash, vm: b }\n" +
        "  - wait: 2s\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5001] }\n",
    ),
    [
      `5:26: Cannot connect to vsock 4:5000 from VM "a": the server a step above started on port 5000 in VM "b" (CID 4) listens no more (timeline[1]'s vsock-send took its one stream), so the connection would be refused / hint: start one there again, after what ended it: exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true } (a vsock-echo serves any number of streams)`,
      `10:26: Cannot connect to vsock 4:5001 from VM "a": the server a step above started on port 5001 in VM "b" (CID 4) listens no more (timeline[5] crashed VM "b" since), so the connection would be refused / hint: start one there again, after what ended it: exec: { vm: b, argv: [vsock-sink, -p, 5001], background: true } (a vsock-echo serves any number of streams)`,
    ],
  );
  // Just on the allowed side: an echo serves any number of streams, a sink started again after
  // the first took its stream or after the crash listens, a crash of another VM ends nothing of
  // b's, and the host's listeners are no step's.
  for (
    const steps of [
      "  - exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 5], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n" +
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000, -t, 1], background: true }\n" +
      "  - wait: 2s\n" +
      "  - fault: { kind: vm-crash, vm: b }\n" +
      "  - at: 5s\n" +
      "    exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - fault: { kind: vm-crash, vm: a }\n" +
      "  - at: 5s\n" +
      "    exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: a, argv: [vsock-send, 2, 5000] }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 2, 5000] }\n",
    ]
  ) {
    const r = await parseDrill(`topology: vsock-pair\ntimeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});

Deno.test("a vsock-send to a VM no vsock link joins, or over a vsock link left down, is a validation error", async () => {
  // Before, both validated, then failed at once on every run: "Cannot connect to vsock 5:5000:
  // refused" (a packet to a CID the VM has no link to, or over a link that is down, gets RST).
  const topology = "topology:\n  name: t\n  vms:\n" +
    "    a: { vsock: { cid: 3 } }\n    b: { vsock: { cid: 4 } }\n    c: { vsock: { cid: 5 } }\n" +
    "    d: { vsock: { cid: 6 } }\n    e: { vsock: { cid: 7 } }\n" +
    "  vsock_routers: { r1: {} }\n  links:\n" +
    "    - { kind: vsock, endpoints: [a, b] }\n" +
    "    - { kind: vsock, endpoints: [c, r1] }\n    - { kind: vsock, endpoints: [d, r1] }\n" +
    "    - { kind: vsock, endpoints: [e, r1] }\n";
  const echo = (vm: string) =>
    `  - exec: { vm: ${vm}, argv: [vsock-echo, -p, 7], background: true }\n`;
  assert.deepEqual(
    await problems(
      topology + "timeline:\n" + echo("b") + echo("c") + echo("d") +
        "  - exec: { vm: a, argv: [vsock-send, 5, 7] }\n" +
        "  - link: { name: a-b-vsock, state: down }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n" +
        "  - link: { name: d-r1-vsock, state: down }\n" +
        "  - exec: { vm: c, argv: [vsock-send, 6, 7] }\n",
    ),
    [
      '19:26: Cannot connect to vsock 5:7: VM "a" has no vsock link to VM "c" (CID 5), so the connection would be refused / hint: join them in the topology (links: - { kind: vsock, endpoints: [a, c] }), or link both to one vsock router',
      '21:26: Cannot connect to vsock 4:7 from VM "a": the vsock link "a-b-vsock" to VM "b" is down (a step above took it down), so the connection would be refused / hint: bring it up first: link: { name: a-b-vsock, state: up }, or give the down step an up_after',
      '23:26: Cannot connect to vsock 6:7 from VM "c": the vsock link "d-r1-vsock" to VM "d" is down (a step above took it down), so the connection would be refused / hint: bring it up first: link: { name: d-r1-vsock, state: up }, or give the down step an up_after',
    ],
  );
  // Just on the allowed side: a link brought up again, or down for a while only, two VMs on one
  // router while a third one's link is down, the host (no link needed).
  for (
    const steps of [
      echo("b") + "  - link: { name: a-b-vsock, state: down }\n" +
      "  - link: { name: a-b-vsock, state: up }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      echo("b") + "  - link: { name: a-b-vsock, state: down, up_after: 100ms }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      echo("d") + "  - link: { name: e-r1-vsock, state: down }\n" +
      "  - exec: { vm: c, argv: [vsock-send, 6, 7] }\n",
      "  - link: { name: a-b-vsock, state: down }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 2, 7] }\n",
    ]
  ) {
    const r = await parseDrill(`${topology}timeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});

Deno.test("a vsock-send across a partition a step left in force is a validation error", async () => {
  // Before, it validated, then failed at once on every run: "Cannot connect to vsock 4:7:
  // refused" (a partition refuses new vsock connections both ways, a one-way one too).
  const echo = (vm: string, port: number) =>
    `  - exec: { vm: ${vm}, argv: [vsock-echo, -p, ${port}], background: true }\n`;
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" + echo("b", 7) + echo("a", 8) +
        "  - partition: { a: [a], b: [b], one_way: true }\n" +
        "  - exec: { vm: b, argv: [vsock-send, 3, 8] }\n",
    ),
    [
      `6:26: Cannot connect to vsock 3:8 from VM "b": timeline[2]'s partition, in force here, cuts it from VM "a" (new vsock connections are refused both ways), so the connection would be refused / hint: heal it first (heal: all), or give the partition a heal_after`,
    ],
  );
  // Just on the allowed side: one that heals itself, one healed, one between other VMs.
  for (
    const steps of [
      "  - partition: { a: [a], b: [b], heal_after: 100ms }\n",
      "  - partition: { a: [a], b: [b] }\n  - heal: all\n",
      "  - partition: { a: [a], b: [c] }\n",
    ]
  ) {
    const text = "topology:\n  name: t\n  vms:\n" +
      "    a: { vsock: { cid: 3 } }\n    b: { vsock: { cid: 4 } }\n    c: { vsock: { cid: 5 } }\n" +
      "  vsock_routers: { r1: {} }\n  links:\n" +
      "    - { kind: vsock, endpoints: [a, r1] }\n    - { kind: vsock, endpoints: [b, r1] }\n" +
      "    - { kind: vsock, endpoints: [c, r1] }\n" +
      `timeline:\n${echo("b", 7)}${steps}  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n`;
    const r = await parseDrill(text, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});

Deno.test("a ping or flood to a broadcast address, a flood to the network address, is a validation error", async () => {
  // Before, each was left to the run: a flood to 10.0.0.255 or 10.0.0.0 failed after 3 s,
  // "Cannot flood 10.0.0.255: ARP got no reply" (the guest ARPs for it), a ping to 10.0.0.255 lost
  // its requests after asking ARP for it; the guest now refuses a broadcast destination at once.
  assert.deepEqual(
    await problems(
      "topology: pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [udp-flood, 10.0.0.255, -n, 10] }\n" +
        "  - exec: { vm: a, argv: [udp-flood, 10.0.0.0, -n, 10] }\n" +
        "  - exec: { vm: a, argv: [ping, 10.0.0.255, -c, 1] }\n" +
        "  - exec: { vm: a, argv: [ping, 255.255.255.255, -c, 1] }\n",
    ),
    [
      "3:26: Cannot flood 10.0.0.255 from VM \"a\": it is the broadcast address of eth0's subnet 10.0.0.0/24 / hint: vlab's guests send to one address at a time: give one VM's address (b 10.0.0.2)",
      '4:26: Cannot flood 10.0.0.0 from VM "a": it is the subnet\'s network address, which no VM has, so its ARP would get no reply / hint: the addresses in its subnet: a 10.0.0.1, b 10.0.0.2',
      "5:26: Cannot ping 10.0.0.255 from VM \"a\": it is the broadcast address of eth0's subnet 10.0.0.0/24 / hint: vlab's guests send to one address at a time: give one VM's address (b 10.0.0.2)",
      "6:26: Cannot ping 255.255.255.255 from VM \"a\": it is the limited broadcast address / hint: vlab's guests send to one address at a time: give one VM's address (b 10.0.0.2)",
    ],
  );
});

Deno.test("a flood whose frames exceed the MTU of the NIC they leave by is a validation error", async () => {
  // Before, the lab started and the flood failed: "frame size 1515 exceeds MTU 1500 + 14".
  assert.deepEqual(
    await problems(
      "topology: pair\ntimeline:\n" +
        "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -s, 1515, -n, 10] }\n",
    ),
    [
      '3:26: Cannot flood 10.0.0.2 from VM "a": frame size 1515 exceeds the MTU of eth0 (1500) + 14 / hint: use -s between 60 and 1514, or give eth0 a larger mtu in the topology',
    ],
  );
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -s, 1514, -n, 10] }\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
});

Deno.test("a repeated vsock-send to a vsock-sink is a validation error: the sink takes one stream", async () => {
  // Before, it validated, then its second run failed on every run: "Cannot connect to vsock
  // 4:5000: refused" (the first run's stream was the sink's one).
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
        "  - every: 500ms\n    for: 1s\n    exec: { vm: a, argv: [vsock-send, 4, 5000, -b, 1000] }\n",
    ),
    [
      `6:26: Cannot connect to vsock 4:5000 from VM "a" again: timeline[1] runs 2 times (every, for), and the vsock-sink a step above started on port 5000 in VM "b" (CID 4) takes one stream, the first run's, so the second run's connection would be refused / hint: serve any number of streams there: exec: { vm: b, argv: [vsock-echo, -p, 5000], background: true }, or leave every and for out`,
    ],
  );
  // Just on the allowed side: one run (every as long as for), a repeated send to an echo, to the
  // host.
  for (
    const steps of [
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - every: 1s\n    for: 1s\n    exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 5000, -t, 5], background: true }\n" +
      "  - every: 500ms\n    for: 1s\n    exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - every: 500ms\n    for: 1s\n    exec: { vm: a, argv: [vsock-send, 2, 5000] }\n",
    ]
  ) {
    const r = await parseDrill(`topology: vsock-pair\ntimeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});

Deno.test("a vsock-send to a server a wait_for saw end is a validation error", async () => {
  // Before, it validated, then failed on every run: "Cannot connect to vsock 4:5000: refused"
  // (the wait returned once the server's workload was over: its port listens no more).
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: b, argv: [vsock-echo, -p, 5000, -t, 1], background: true, as: srv }\n" +
        "  - wait_for: { workload: srv }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
    ),
    [
      `5:26: Cannot connect to vsock 4:5000 from VM "a": the server a step above started on port 5000 in VM "b" (CID 4) listens no more (timeline[1] waited for "srv" to end), so the connection would be refused / hint: start one there again, after what ended it: exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true } (a vsock-echo serves any number of streams)`,
    ],
  );
  // Just on the allowed side: the send before the wait, a wait for another workload, a server
  // started again after the wait.
  for (
    const steps of [
      "  - exec: { vm: b, argv: [vsock-echo, -p, 5000, -t, 1], background: true, as: srv }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n" +
      "  - wait_for: { workload: srv }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 5000, -t, 5], background: true, as: srv }\n" +
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5001, -t, 1], background: true, as: other }\n" +
      "  - wait_for: { workload: other }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 5000, -t, 1], background: true, as: srv }\n" +
      "  - wait_for: { workload: srv }\n" +
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 5000] }\n",
    ]
  ) {
    const r = await parseDrill(`topology: vsock-pair\ntimeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});

Deno.test("a vsock-send to a server whose -t surely ran out before it is a validation error", async () => {
  // Before, it validated, then failed on every run: "Cannot connect to vsock 4:7: refused" (the
  // vsock-echo ended at its -t 1, 2 s before the send).
  assert.deepEqual(
    await problems(
      "topology: vsock-pair\ntimeline:\n" +
        "  - exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 1], background: true }\n" +
        "  - wait: 1s\n" +
        "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 11, -i, 0.1] }\n" +
        "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
    ),
    [
      `6:26: Cannot connect to vsock 4:7 from VM "a": the server a step above started on port 7 in VM "b" (CID 4) listens no more (its -t 1 ran out: the steps since hold the cursor 2 s at least), so the connection would be refused / hint: start one there again, after what ended it: exec: { vm: b, argv: [vsock-sink, -p, 7], background: true } (a vsock-echo serves any number of streams)`,
    ],
  );
  // Just on the allowed side: the steps between may take less than -t plus the lab's pace
  // (500 ms), an at (which may come at once), a server without -t, one started again.
  for (
    const steps of [
      "  - exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 1], background: true }\n" +
      "  - wait: 1499ms\n  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      "  - at: 10s\n    exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 1], background: true }\n" +
      "  - at: 10s\n    exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 7], background: true }\n" +
      "  - wait: 5s\n  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
      "  - exec: { vm: b, argv: [vsock-echo, -p, 7, -t, 1], background: true }\n" +
      "  - wait: 2s\n  - exec: { vm: b, argv: [vsock-sink, -p, 7], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-send, 4, 7] }\n",
    ]
  ) {
    const r = await parseDrill(`topology: vsock-pair\ntimeline:\n${steps}`, "d.yaml");
    assert.ok(r.ok, `${steps}\n${r.ok ? "" : JSON.stringify(r.error)}`);
  }
});
