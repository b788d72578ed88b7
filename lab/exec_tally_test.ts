/**
 * `ExecTally`: what the lab answers for a listened-to workload its guest can no longer answer
 * for (a `vm-crash` mid-run): the lines heard, then iputils' statistics of the counts heard.
 */

import assert from "node:assert/strict";
import { ExecTally } from "./exec_tally.ts";

Deno.test("ExecTally builds a ping's statistics from the lines and counts it heard", () => {
  const tally = new ExecTally();
  assert.equal(tally.partial(), null, "no counts heard: no result");
  const base = { kind: "ping", dst: "10.0.0.2", late: 0, duplicates: 0 } as const;
  tally.line("PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.");
  tally.progress({ ...base, transmitted: 1, elapsedMs: 0 });
  tally.line("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=2.00 ms");
  tally.progress({ ...base, transmitted: 1, elapsedMs: 2, reply: { seq: 1, rttMs: 2 } });
  tally.progress({ ...base, transmitted: 2, elapsedMs: 1000 });
  tally.line("64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=4.00 ms");
  tally.progress({ ...base, transmitted: 2, elapsedMs: 1004, reply: { seq: 2, rttMs: 4 } });
  tally.progress({ ...base, transmitted: 3, elapsedMs: 2000 });
  // Something it does not know (another workload's counts) changes nothing.
  tally.progress({ kind: "sink", received: 7 });
  tally.progress(null);
  const r = tally.partial()!;
  assert.equal(r.transmitted, 3);
  assert.equal(r.received, 2);
  assert.deepEqual(r.replies, [{ seq: 1, rttMs: 2 }, { seq: 2, rttMs: 4 }]);
  const text = r.text.split("\n");
  assert.deepEqual(text.slice(0, 5), [
    "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.",
    "64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=2.00 ms",
    "64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=4.00 ms",
    "",
    "--- 10.0.0.2 ping statistics ---",
  ]);
  assert.match(text[5], /^3 packets transmitted, 2 received, 33\.333% packet loss, time 2\d{3}ms$/);
  assert.equal(text[6], "rtt min/avg/max/mdev = 2.000/3.000/4.000/1.000 ms");
});
