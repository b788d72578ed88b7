import assert from "node:assert/strict";
import { formatDrillIssues, parseDrill } from "./load.ts";
import { workloadLastsMs } from "./steps.ts";
import type { DrillIssue } from "./load.ts";

async function problems(text: string): Promise<DrillIssue[]> {
  const r = await parseDrill(text, "d.yaml");
  assert.ok(!r.ok, "the drill should not validate");
  return r.error;
}

async function valid(text: string): Promise<void> {
  const r = await parseDrill(text, "d.yaml");
  assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
}

const where = (issues: DrillIssue[]) => issues.map((i) => `${i.line}:${i.column}: ${i.message}`);

const PING = "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 30, -i, 0.05], background: true, " +
  "as: ping }\n";

Deno.test("a wait_for that gives up before its workload can end is refused at its timeout", async () => {
  // Before, it ran: the wait failed at 1 s, 0.45 s before the ping could have ended, every run.
  const issues = await problems(
    "topology: pair\ntimeline:\n" + PING + "  - wait_for: { workload: ping, timeout: 1s }\n",
  );
  assert.deepEqual(where(issues), [
    '4:42: timeline[1] waits 1 s for "ping", but "ping" runs 1.45 s at least (timeline[0]: ' +
    '"ping 10.0.0.2 -c 30 -i 0.05") and this step starts right after it: the wait would time ' +
    "out on every run",
  ]);
  assert.equal(
    issues[0].hint,
    'give it a timeout longer than 1.45 s, what "ping" lasts at least by its words, with room ' +
      "to finish, or the workload a shorter run",
  );
  // The default timeout (30 s) counts too, placed at the step's key; the steps between count
  // at their longest.
  const byDefault = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [sink, -t, 40], background: true, as: sink }\n" +
      "  - wait: 2s\n  - link: { name: a-b, state: down, up_after: 1s }\n" +
      "  - wait_for: { workload: sink }\n",
  );
  assert.deepEqual(where(byDefault), [
    '6:5: timeline[3] waits 30 s (its default timeout) for "sink", but "sink" runs 40 s at ' +
    'least (timeline[0]: "sink -t 40") and this step starts at most 3 s after it: the wait ' +
    "would time out on every run",
  ]);
});

Deno.test("a wait_for is refused only when its workload's length and the time between are known", async () => {
  const ok = [
    // Long enough, with what the steps between take at their longest (with some slack).
    PING + "  - wait_for: { workload: ping, timeout: 1500ms }\n",
    PING + "  - wait: 1s\n  - wait_for: { workload: ping, timeout: 400ms }\n",
    // An at later than the workload's length.
    PING + "  - at: 1.5s\n    wait_for: { workload: ping, timeout: 100ms }\n",
    // A workload in the foreground between them: how long it takes, its words do not bound.
    PING + "  - exec: { vm: b, argv: [ping, 10.0.0.1, -c, 1] }\n" +
    "  - wait_for: { workload: ping, timeout: 100ms }\n",
    // A fault between them: how long the lab takes to inject it is not known either.
    PING + "  - fault: { kind: lost-kick, vm: a, device: eth0, queue: transmitq }\n" +
    "  - wait_for: { workload: ping, timeout: 100ms }\n",
    // A count without a rate: its length is not known.
    "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 100000], background: true, as: f }\n" +
    "  - wait_for: { workload: f, timeout: 100ms }\n",
  ];
  for (const steps of ok) await valid(`topology: pair\ntimeline:\n${steps}`);
  // A step due at its at, after the workload started at its own at: the gap is at most their
  // difference.
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - at: 1s\n    exec: { vm: b, argv: [sink, -t, 5], background: true, as: sink }\n" +
      "  - at: 2s\n    wait_for: { workload: sink, timeout: 3s }\n",
  );
  assert.deepEqual(where(issues), [
    '6:42: timeline[1] waits 3 s for "sink", but "sink" runs 5 s at least (timeline[0]: ' +
    '"sink -t 5") and this step starts at most 1 s after it: the wait would time out on every run',
  ]);
});

