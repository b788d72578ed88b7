/**
 * `unsaidText`: what `vlab exec` prints at a workload's end once its lines were printed as they
 * came: the rest of its text, no line twice, nothing lost.
 */

import assert from "node:assert/strict";
import { unsaidText } from "./lab.ts";

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
