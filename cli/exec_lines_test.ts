/**
 * `unsaidText`: what `vlab exec` prints at a workload's end once its lines were printed as they
 * came: the rest of its text, no line twice, nothing lost.
 */

import assert from "node:assert/strict";
import { droppedLinesNote, unsaidText } from "./lab.ts";

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
    "2 lines not shown: the output's reader fell behind, and the lab holds 4 MiB of them at " +
      "most (the summary above counts them all)\n",
  );
});