Deno.test("a flood's count at its rate and a vsock-echo's -t are lengths its words give", () => {
  assert.equal(workloadLastsMs(["udp-flood", "10.0.0.2", "-n", "100", "-r", "50"]), 1980);
  assert.equal(workloadLastsMs(["udp-flood", "10.0.0.2", "-n", "100"]), 0);
  assert.equal(workloadLastsMs(["vsock-echo", "-t", "3"]), 3000);
  assert.equal(workloadLastsMs(["vsock-echo"]), 0);
});

Deno.test("a step due while a rate-bound flood or a vsock-echo -t holds the cursor is out of order", async () => {
  // Before, both passed and ran late: the flood's 100th datagram is due at 1.98 s.
  const issues = await problems(
    "topology: vsock-pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 100, -r, 50] }\n" +
      "  - at: 1s\n    link: { name: a-b, state: down, up_after: 100ms }\n" +
      "  - exec: { vm: b, argv: [vsock-echo, -t, 2] }\n" +
      "  - at: 3s\n    link: { name: a-b, state: down, up_after: 100ms }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column}`), ["4:9", "7:9"]);
  assert.match(issues[0].message, /before timeline\[0\] above it ends \(at 1\.98 s\)/);
  assert.match(issues[1].message, /before timeline\[2\] above it ends \(at 3\.98 s\)/);
});

Deno.test("a server that binds a port a workload in the background still holds is refused", async () => {
  // Before, each ran: the second server failed at once with "Cannot bind UDP port 9: port in use".
  const issues = await problems(
    "topology: vsock-pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [sink, -t, 2], background: true, as: s1 }\n" +
      "  - exec: { vm: b, argv: [udp-echo, -p, 9, -t, 1], background: true }\n" +
      "  - exec: { vm: a, argv: [vsock-echo], background: true }\n" +
      "  - wait: 5s\n" +
      "  - exec: { vm: a, argv: [vsock-sink, -p, 7, -t, 1] }\n",
  );
  assert.deepEqual(where(issues), [
    '4:26: timeline[1] binds UDP port 9 in VM "b" while timeline[0]\'s "sink -t 2" holds it (it ' +
    'runs 2 s at least, and this step starts right after it): it would fail with "port in use"',
    '7:26: timeline[4] binds vsock port 7 in VM "a" while timeline[2]\'s "vsock-echo" holds it ' +
    '(it runs until the drill stops it): it would fail with "port in use"',
  ]);
  assert.equal(
    issues[0].hint,
    "give it another port (-p), or start it once timeline[0]'s workload ended (wait_for: { " +
      "workload: s1 })",
  );
  // Another VM, another port, a port freed by a wait_for or by the time the steps between take,
  // and a sink whose end its words do not give (-n), pass.
  await valid(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [sink, -t, 2], background: true, as: s1 }\n" +
      "  - exec: { vm: a, argv: [sink, -t, 1], background: true }\n" +
      "  - exec: { vm: b, argv: [sink, -p, 10, -t, 1], background: true }\n" +
      "  - wait_for: { workload: s1 }\n" +
      "  - exec: { vm: b, argv: [sink, -t, 1], background: true, as: s2 }\n" +
      "  - wait: 1500ms\n" +
      "  - exec: { vm: b, argv: [sink, -n, 5], background: true }\n" +
      "  - exec: { vm: b, argv: [udp-echo, -p, 9, -t, 1] }\n",
  );
});

