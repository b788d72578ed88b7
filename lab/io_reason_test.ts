import assert from "node:assert/strict";
import { ioReason, isSpecialFileRefusal } from "../devices/base/io_reason.ts";
import { readBoundedText } from "./topology/files.ts";
import { stateFolderError } from "./runner.ts";

const NOT_CAPABLE = 'Requires all access to "/proc/x", run again with the --allow-all flag';
const IN_VLAB_WORDS =
  "vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all)";

Deno.test("ioReason gives the system's reason without Deno's errno and call", () => {
  assert.equal(
    ioReason(new Deno.errors.PermissionDenied("Permission denied (os error 13): open '/x'")),
    "permission denied",
  );
  assert.equal(ioReason(new Error("")), "unknown error");
  assert.equal(ioReason("No space left on device (os error 28)"), "no space left on device");
});

Deno.test("isSpecialFileRefusal tells Deno's refusal of /dev, /proc, /sys from other errors", () => {
  assert.equal(isSpecialFileRefusal(new Deno.errors.NotCapable(NOT_CAPABLE)), true);
  // No --allow-read at all is NotCapable too, but another refusal: its flag can be given.
  assert.equal(
    isSpecialFileRefusal(new Deno.errors.NotCapable('Requires read access to "/x"')),
    false,
  );
  assert.equal(isSpecialFileRefusal(new Deno.errors.PermissionDenied("Permission denied")), false);
  assert.equal(isSpecialFileRefusal(NOT_CAPABLE), false);
});

Deno.test("a special file Deno refuses without --allow-all is said in vlab's words, not 'run again with --allow-all'", () => {
  // The vlab task gives every flag but --allow-all, and a user cannot add one to it.
  assert.equal(ioReason(new Deno.errors.NotCapable(NOT_CAPABLE)), IN_VLAB_WORDS);
  // A script without a flag it needs keeps Deno's words: they name the flag to add.
  const write = 'Requires write access to "/tmp/x", run again with the --allow-write flag';
  assert.equal(ioReason(new Deno.errors.NotCapable(write)), `r${write.slice(1)}`);
});

/** Whether this run is refused /proc as the `vlab` task is (no --allow-all). */
const procRefused = (() => {
  try {
    Deno.statSync("/proc/self/status");
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotCapable;
  }
})();

Deno.test({
  name:
    "a topology, drill or report under /proc and a state folder under /dev say why in vlab's words",
  ignore: !procRefused,
}, async () => {
  const kind = {
    noun: "topology file",
    maxBytes: 1024,
    missingHint: "",
    kindHint: "",
    limitHint: "",
  };
  const r = await readBoundedText("/proc/self/status", kind);
  assert.ok(!r.ok);
  // It said: … requires all access to "/proc/self/status", run again with the --allow-all flag.
  assert.equal(r.error.message, `Cannot read topology file "/proc/self/status": ${IN_VLAB_WORDS}`);
  const folder = stateFolderError("/dev/shm/x", new Deno.errors.NotCapable(NOT_CAPABLE));
  assert.equal(folder.message, `Cannot create the state folder /dev/shm/x: ${IN_VLAB_WORDS}`);
  // It said "Check that the folder is writable", which no folder's mode can change.
  assert.equal(
    folder.hint,
    "No lab can run there: set VLAB_STATE_DIR to a folder elsewhere",
  );
});
