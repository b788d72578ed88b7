/**
 * `ping`'s lines as they happen (`WorkloadOptions.onLine`, what `vlab exec` prints at once): the
 * `PING` line, then each reply as it comes, in order, before the workload resolves; they are the
 * first lines of its `text`, whose summary is said only there.
 */

import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { type PingResult, runPing } from "./ping.ts";
import { simOptions } from "./testing_opts.ts";
import type { PingProgress } from "./options.ts";
import { ExecTally } from "../../exec_tally.ts";
import { gapLine, KEPT_HEAD, KEPT_TAIL } from "./kept.ts";

const B = 0x0a000002;
const ARGS = { kind: "ping", dst: B, count: 3, intervalS: 1, size: 56, timeoutS: 1 } as const;

Deno.test("ping says its PING line and each reply in order as they come, then only the text has the summary", async () => {
  const net = new BackToBack();
  net.impair = (frames) => {
    net.clock.t += 0.25; // one-way latency
    return frames;
  };
  // Each line with the simulated time it was said at: a reply is said when it comes, not at the end.
  const said: { line: string; at: number }[] = [];
  const opts = {
    ...simOptions(net),
    onLine: (line: string) => said.push({ line, at: net.clock.t }),
  };
  const r = await net.run(runPing(net.a.stack, ARGS, opts)) as PingResult;
  assert.deepEqual(said.map((s) => s.line.replace(/time=[\d.]+/, "time=T")), [
    "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.",
    "64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=T ms",
    "64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=T ms",
    "64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=T ms",
  ]);
  // Said as they happened: the first reply a second before the third, the PING line at once.
  assert.equal(said[0].at, 0);
  assert.ok(said[3].at - said[1].at >= 1900, JSON.stringify(said));
  // The text begins with exactly the lines said; the rest is the summary, never said.
  const lines = r.text.split("\n");
  assert.deepEqual(lines.slice(0, said.length), said.map((s) => s.line));
  assert.equal(lines[said.length], "");
  assert.equal(lines[said.length + 1], "--- 10.0.0.2 ping statistics ---");
});