Deno.test("a backend crash while an earlier hang surely still blocks the worker is refused", async () => {
  // Before, it ran, and the step failed: "Cannot inject backend-crash (exit): VM "a"'s device
  // worker hangs (an injected hang, … ms left)" (backend-hung).
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 5000 }\n" +
      "  - wait: 200ms\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
  );
  assert.deepEqual(where(issues), [
    '5:20: timeline[2] crashes VM "a"\'s device worker while timeline[0]\'s "backend-crash hang ' +
    '5000 ms" holds it (it blocks the worker 500 ms at least, and this step starts at most 200 ms after ' +
    'it): it would fail with "backend-hung"',
  ]);
  assert.match(issues[0].hint ?? "", /after the hung worker's restart \(backend-restarted/);
  // After the watchdog's second, on another VM, or after a short hang's end: left to the run.
  for (
    const steps of [
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 5000 }\n  - wait: 2s\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 5000 }\n" +
      "  - fault: { kind: backend-crash, vm: b }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 300 }\n  - wait: 400ms\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
      // The watchdog may replace an idle hung worker half a second after the hang began: this
      // drill passed on some runs (the crash came after the restart).
      "  - at: 2600ms\n    fault: { kind: backend-crash, vm: a, mode: hang, ms: 5000 }\n" +
      "  - wait: 650ms\n  - fault: { kind: backend-crash, vm: a }\n",
      // A vm-crash replaces the hung worker (never refused for the hang).
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 5000 }\n" +
      "  - fault: { kind: vm-crash, vm: a }\n  - wait: 100ms\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});

Deno.test("a vm-crash ends the ports its VM's servers held", async () => {
  // The crash itself is refused (it ends the server with an error), but the port is not also
  // taken by the server after it.
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [udp-echo], background: true }\n" +
      "  - fault: { kind: vm-crash, vm: b }\n  - wait: 500ms\n" +
      "  - exec: { vm: b, argv: [udp-echo, -t, 1] }\n",
  );
  assert.deepEqual(issues.map((i) => i.code), ["workload-crashed"]);
});

