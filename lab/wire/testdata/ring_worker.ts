/**
 * A helper worker for the `lab/wire` tests. It runs one job per message and posts one reply:
 *
 * - `ring`: wait (bounded) until `thread` announces sleep, optionally watch its `SLEEPING` word
 *   for `watchMs` (the share of looks that found it set), optionally set a work flag, then ring
 *   the thread's doorbell: a ring from another worker.
 * - `pingpong`: play one side of a ping-pong through doorbells: wait for my turn with the
 *   sleep protocol (`announceSleep`, re-check, `waitDoorbell`), pass the turn, ring the peer.
 * - `serve-mailbox`: the device side of a register mailbox over a fake register file, logging
 *   every access, until the stop flag of `thread` is set.
 *
 * @module
 */

import {
  announceSleep,
  cancelSleep,
  DOORBELL_STRIDE,
  DoorbellWord,
  readBell,
  ringDoorbell,
  stopRequested,
  waitDoorbell,
} from "../doorbell.ts";
import { serveMailbox } from "../mailbox.ts";

/** A job for this worker. */
export type RingJob =
  | { op: "ring"; bells: Int32Array; thread: number; work?: Int32Array; watchMs?: number }
  | {
    op: "pingpong";
    bells: Int32Array;
    /** My thread (0 or 1); thread 0 moves on even turns. */
    me: number;
    peer: number;
    /** turn[0] counts handoffs. */
    turn: Int32Array;
    rounds: number;
    deadlineMs: number;
    waitTimeoutMs: number;
  }
  | {
    op: "serve-mailbox";
    bells: Int32Array;
    thread: number;
    mailbox: Int32Array;
    /** log[0] = entries; then [op (0 read, 1 write), offset, value, size] per entry. */
    log: Int32Array;
  };

/** The reply to a job. */
export type RingReply =
  | { op: "ring"; sawSleeping: boolean; sleepingShare?: number }
  | { op: "pingpong"; rounds: number; timedOutWaits: number; wakeups: number }
  | { op: "serve-mailbox"; served: number };

type Scope = {
  onmessage: ((e: MessageEvent<RingJob>) => void) | null;
  postMessage(m: RingReply): void;
};
const scope = self as unknown as Scope;

scope.onmessage = async (e) => {
  const job = e.data;
  if (job.op === "ring") scope.postMessage(ring(job));
  else if (job.op === "pingpong") scope.postMessage(await pingpong(job));
  else scope.postMessage(await serve(job));
};

function ring(job: Extract<RingJob, { op: "ring" }>): RingReply {
  const sleeping = job.thread * DOORBELL_STRIDE + DoorbellWord.SLEEPING;
  const deadline = performance.now() + 5000;
  let sawSleeping = false;
  while (performance.now() < deadline) {
    if (Atomics.load(job.bells, sleeping) === 1) {
      sawSleeping = true;
      break;
    }
    // Nothing notifies this word: a 1 ms pause between looks.
    Atomics.wait(job.bells, sleeping, 0, 1);
  }
  let sleepingShare: number | undefined;
  if (job.watchMs !== undefined) {
    // Look every 50 µs or so: a sleeper that a ring could not wake shows up as SLEEPING 0.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const end = performance.now() + job.watchMs;
    let looks = 0;
    let set = 0;
    while (performance.now() < end) {
      looks++;
      if (Atomics.load(job.bells, sleeping) === 1) set++;
      Atomics.wait(pause, 0, 0, 0.05);
    }
    sleepingShare = set / Math.max(1, looks);
  }
  if (job.work) Atomics.store(job.work, 0, 1);
  ringDoorbell(job.bells, job.thread);
  return sleepingShare === undefined
    ? { op: "ring", sawSleeping }
    : { op: "ring", sawSleeping, sleepingShare };
}

async function pingpong(job: Extract<RingJob, { op: "pingpong" }>): Promise<RingReply> {
  const { bells, me, peer, turn } = job;
  const deadline = performance.now() + job.deadlineMs;
  const myTurn = (t: number) => t % 2 === me;
  let rounds = 0;
  let timedOutWaits = 0;
  let wakeups = 0;
  while (rounds < job.rounds && performance.now() < deadline) {
    // Wait for my turn: read the bell, check, announce, re-check, wait.
    for (;;) {
      if (performance.now() >= deadline) return { op: "pingpong", rounds, timedOutWaits, wakeups };
      const seen = readBell(bells, me);
      if (myTurn(Atomics.load(turn, 0))) break;
      announceSleep(bells, me);
      if (myTurn(Atomics.load(turn, 0))) {
        cancelSleep(bells, me);
        break;
      }
      if (await waitDoorbell(bells, me, seen, job.waitTimeoutMs)) wakeups++;
      else timedOutWaits++;
    }
    Atomics.add(turn, 0, 1);
    ringDoorbell(bells, peer);
    rounds++;
  }
  return { op: "pingpong", rounds, timedOutWaits, wakeups };
}

async function serve(job: Extract<RingJob, { op: "serve-mailbox" }>): Promise<RingReply> {
  const { bells, thread, mailbox, log } = job;
  const regs = new Map<number, number>([[0x000, 0x74726976]]);
  const record = (op: number, offset: number, value: number, size: number) => {
    const n = log[0];
    if (1 + 4 * (n + 1) > log.length) return;
    log.set([op, offset, value | 0, size], 1 + 4 * n);
    Atomics.store(log, 0, n + 1);
  };
  const target = {
    read(offset: number, size: 1 | 2 | 4): number {
      const v = regs.get(offset) ?? 0;
      record(0, offset, v, size);
      return v;
    },
    write(offset: number, value: number, size: 1 | 2 | 4): void {
      regs.set(offset, value);
      record(1, offset, value, size);
    },
  };
  let served = 0;
  while (!stopRequested(bells, thread)) {
    const seen = readBell(bells, thread);
    let n = serveMailbox(mailbox, target);
    if (n > 0) {
      served += n;
      continue;
    }
    announceSleep(bells, thread);
    n = serveMailbox(mailbox, target);
    if (n > 0) {
      cancelSleep(bells, thread);
      served += n;
      continue;
    }
    await waitDoorbell(bells, thread, seen, 100);
  }
  return { op: "serve-mailbox", served };
}
