/**
 * Test worker for `workers_test.ts`: speaks the lab's worker protocol the way a test scripts it.
 * On its start message it announces its statistics (`frames`, or the start message's `names`) and
 * says `ready`. Then, per message:
 *
 * - `inspect` with an odd id: answered (`inspect-result`, `info` = the id); with an even id: never
 *   answered (a worker that does not answer in time);
 * - `exec` of `["event"]`: posts an event (`tick`, `{ n: 1 }`) and answers nothing;
 * - `exec` of `["fail"]`: says `failed` with message `boom`.
 *
 * @module
 */

const scope = self as unknown as {
  postMessage(m: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as { type: string; id?: number; argv?: string[]; names?: string[] };
  if (m.type === "start") {
    scope.postMessage({ type: "stats-names", names: m.names ?? ["frames"] });
    scope.postMessage({ type: "ready" });
  } else if (m.type === "inspect" && m.id! % 2 === 1) {
    scope.postMessage({ type: "inspect-result", id: m.id, info: m.id });
  } else if (m.type === "exec" && m.argv?.[0] === "event") {
    scope.postMessage({ type: "event", kind: "tick", detail: { n: 1 } });
  } else if (m.type === "exec" && m.argv?.[0] === "fail") {
    scope.postMessage({ type: "failed", message: "boom" });
  }
};
