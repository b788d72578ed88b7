/**
 * What a script gets from the supervisor's own methods (`lab.lab.*` of `startLab`'s handle) for
 * arguments of the wrong type or shape: one line naming the method and the argument, as a
 * `TypeError` (`RangeError` for a value out of range) or a `LabError` with a code and a hint,
 * never the control socket's words, the engine's (`Cannot read properties of null`), or a wrong
 * change made without a word; and a capture callback that throws is never dropped silently.
 */

import assert from "node:assert/strict";
import { type Fault, type Impairment, type Lab, LabError } from "../mod.ts";
import { inStateDir, LAB_TEST, startTestLab, waitForValue } from "./testing.ts";
import { faultRoute, linkRoute, partitionRoute } from "./server_links.ts";

const PAIR = {
  name: "script-args",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.7.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.7.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** A `kind` error (TypeError, RangeError) whose one-line message matches `message`. */
function isError(kind: ErrorConstructor, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof kind, `not a ${kind.name}: ${e}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, message);
    return true;
  };
}

/** A `LabError` of `code` with one line of message matching `message` and a hint. */
function isLabError(code: string, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof LabError, `not a LabError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, message);
    assert.ok(e.hint.length > 0);
    return true;
  };
}

async function withLab(fn: (lab: Lab) => Promise<void>): Promise<void> {
  await inStateDir("vlab-script-args-", async () => {
    const lab = await startTestLab(PAIR);
    try {
      await fn(lab);
    } finally {
      await lab.stop();
    }
  });
}

const any = <T>(v: unknown) => v as T;

