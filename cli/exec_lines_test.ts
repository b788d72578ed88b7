/**
 * `unsaidText`: what `vlab exec` prints at a workload's end once its lines were printed as they
 * came: the rest of its text, no line twice, nothing lost.
 */

import assert from "node:assert/strict";
import { droppedLinesNote, unsaidText } from "./lab.ts";
import { gapLine, HeadTail } from "../lab/guest/workloads/kept.ts";

const TEXT = [
  "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.",
  "64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms",
  "",
  "--- 10.0.0.2 ping statistics ---",
  "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
].join("\n");

Deno.test("unsaidText leaves out the lines already printed and keeps the summary", () => {
  const said = TEXT.split("\n").slice(0, 2);
  assert.equal(
    unsaidText(TEXT, said),
    "\n--- 10.0.0.2 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms",
  );
  // Nothing said (a sink, or lines not asked for): the whole text.
  assert.equal(unsaidText(TEXT, []), TEXT);
  // Every line said: nothing more.
  assert.equal(unsaidText(TEXT, TEXT.split("\n")), "");
});

Deno.test("unsaidText leaves out only the lines the text begins with, never one it has not printed", () => {
  // A line said that the text does not have where it was said: the text from there is printed.
  const said = [TEXT.split("\n")[0], "something else"];
  assert.equal(unsaidText(TEXT, said), TEXT.split("\n").slice(1).join("\n"));
});

Deno.test("unsaidText after lines the lab dropped prints the summary alone, no line twice", () => {
  // A reader behind: of the 4 lines of the run, 2 came and 2 were dropped in between. The text
  // was matched line by line: at the first gap it printed the rest of the run, lines already
  // printed among them, before the summary.
  const text = [
    "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.",
    "64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms",
    "64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.254 ms",
    "64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=0.254 ms",
    "",
    "--- 10.0.0.2 ping statistics ---",
  ].join("\n");
  const lines = text.split("\n");
  const said = [lines[0], lines[3]];
  assert.equal(unsaidText(text, said, 2), "\n--- 10.0.0.2 ping statistics ---");
  assert.equal(
    droppedLinesNote(2),
    "2 lines not shown: the output's reader fell behind, and at most 4 MiB of them are held " +
      "(the summary above counts them all)\n",
  );
});

Deno.test("unsaidText of a long run's text (its gap's line between the first and last lines) prints the summary alone, no kept line twice", () => {
  // A run of 10 lines whose text keeps 2 first and 2 last: vlab exec printed all 10 (and holds
  // only the first and last of them); at the end it printed the last 2 again, or the gap's line.
  const run = Array.from({ length: 10 }, (_, i) => `line ${i}`);
  const text = [...run.slice(0, 2), gapLine(6, 2, 2), ...run.slice(-2), "", "--- stats"].join("\n");
  const said = new HeadTail<string>(2, 2);
  for (const l of run) said.push(l);
  assert.equal(unsaidText(text, said), "\n--- stats");
  // Some of the stream dropped: counted through the gap as well.
  const seen = new HeadTail<string>(2, 2);
  for (const l of run.slice(0, 7)) seen.push(l);
  assert.equal(unsaidText(text, seen, 3), "\n--- stats");
  // Cut at line 9 of 10 (before the summary came): the last line, then the summary.
  const cut = new HeadTail<string>(2, 2);
  for (const l of run.slice(0, 9)) cut.push(l);
  assert.equal(unsaidText(text, cut), "line 9\n\n--- stats");
  // A short run, held whole, is matched line by line as before.
  const short = new HeadTail<string>(2, 2);
  for (const l of TEXT.split("\n").slice(0, 2)) short.push(l);
  assert.equal(unsaidText(TEXT, short), unsaidText(TEXT, TEXT.split("\n").slice(0, 2)));
});