Deno.test("a vm-crash while a workload in the background surely still runs in that VM is refused", async () => {
  // Before, it ran, and the drill failed: "workload #0 failed: VM "b" crashed before it
  // answered", on every run.
  const endless = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [udp-echo], background: true }\n" +
      "  - fault: { kind: vm-crash, vm: b }\n",
  );
  assert.deepEqual(where(endless), [
    '4:34: timeline[1] crashes VM "b" while timeline[0]\'s "udp-echo" runs there (it runs until ' +
    'the drill stops it): the crash ends it with an error ("VM "b" crashed before it answered"), ' +
    "which fails the drill",
  ]);
  assert.match(endless[0].hint ?? "", /a duration \(-t SECONDS\) that ends before the crash/);
  const ping = await problems(
    "topology: pair\ntimeline:\n" + PING.replace("vm: a", "vm: b").replace("10.0.0.2", "10.0.0.1") +
      "  - wait: 500ms\n  - fault: { kind: vm-crash, vm: b }\n",
  );
  assert.deepEqual(where(ping), [
    '5:34: timeline[2] crashes VM "b" while timeline[0]\'s "ping 10.0.0.1 -c 30 -i 0.05" runs ' +
    "there (it runs 1.45 s at least, and this step starts at most 500 ms after it): the crash " +
    'ends it with an error ("VM "b" crashed before it answered"), which fails the drill',
  ]);
  assert.match(ping[0].hint ?? "", /wait_for: \{ workload: ping \}/);
  // Another VM, a workload that may have ended (its length passed, or a step of unknown length
  // between), one waited for, one that ended in the foreground: left to the run.
  for (
    const steps of [
      PING + "  - fault: { kind: vm-crash, vm: b }\n",
      "  - exec: { vm: b, argv: [udp-echo, -t, 1], background: true }\n  - wait: 1s\n" +
      "  - fault: { kind: vm-crash, vm: b }\n",
      "  - exec: { vm: b, argv: [udp-echo, -t, 5], background: true }\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n  - fault: { kind: vm-crash, vm: b }\n",
      "  - exec: { vm: b, argv: [sink, -t, 2], background: true, as: s }\n" +
      "  - wait_for: { workload: s }\n  - fault: { kind: vm-crash, vm: b }\n",
      "  - exec: { vm: b, argv: [ping, 10.0.0.1, -c, 2] }\n  - fault: { kind: vm-crash, vm: b }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});

Deno.test("a backend crash right after an exit or an armed mid-pass crash on its VM is refused, naming both", async () => {
  // Before, both ran, and the second step failed at run time: "Cannot inject backend-crash
  // (exit): VM "a"'s device worker is ending already (an injected exit) and its restart has not
  // begun" (backend-crash-armed), or "… has a mid-pass crash armed, still to come".
  const exit = await problems(
    "topology: pair\ntimeline:\n" +
      "  - at: 500ms\n    fault: { kind: backend-crash, vm: a, mode: exit }\n" +
      "  - at: 500ms\n    fault: { kind: backend-crash, vm: a, mode: exit }\n",
  );
  assert.deepEqual(where(exit), [
    '6:20: timeline[1] crashes VM "a"\'s device worker while timeline[0]\'s "backend-crash exit" ' +
    "holds it (it ends the worker, whose restart begins some milliseconds later, and this step " +
    'starts right after it): it would fail with "backend-crash-armed"',
  ]);
  assert.match(exit[0].hint ?? "", /an at after the worker's restart \(backend-ready/);
  // A step that acts at once between them (an impair) leaves no known time either; a slow crash
  // is refused after an exit too.
  const between = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: a }\n" +
      "  - impair: { link: a-b, set: { delay: 1ms } }\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: slow, ms: 100 }\n",
  );
  assert.equal(between.length, 1);
  assert.match(
    between[0].message,
    /^timeline\[2\] crashes .* timeline\[0\]'s "backend-crash exit"/,
  );
  const midPass = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: mid-pass }\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: hang, ms: 2000 }\n",
  );
  assert.deepEqual(where(midPass), [
    '4:20: timeline[1] crashes VM "a"\'s device worker while timeline[0]\'s "backend-crash ' +
    'mid-pass" holds it (it arms a crash that comes once the worker moves frames, and this step ' +
    'starts right after it): it would fail with "backend-crash-armed"',
  ]);
  // Any time between them, another VM, a slow crash after a mid-pass one (the lab takes it), a
  // vm-crash in between (it cancels the exit): left to the run.
  for (
    const steps of [
      "  - at: 500ms\n    fault: { kind: backend-crash, vm: a }\n" +
      "  - at: 550ms\n    fault: { kind: backend-crash, vm: a }\n",
      "  - fault: { kind: backend-crash, vm: a }\n  - wait: 100ms\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
      "  - fault: { kind: backend-crash, vm: a }\n  - fault: { kind: backend-crash, vm: b }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: mid-pass }\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: slow, ms: 100 }\n",
      "  - fault: { kind: backend-crash, vm: a }\n  - fault: { kind: vm-crash, vm: a }\n",
      "  - fault: { kind: backend-crash, vm: a, mode: slow, ms: 100 }\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});

Deno.test("a fault or workload in a VM right after a vm-crash of it is refused, naming both", async () => {
  // Before, each ran and failed its step or its workload: "Cannot inject guest-bug: VM "a" is
  // restarting", "Cannot run a workload: VM "a" crashed and is rebooting".
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - at: 300ms\n    fault: { kind: vm-crash, vm: a }\n" +
      "  - fault: { kind: guest-bug, vm: a, device: eth0, queue: transmitq, bug: loop }\n" +
      "  - fault: { kind: vm-crash, vm: b }\n" +
      "  - fault: { kind: vm-crash, vm: b }\n" +
      "  - exec: { vm: b, argv: [ping, 10.0.0.1, -c, 1] }\n",
  );
  assert.deepEqual(where(issues), [
    '5:35: timeline[1] injects a guest-bug in VM "a" right after timeline[0] crashed it, while it ' +
    "reboots: it would wait for the reboot and start late",
    '7:34: timeline[3] crashes VM "b" right after timeline[2] crashed it, while it reboots: it ' +
    "would wait for the reboot and start late",
    '8:17: timeline[4] starts ping in VM "b" right after timeline[3] crashed it, while it ' +
    "reboots: it would wait for the reboot and start late",
  ]);
  assert.match(issues[0].hint ?? "", /after the VM's reboot \(vm-restarted/);
  // A known time between, another VM, a link step: left to the run.
  for (
    const steps of [
      "  - fault: { kind: vm-crash, vm: a }\n  - wait: 200ms\n" +
      "  - fault: { kind: backend-crash, vm: a }\n",
      "  - fault: { kind: vm-crash, vm: a }\n  - fault: { kind: vm-crash, vm: b }\n",
      "  - fault: { kind: vm-crash, vm: a }\n  - link: { name: a-b, state: down }\n",
      "  - fault: { kind: vm-crash, vm: a }\n  - at: 100ms\n" +
      "    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});

Deno.test("a fault or workload in a VM less than a reboot's shortest after a vm-crash of it is refused", async () => {
  // Before, only a zero gap was refused: a `wait: 1ms` between validated, then the step failed
  // on every run ("Cannot run a workload: VM "a" crashed and is rebooting"): the new guest
  // starts after its boot time (ms) at the earliest, the crash at its due time at the earliest
  // (their timers round a fractional delay up). (The runner now holds such a run until the reboot
  // is over: it would start late, never at its time.)
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: vm-crash, vm: a, ms: 20 }\n" +
      "  - wait: 1ms\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n" +
      "  - at: 1s\n    fault: { kind: vm-crash, vm: b, ms: 20 }\n" +
      "  - at: 1019ms\n    fault: { kind: backend-crash, vm: b }\n",
  );
  assert.deepEqual(where(issues), [
    '5:17: timeline[2] starts ping in VM "a" at most 1 ms after timeline[0] crashed it, while it ' +
    "reboots (this reboot, its guest's boot (ms) included, takes 20 ms at least): it would wait " +
    "for the reboot and start late",
    '9:39: timeline[4] injects a backend-crash in VM "b" at most 19 ms after timeline[3] crashed ' +
    "it, while it reboots (this reboot, its guest's boot (ms) included, takes 20 ms at least): it " +
    "would wait for the reboot and start late",
  ]);
  // A repeated step's first run too (its later runs may come once the VM runs again).
  assert.deepEqual(
    where(
      await problems(
        "topology: pair\ntimeline:\n" +
          "  - fault: { kind: vm-crash, vm: a }\n" +
          "  - every: 10ms\n    for: 1s\n    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
      ),
    ),
    [
      '6:17: timeline[1]\'s first run starts ping in VM "a" right after timeline[0] crashed it, ' +
      "while it reboots: it would wait for the reboot and start late",
    ],
  );
  // Just on the allowed side: 20 ms after, by a wait or an at, or a jitter that may make it so;
  // without a boot time, any gap (the new guest starts as soon as the devices are back).
  for (
    const steps of [
      "  - fault: { kind: vm-crash, vm: a, ms: 20 }\n  - wait: 20ms\n" +
      "  - every: 10ms\n    for: 1s\n    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
      "  - fault: { kind: vm-crash, vm: a, ms: 20 }\n  - wait: 20ms\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
      "  - at: 1s\n    fault: { kind: vm-crash, vm: a, ms: 20 }\n" +
      "  - at: 1020ms\n    fault: { kind: backend-crash, vm: a }\n",
      "  - fault: { kind: vm-crash, vm: a, ms: 20 }\n  - wait: 1ms\n" +
      "  - jitter: 19ms\n    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
      "  - fault: { kind: vm-crash, vm: a }\n  - wait: 1ms\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});

Deno.test("a fault or workload in a VM 1 to 39 ms after a vm-crash of it validates: the reboot may be over by then", async () => {
  // Before, all were refused ("a reboot takes 40 ms at least", then "20 ms at least"): a reboot
  // constructed a device worker, then a guest worker, then waited 20 ms for the old guest's task.
  // It takes both spawned ahead now, and waits for the old guest's sections only while one is
  // under way: nothing of it is sure but more than nothing; it ran again 33 to 90 ms after its
  // crash under load. The runner holds a run that finds it rebooting (fault_steps_test.ts).
  for (const ms of [1, 20, 25, 39]) {
    await valid(
      "topology: pair\ntimeline:\n" +
        "  - at: 1s\n    fault: { kind: vm-crash, vm: a }\n" +
        `  - at: ${1000 + ms}ms\n    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n` +
        "  - at: 1100ms\n    fault: { kind: vm-crash, vm: b }\n" +
        `  - at: ${1100 + ms}ms\n    fault: { kind: backend-crash, vm: b }\n`,
    );
  }
});

Deno.test("a step in a VM just after the last run of a repeated vm-crash of it is refused", async () => {
  // Before, only a vm-crash that runs once was followed: a step 10 ms after a repeated one's last
  // run validated, then failed ("VM "b" crashed and is rebooting"; now it would start late).
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - { at: 100ms, every: 500ms, for: 1s, fault: { kind: vm-crash, vm: b, ms: 20 } }\n" +
      "  - at: 619ms\n    exec: { vm: b, argv: [ping, 10.0.0.1, -c, 1] }\n",
  );
  assert.deepEqual(where(issues), [
    '5:17: timeline[1] starts ping in VM "b" at most 19 ms after timeline[0]\'s last run crashed ' +
    "it, while it reboots (this reboot, its guest's boot (ms) included, takes 20 ms at least): it " +
    "would wait for the reboot and start late",
  ]);
  await valid(
    "topology: pair\ntimeline:\n" +
      "  - { at: 100ms, every: 500ms, for: 1s, fault: { kind: vm-crash, vm: b, ms: 20 } }\n" +
      "  - at: 620ms\n    exec: { vm: b, argv: [ping, 10.0.0.1, -c, 1] }\n",
  );
});

Deno.test("a vm-crash's boot time (ms) lengthens the reboot that steps in its VM must wait out", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: vm-crash, vm: a, ms: 1500 }\n" +
      "  - wait: 1s\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
  );
  assert.deepEqual(where(issues), [
    '5:17: timeline[2] starts ping in VM "a" at most 1 s after timeline[0] crashed it, while ' +
    "it reboots (this reboot, its guest's boot (ms) included, takes 1.5 s at least): it would " +
    "wait for the reboot and start late",
  ]);
  assert.equal(
    issues[0].hint,
    "give it an at after the VM's reboot (vm-restarted, a fraction of a second after the " +
      "crash's 1.5 s of boot)",
  );
  // The boot's timer starts after the crash, which runs at its due time at the earliest: 1.5 s
  // after it is the reboot's shortest, not the boot time plus a bare reboot's shortest.
  assert.equal(
    (await problems(
      "topology: pair\ntimeline:\n" +
        "  - fault: { kind: vm-crash, vm: a, ms: 1500 }\n" +
        "  - wait: 1499ms\n" +
        "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
    )).length,
    1,
  );
  await valid(
    "topology: pair\ntimeline:\n" +
      "  - fault: { kind: vm-crash, vm: a, ms: 1500 }\n" +
      "  - wait: 1500ms\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1] }\n",
  );
  // A key vm-crash does not take is still refused, naming the one it takes.
  const stray = await problems(
    "topology: pair\ntimeline:\n  - fault: { kind: vm-crash, vm: a, count: 2 }\n",
  );
  assert.deepEqual(stray.map((i) => [i.message, i.hint]), [
    ["A vm-crash fault takes no count", "its keys: kind, vm, ms"],
  ]);
});

Deno.test("a repeated vm-crash whose runs come within the reboot the run before started is refused", async () => {
  // Before, it validated, then its second run failed on every run: "Cannot inject vm-crash: VM
  // "b" is restarting" (the first run's guest still booted its 1.5 s).
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - { every: 1s, for: 3s, fault: { kind: vm-crash, vm: b, ms: 1500 } }\n",
  );
  assert.deepEqual(where(issues), [
    '3:14: timeline[0] runs 3 times, 1 s apart, and each run crashes VM "b" while the reboot ' +
    "the run before started goes on (this reboot, its guest's boot (ms) included, takes 1.5 s " +
    "at least): each run after the first would wait for that reboot and start late",
  ]);
  assert.equal(
    issues[0].hint,
    "give it an every longer than the reboot (vm-restarted, a fraction of a second after the " +
      "crash's 1.5 s of boot), or a shorter ms, or leave every and for out",
  );
  // A short boot time the same way; the jitter counts at its most.
  assert.deepEqual(
    where(
      await problems(
        "topology: pair\ntimeline:\n" +
          "  - { every: 10ms, for: 1s, jitter: 5ms, fault: { kind: vm-crash, vm: b, ms: 20 } }\n",
      ),
    ),
    [
      "3:14: timeline[0] runs 100 times, 10 ms apart (5 ms more at most, its jitter), and each " +
      'run crashes VM "b" while the reboot the run before started goes on (this reboot, its ' +
      "guest's boot (ms) included, takes 20 ms at least): each run after the first would wait " +
      "for that reboot and start late",
    ],
  );
  // Far enough apart, by every or by a jitter that may make it so.
  for (
    const step of [
      "{ every: 1500ms, for: 3s, fault: { kind: vm-crash, vm: b, ms: 1500 } }",
      "{ every: 1s, for: 3s, jitter: 500ms, fault: { kind: vm-crash, vm: b, ms: 1500 } }",
      "{ every: 20ms, for: 1s, fault: { kind: vm-crash, vm: b, ms: 20 } }",
      "{ every: 1s, for: 3s, fault: { kind: vm-crash, vm: b } }",
      // Without a boot time, nothing of the reboot is sure but more than nothing.
      "{ every: 10ms, for: 1s, fault: { kind: vm-crash, vm: b } }",
    ]
  ) await valid(`topology: pair\ntimeline:\n  - ${step}\n`);
  // Just short of it: 19 ms apart with a 20 ms boot, 1.499 s with a 1.5 s one.
  for (
    const step of [
      "{ every: 19ms, for: 1s, fault: { kind: vm-crash, vm: b, ms: 20 } }",
      "{ every: 1499ms, for: 3s, fault: { kind: vm-crash, vm: b, ms: 1500 } }",
    ]
  ) {
    assert.equal((await problems(`topology: pair\ntimeline:\n  - ${step}\n`)).length, 1, step);
  }
});

Deno.test("a vm-crash whose guest's boot (ms) surely ends at or past the drill's timeout is refused", async () => {
  // Before, it validated, then "The drill did not end within 5000 ms" on every run: the drill
  // waits for the reboot (vm-restarted) before its verdict.
  const issues = await problems(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - fault: { kind: vm-crash, vm: b, ms: 10000 }\n" +
      "  - wait: 1s\n" +
      "  - fault: { kind: vm-crash, vm: a, ms: 4100 }\n",
  );
  assert.deepEqual(where(issues), [
    `4:41: timeline[0]'s "fault vm-crash b --ms 10000" reboots VM "b" for 10 s at least, ` +
    "longer than the drill's timeout (5 s): the drill waits for it at its end, so it would time out",
    `6:41: timeline[2]'s "fault vm-crash a --ms 4100" reboots VM "a" for 4.1 s at least, so it ` +
    "ends at 5.1 s (it starts at 1 s at the earliest), past the drill's timeout (5 s): the " +
    "drill waits for it at its end, so it would time out",
  ]);
  assert.equal(
    issues[0].hint,
    "give the drill a timeout longer than 10 s, or the vm-crash a shorter ms",
  );
  // The reboot's shortest counts, its boot time, short or long (a crash 10 ms before the
  // timeout validated, then timed out on every run).
  const edge = await problems(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - at: 1s\n    fault: { kind: vm-crash, vm: b, ms: 4001 }\n" +
      "  - at: 4981ms\n    fault: { kind: vm-crash, vm: a, ms: 20 }\n",
  );
  assert.deepEqual(where(edge), [
    `5:41: timeline[0]'s "fault vm-crash b --ms 4001" reboots VM "b" for 4.001 s at least, so it ` +
    "ends at 5.001 s (it starts at 1 s at the earliest), past the drill's timeout (5 s): the " +
    "drill waits for it at its end, so it would time out",
    `7:41: timeline[1]'s "fault vm-crash a --ms 20" reboots VM "a" for 20 ms at least, so it ` +
    "ends at 5.001 s (it starts at 4.981 s at the earliest), past the drill's timeout (5 s): the " +
    "drill waits for it at its end, so it would time out",
  ]);
  assert.equal(
    edge[1].hint,
    "give the drill a timeout longer than 5.001 s, or the vm-crash a shorter ms",
  );
  // Without a boot time, nothing of the reboot is sure but more than nothing: a crash just before
  // the timeout may end in time.
  await valid(
    "topology: pair\ntimeout: 5s\ntimeline:\n  - at: 4999ms\n    fault: { kind: vm-crash, vm: a }\n",
  );
  await valid(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - at: 1s\n    fault: { kind: vm-crash, vm: b, ms: 3999 }\n" +
      "  - at: 4979ms\n    fault: { kind: vm-crash, vm: a }\n",
  );
  // One that may end in time; and without a boot time, the bare reboot, as before.
  await valid(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - wait: 1s\n  - fault: { kind: vm-crash, vm: b, ms: 3900 }\n",
  );
  await valid(
    "topology: pair\ntimeout: 5s\ntimeline:\n  - wait: 4900ms\n  - fault: { kind: vm-crash, vm: b }\n",
  );
});

Deno.test("a repeated step each of whose runs takes what the run before still holds is refused", async () => {
  // Before, it validated, then its second run failed on every run: "Cannot listen on UDP port 9:
  // in use" (the first run's udp-echo held it 1 s), "backend-hung" (the first run's hang).
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - every: 100ms\n    for: 300ms\n" +
      "    exec: { vm: b, argv: [udp-echo, -p, 9, -t, 1], background: true }\n" +
      "  - at: 2s\n    every: 200ms\n    for: 1s\n" +
      "    fault: { kind: backend-crash, vm: a, mode: hang, ms: 3000 }\n",
  );
  assert.deepEqual(where(issues), [
    '5:26: timeline[0] runs 3 times, 100 ms apart, and each run binds UDP port 9 in VM "b" ' +
    'while the run before still holds it ("udp-echo -p 9 -t 1" runs 1 s at least): its second ' +
    'run would fail with "port in use"',
    '9:20: timeline[1] runs 5 times, 200 ms apart, and each run crashes VM "a"\'s device ' +
    'worker while the run before still holds it ("backend-crash hang 3000 ms" blocks the worker ' +
    '500 ms at least): its second run would fail with "backend-hung"',
  ]);
  assert.match(issues[0].hint ?? "", /every longer than 1 s, or a shorter -t/);
  // Just on the allowed side: runs further apart than the hold, a sink (a stream may end it
  // sooner), a slow backend (it holds nothing).
  for (
    const steps of [
      "  - every: 1s\n    for: 3s\n" +
      "    exec: { vm: b, argv: [udp-echo, -p, 9, -t, 0.9], background: true }\n",
      "  - every: 100ms\n    for: 300ms\n" +
      "    exec: { vm: b, argv: [sink, -p, 9, -t, 1, -n, 1], background: true }\n",
      "  - every: 200ms\n    for: 1s\n" +
      "    fault: { kind: backend-crash, vm: a, mode: slow, ms: 100 }\n",
    ]
  ) await valid(`topology: pair\ntimeline:\n${steps}`);
});