Deno.test({
  name: "lab.fault refuses what is no fault in the library's words, naming the argument and key",
  ...LAB_TEST,
  fn: () =>
    withLab(async (lab) => {
      // It resolved { ok: false, message: "the body is not a JSON object", hint: 'Send {…}' }.
      const map = new Map([["kind", "vm-crash"], ["vm", "a"]]);
      for (const f of [null, undefined, 3, "backend-crash", ["vm-crash", "a"], map]) {
        await assert.rejects(
          lab.fault(any<Fault>(f)),
          isError(
            TypeError,
            /^lab\.fault: fault must be an object such as \{ kind: "backend-crash", vm: "a" \}, got /,
          ),
        );
      }
      const cases: [unknown, RegExp][] = [
        [{}, /^Cannot inject a fault: it names no kind$/],
        [{ kind: "meteor", vm: "a" }, /^Cannot inject a fault: unknown kind "meteor"$/],
        [{ kind: "vm-crash", vm: 1 }, /^Cannot inject vm-crash: "vm" must be a VM's name, got 1$/],
        [{ kind: "vm-crash", vm: "a", cout: 1 }, /it takes no key "cout"$/],
        [{ kind: "backend-crash", vm: "a", mode: "hang", ms: "500" }, /got "500"$/],
        [{ kind: "lost-kick", vm: "a", device: "eth0", queue: 1 }, /"queue" must be .* got 1$/],
      ];
      for (const [f, message] of cases) {
        await assert.rejects(lab.fault(any<Fault>(f)), isLabError("bad-fault", message));
      }
      // What the lab refuses of a fault it could read is still its answer.
      const unknown = await lab.fault({ kind: "vm-crash", vm: "zz" });
      assert.equal(unknown.ok ? "" : unknown.code, "unknown-vm");
      assert.equal(lab.events.recent().filter((e) => e.kind === "fault").length, 0);
    }),
});

Deno.test({
  name: "lab.setLink, links.partition, heal and setImpairment refuse arguments of the wrong type",
  ...LAB_TEST,
  fn: () =>
    withLab(async (lab) => {
      // "down" brought the link up (a non-empty string is truthy); a missing `up` took it down.
      assert.throws(
        () => lab.setLink("a-b", any<boolean>("down")),
        isError(TypeError, /^lab\.setLink: up must be true or false, got "down"$/),
      );
      assert.throws(
        () => lab.setLink("a-b", any<boolean>(undefined)),
        isError(TypeError, /^lab\.setLink: up must be true or false, got undefined$/),
      );
      assert.throws(
        () => lab.setLink(any<string>(null), true),
        isError(TypeError, /^lab\.setLink: link must be a string \(a link's name, as "a-b"\)/),
      );
      assert.equal(lab.linkUp("a-b"), true);
      assert.equal(lab.events.recent().some((e) => e.kind === "link-down"), false);
      // "Cannot read properties of null (reading 'length')", "a.find is not a function".
      assert.throws(
        () => lab.links.partition(any<string[]>(null), any<string[]>(null), false),
        isError(TypeError, /^lab\.links\.partition: a and b must be arrays of VM names/),
      );
      assert.throws(
        () => lab.links.partition(any<string[]>("a"), ["b"], false),
        isError(TypeError, /got string and an array$/),
      );
      assert.throws(
        () => lab.links.partition(["a"], ["b"], any<boolean>("yes")),
        isError(TypeError, /^lab\.links\.partition: oneWay must be true or false/),
      );
      assert.deepEqual(lab.links.partitions(), []);
      // heal("1") healed nothing and said nothing.
      assert.throws(
        () => lab.links.heal(any<number>("1")),
        isError(TypeError, /^lab\.links\.heal: id must be a partition's id .* got string$/),
      );
      // A number that is no id is out of range: a RangeError, as the other methods' numbers
      // (it was a TypeError).
      for (const [id, got] of [[0, "0"], [-1, "-1"], [1.5, "1.5"], [NaN, "NaN"]] as const) {
        assert.throws(
          () => lab.links.heal(id),
          isError(
            RangeError,
            new RegExp(`^lab\\.links\\.heal: id must be a partition's id .* got ${got}$`),
          ),
        );
      }
      // {} reached the workers as a stage of undefined knobs; null failed in the engine's words.
      for (const impair of [{}, null, { delay: "5ms" }]) {
        assert.throws(
          () => lab.links.setImpairment("a-b", any<Impairment>(impair), "both"),
          isError(TypeError, /^lab\.links\.setImpairment: impair must be a whole Impairment/),
        );
      }
      assert.equal(lab.events.recent().some((e) => e.kind === "impair"), false);
      // The lab still works.
      const ping = await lab.exec("a", ["ping", "10.7.0.2", "-c", "1", "-W", "2"]);
      assert.ok(ping.ok && (ping.result as { received: number }).received === 1);
    }),
});

Deno.test({
  name: "lab.exec, spawn, capture and vsockTransportReset refuse arguments of the wrong type",
  ...LAB_TEST,
  fn: () =>
    withLab(async (lab) => {
      const argv = ["ping", "10.7.0.2", "-c", "1"];
      // "signal?.addEventListener is not a function".
      await assert.rejects(
        lab.exec("a", argv, any<AbortSignal>("stop")),
        isError(TypeError, /^lab\.exec: signal must be an AbortSignal .* got string$/),
      );
      await assert.rejects(
        lab.spawn("a", argv, { signal: any<AbortSignal>({}) }),
        isError(TypeError, /^lab\.spawn: signal must be an AbortSignal/),
      );
      // Its options: a listener that is no function, a key it does not take (a misspelt one).
      await assert.rejects(
        lab.exec("a", argv, { onLine: any<(line: string) => void>("print") }),
        isError(TypeError, /^lab\.exec: onLine must be a function .* got string$/),
      );
      await assert.rejects(
        lab.spawn("a", argv, any<AbortSignal>({ onLines: () => {} })),
        isError(TypeError, /^lab\.spawn: options has no key "onLines"; it takes signal, onLine$/),
      );
      await assert.rejects(
        lab.exec(any<string>(1), argv),
        isError(TypeError, /^lab\.exec: vm must be a string/),
      );
      // It answered "stopped" for a VM the lab does not have.
      assert.throws(() => lab.vmState("zz"), isLabError("unknown-vm", /^The lab has no VM "zz"$/));
      assert.throws(
        () => lab.vmState(any<string>(1)),
        isError(TypeError, /^lab\.vmState: vm must be a string/),
      );
      assert.throws(
        () => lab.vsockTransportReset(any<string>(null)),
        isError(TypeError, /^lab\.vsockTransportReset: vm must be a string/),
      );
      // A RangeError "no link x-y", no hint.
      assert.throws(
        () => lab.capture("x-y", () => {}),
        isLabError("unknown-link", /^The lab has no link "x-y"$/),
      );
      assert.throws(
        () => lab.capture(any<string>(null), () => {}),
        isError(TypeError, /^lab\.capture: link must be a string/),
      );
      // A null callback threw at every drain, dropped without a word.
      assert.throws(
        () => lab.capture("a-b", any<() => void>(null)),
        isError(TypeError, /^lab\.capture: onRecords must be a function/),
      );
    }),
});

Deno.test({
  name: "a lab.capture callback that throws stops that capture and its error reaches onEnd",
  ...LAB_TEST,
  fn: () =>
    withLab(async (lab) => {
      // It was dropped without a word: the script's capture just got no more frames.
      let calls = 0;
      let ended: { error: unknown } | undefined;
      let endedCalls = 0;
      const stop = lab.capture("a-b", () => {
        calls++;
        throw new Error("a bug in the script's callback");
      }, {
        intervalMs: 5,
        onEnd: (e) => {
          endedCalls++;
          ended = e;
        },
      });
      try {
        const ping = await lab.exec("a", ["ping", "10.7.0.2", "-c", "3", "-i", "0.05"]);
        assert.ok(ping.ok);
        await waitForValue("the capture's end", () => endedCalls > 0 ? true : null);
        assert.equal(calls, 1, "no more frames after it threw");
        assert.match(String(ended?.error), /a bug in the script's callback/);
      } finally {
        stop();
      }
      assert.equal(endedCalls, 1);
    }),
});

Deno.test({
  name:
    "once the lab is stopped, lab.setLink and links.* throw no-lab and the control routes answer lab-stopping",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-script-args-", async () => {
      const lab = await startTestLab(PAIR);
      await lab.stop();
      // Each answered as if done (true, a partition, the ids healed) and logged its event after
      // lab-down, though no worker got it.
      const stopped = (message: RegExp) => isLabError("no-lab", message);
      assert.throws(
        () => lab.setLink("a-b", false),
        stopped(/^Cannot bring link "a-b" down: lab "script-args" is stopped$/),
      );
      assert.throws(() => lab.links.partition(["a"], ["b"], false), stopped(/partition the lab/));
      assert.throws(() => lab.links.heal(), stopped(/heal a partition/));
      // A workload answers the stop as it is ("is stopping" of a lab long stopped).
      const exec = await lab.exec("a", ["ping", "10.7.0.2"]);
      assert.equal(
        exec.ok ? "" : exec.message,
        'Cannot run a workload: lab "script-args" is stopped or stopping',
      );
      const clear = lab.links.ringImpairment(0);
      assert.throws(() => lab.links.setImpairment("a-b", clear, "both"), stopped(/impair link/));
      // While the lab stops, its control socket still answers (its workloads end first).
      const link = linkRoute(lab, "a-b", { ok: true, value: { up: false } });
      assert.equal(link.status, 503, "as POST /exec answers then");
      assert.equal((await link.json()).error.code, "lab-stopping");
      const cut = partitionRoute(lab, "/partitions", { ok: true, value: { a: ["a"], b: ["b"] } });
      assert.equal(cut.status, 503);
      assert.equal((await cut.json()).error.code, "lab-stopping");
      // A fault then was a 409, where POST /exec answers 503.
      const fault = await faultRoute(lab, { ok: true, value: { kind: "vm-crash", vm: "a" } });
      assert.equal(fault.status, 503);
      assert.equal((await fault.json()).error.code, "lab-stopping");
      assert.equal(lab.events.recent().at(-1)?.kind, "lab-down", "nothing after lab-down");
    }),
});

Deno.test({
  name:
    "a stop asked again from within the stop's first steps gets the stop under way, not a second one",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-script-args-", async () => {
      // A capture's onEnd (called as the stop ends the captures, before its first await) that
      // stopped the lab began a second stop: two teardowns and two lab-down events (and, from a
      // lab-down listener, a stack overflow).
      const lab = await startTestLab(PAIR);
      const again: Promise<void>[] = [];
      lab.capture("a-b", () => {}, { onEnd: () => void again.push(lab.stop()) });
      const first = lab.stop();
      await first;
      assert.equal(again.length, 1);
      assert.equal(again[0], first, "the same stop");
      assert.equal(lab.events.recent().filter((e) => e.kind === "lab-down").length, 1);
    }),
});