Deno.test("ping says a lost reply's gap, a duplicate and nothing else; without onLine it runs as before", async () => {
  const net = new BackToBack();
  // b's second reply is lost; its third comes twice.
  const replies = loseSecondDoubleThird(net);
  const said: string[] = [];
  const args = { ...ARGS, intervalS: 0.01, timeoutS: 0.5 };
  const r = await net.run(
    runPing(net.a.stack, args, { ...simOptions(net), onLine: (l: string) => said.push(l) }),
  ) as PingResult;
  assert.deepEqual(said.map((l) => l.replace(/ ttl=.*?(?= \(|$)/, "")), [
    "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.",
    "64 bytes from 10.0.0.2: icmp_seq=1",
    "64 bytes from 10.0.0.2: icmp_seq=3",
    "64 bytes from 10.0.0.2: icmp_seq=3 (DUP!)",
  ]);
  assert.deepEqual(r.text.split("\n").slice(0, said.length), said);
  assert.equal(r.duplicates, 1);

  // The same run without a listener: the same text shape, nothing said anywhere.
  replies.again();
  const quiet = await net.run(runPing(net.a.stack, args, simOptions(net))) as PingResult;
  assert.equal(quiet.text.split("\n").length, r.text.split("\n").length);
});

Deno.test("ping says its counts with each request and reply (onProgress): the lab's tally of them is its result", async () => {
  const net = new BackToBack();
  // b's second reply is lost; its third comes twice: each count moves once.
  loseSecondDoubleThird(net);
  const progress: PingProgress[] = [];
  const withLine: [string, PingProgress][] = [];
  const tally = new ExecTally();
  const args = { ...ARGS, intervalS: 0.01, timeoutS: 0.5 };
  // As the guest worker does: a line and the counts it changed in one message, line first.
  const heard = (p: PingProgress) => {
    progress.push(p);
    tally.progress(p);
  };
  const r = await net.run(runPing(net.a.stack, args, {
    ...simOptions(net),
    onLine: (l: string, p?: PingProgress) => {
      tally.line(l);
      if (p !== undefined) (withLine.push([l, p]), heard(p));
    },
    onProgress: heard,
  })) as PingResult;
  // Sent 1, reply 1, sent 2, sent 3, reply 3, its duplicate (the order of sends and replies
  // depends on the link's timing; the counts do not).
  assert.equal(progress.filter((p) => p.reply === undefined && p.duplicates === 0).length, 3);
  assert.deepEqual(progress.filter((p) => p.reply).map((p) => p.reply!.seq), [1, 3]);
  const last = progress.at(-1)!;
  assert.equal(last.transmitted, 3);
  assert.equal(last.duplicates, 1);
  assert.equal(last.dst, "10.0.0.2");
  // What the lab builds from them (when the guest cannot answer) is the ping's own result but
  // for its time, which the lab counts to now.
  const built = tally.partial()!;
  const noTime = (t: string) => t.replace(/time \d+ms/, "time Tms");
  assert.equal(noTime(built.text), noTime(r.text));
  assert.deepEqual({ ...built, text: "" }, { ...r, text: "" });
  // Each reply's line carries its counts: a crash cannot come between the two.
  assert.deepEqual(withLine.map(([l, p]) => [/icmp_seq=(\d+)/.exec(l)?.[1], p.reply?.seq]), [
    ["1", 1],
    ["3", 3],
    ["3", undefined],
  ]);
});

Deno.test("a long ping's result keeps its first and last lines and replies, with the gap said, and counts every reply", async () => {
  const net = new BackToBack();
  const n = KEPT_HEAD + KEPT_TAIL + 300;
  const said: string[] = [];
  const tally = new ExecTally();
  const r = await net.run(runPing(net.a.stack, { ...ARGS, count: n, intervalS: 0.001 }, {
    ...simOptions(net),
    onLine: (l: string, p?: PingProgress) => {
      said.push(l);
      tally.line(l);
      if (p !== undefined) tally.progress(p);
    },
    onProgress: (p: PingProgress) => tally.progress(p),
  })) as PingResult;
  // Every reply counted and in the statistics; a listener heard every line.
  assert.equal(r.transmitted, n);
  assert.equal(r.received, n);
  assert.equal(said.length, n + 1);
  // The replies kept: the first and the last (it held all 1300).
  assert.equal(r.replies.length, KEPT_HEAD + KEPT_TAIL);
  assert.deepEqual(r.replies.slice(0, 2).map((x) => x.seq), [1, 2]);
  assert.equal(r.replies.at(-1)!.seq, n);
  // The text: the PING line and the first replies, the gap, the last replies, the summary.
  const text = r.text.split("\n");
  assert.equal(text.length, KEPT_HEAD + 1 + KEPT_TAIL + 4, text.length + " lines");
  assert.deepEqual(text.slice(0, KEPT_HEAD), said.slice(0, KEPT_HEAD));
  assert.equal(text[KEPT_HEAD], gapLine(n + 1 - KEPT_HEAD - KEPT_TAIL));
  assert.deepEqual(text.slice(KEPT_HEAD + 1, -4), said.slice(-KEPT_TAIL));
  assert.match(
    text.at(-2)!,
    new RegExp(`^${n} packets transmitted, ${n} received, 0% packet loss`),
  );
  // The lab's tally keeps the same (but for its time).
  const built = tally.partial()!;
  const noTime = (t: string) => t.replace(/time \d+ms/, "time Tms");
  assert.equal(noTime(built.text), noTime(r.text));
  assert.deepEqual(built.replies, r.replies);
  assert.deepEqual(built.rttMs, r.rttMs);
});

/**
 * Impair b's echo replies on `net`: the second is lost, the third comes twice. `again()` starts
 * the count over for another run.
 */
function loseSecondDoubleThird(net: BackToBack): { again(): void } {
  let replies = 0;
  net.impair = (frames, from) => {
    if (from !== "b" || !frames.some((f) => f[23] === 1)) return frames;
    replies++;
    return replies === 2 ? [] : replies === 3 ? [...frames, ...frames] : frames;
  };
  return { again: () => void (replies = 0) };
}
