/**
 * The netem models, statistically, with fixed seeds and bounded samples: correlated loss is
 * bursty, Gilbert-Elliott and the 4-state model lose at their stationary rates with their burst
 * lengths, the jitter distributions have their shapes.
 */

import assert from "node:assert/strict";
import { Prng } from "../../devices/base/prng.ts";
import {
  Correlated,
  type DelayDistribution,
  JITTER_FACTOR_RANGE,
  jitterFactor,
  type LossModel,
  MarkovLoss,
  normalQuantile,
} from "./impair_models.ts";

const N = 100_000;

/** Loss rate, P(loss | previous lost) and the mean burst length of a loss sequence. */
function lossStats(lose: () => boolean): { rate: number; afterLoss: number; burst: number } {
  let lost = 0, pairs = 0, prev = false, bursts = 0;
  for (let i = 0; i < N; i++) {
    const l = lose();
    if (l) lost++;
    if (l && prev) pairs++;
    if (l && !prev) bursts++;
    prev = l;
  }
  return {
    rate: lost / N,
    afterLoss: lost === 0 ? 0 : pairs / lost,
    burst: lost / Math.max(1, bursts),
  };
}

Deno.test("random loss without correlation loses about p, independently of the previous frame", () => {
  const prng = Prng.fromSeed(1), c = new Correlated();
  const s = lossStats(() => c.chance(prng, 10, 0));
  assert.ok(Math.abs(s.rate - 0.1) < 0.005, `rate ${s.rate}`);
  assert.ok(Math.abs(s.afterLoss - 0.1) < 0.01, `P(loss | loss) ${s.afterLoss}`);
});

Deno.test("correlated loss comes in bursts (netem loss p correlation)", () => {
  const prng = Prng.fromSeed(2), c = new Correlated();
  const s = lossStats(() => c.chance(prng, 30, 75));
  // netem's generator narrows the spread: the effective rate is well below 30 %.
  assert.ok(s.rate > 0.01 && s.rate < 0.3, `rate ${s.rate}`);
  // A loss is followed by another far more often than the rate says.
  assert.ok(s.afterLoss > 4 * s.rate, `P(loss | loss) ${s.afterLoss}, rate ${s.rate}`);
  assert.ok(s.burst > 1.4, `mean burst ${s.burst}`);
});

Deno.test("Gilbert-Elliott loses at p/(p+r) in bursts of about 1/r (loss gemodel p r 100% 0%)", () => {
  const prng = Prng.fromSeed(3), m = new MarkovLoss();
  const model: LossModel = { kind: "gemodel", p: 1, r: 10, oneMinusH: 100, oneMinusK: 0 };
  const s = lossStats(() => m.lose(model, prng));
  const expected = 1 / 11;
  assert.ok(Math.abs(s.rate - expected) < 0.015, `rate ${s.rate}, expected ${expected}`);
  assert.ok(s.burst > 8 && s.burst < 12, `mean burst ${s.burst}, expected 10`);
});

Deno.test("Gilbert-Elliott loses 1-k in the good state and 1-h in the bad one", () => {
  const prng = Prng.fromSeed(4), m = new MarkovLoss();
  // Never leaves the good state: only 1-k loses.
  const good = lossStats(() =>
    m.lose({ kind: "gemodel", p: 0, r: 100, oneMinusH: 100, oneMinusK: 5 }, prng)
  );
  assert.ok(Math.abs(good.rate - 0.05) < 0.005, `good-state rate ${good.rate}`);
  const m2 = new MarkovLoss();
  // Goes bad at once and stays: only 1-h loses.
  const bad = lossStats(() =>
    m2.lose({ kind: "gemodel", p: 100, r: 0, oneMinusH: 50, oneMinusK: 0 }, prng)
  );
  assert.ok(Math.abs(bad.rate - 0.5) < 0.01, `bad-state rate ${bad.rate}`);
});

Deno.test("4-state model: p14 gives isolated losses only (loss state 0% 100% 0% 0% 5%)", () => {
  const prng = Prng.fromSeed(5), m = new MarkovLoss();
  const model: LossModel = { kind: "state", p13: 0, p31: 100, p32: 0, p23: 100, p14: 5 };
  const s = lossStats(() => m.lose(model, prng));
  assert.equal(s.afterLoss, 0, "an isolated loss is always followed by a good frame");
  // Each loss costs two frames (the loss, then the forced return to state 1): 5/105.
  assert.ok(Math.abs(s.rate - 5 / 105) < 0.005, `rate ${s.rate}`);
});

Deno.test("4-state model: p13 and p31 give bursts at the stationary rate p13/(p13+p31)", () => {
  const prng = Prng.fromSeed(6), m = new MarkovLoss();
  const model: LossModel = { kind: "state", p13: 2, p31: 10, p32: 0, p23: 100, p14: 0 };
  const s = lossStats(() => m.lose(model, prng));
  const expected = 2 / 12;
  assert.ok(Math.abs(s.rate - expected) < 0.02, `rate ${s.rate}, expected ${expected}`);
  assert.ok(s.burst > 8 && s.burst < 12, `mean burst ${s.burst}, expected 10`);
});

function sample(dist: DelayDistribution, seed: number): number[] {
  const prng = Prng.fromSeed(seed);
  const xs: number[] = [];
  for (let i = 0; i < 50_000; i++) xs.push(jitterFactor(dist, prng.float()));
  return xs.sort((a, b) => a - b);
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const pct = (xs: number[], p: number) => xs[Math.floor((xs.length - 1) * p)];

Deno.test("uniform jitter stays within ±1 with mean 0", () => {
  const xs = sample("uniform", 7);
  assert.ok(xs[0] >= -1 && xs[xs.length - 1] < 1);
  assert.ok(Math.abs(mean(xs)) < 0.02, `mean ${mean(xs)}`);
  assert.ok(Math.abs(pct(xs, 0.75) - 0.5) < 0.02, `p75 ${pct(xs, 0.75)}`);
});

Deno.test("normal jitter has mean 0, sd 1 and the normal's percentiles", () => {
  const xs = sample("normal", 8);
  const m = mean(xs);
  const sd = Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
  assert.ok(Math.abs(m) < 0.02, `mean ${m}`);
  assert.ok(Math.abs(sd - 1) < 0.02, `sd ${sd}`);
  assert.ok(Math.abs(pct(xs, 0.975) - 1.96) < 0.05, `p97.5 ${pct(xs, 0.975)}`);
  assert.ok(Math.abs(pct(xs, 0.5)) < 0.02, `median ${pct(xs, 0.5)}`);
});

Deno.test("pareto jitter is skewed right: median below the mean 0, a long upper tail", () => {
  const xs = sample("pareto", 9);
  assert.ok(Math.abs(mean(xs)) < 0.05, `mean ${mean(xs)}`);
  assert.ok(pct(xs, 0.5) < -0.2, `median ${pct(xs, 0.5)}`);
  assert.ok(xs[0] >= -2 / 3, `min ${xs[0]} (pareto is bounded below)`);
  assert.ok(pct(xs, 0.99) > 3, `p99 ${pct(xs, 0.99)}`);
});

Deno.test("pareto and paretonormal take netem's table entries (iproute2 pareto.c, paretonormal.c)", () => {
  // iproute2 writes the entry at quantile q as ((1 - q)^(-1/3) - 1.5) * 4/3 (in sd units, cut at
  // 32767/8192), and paretonormal's as (normal(q) + 3 * pareto(q)) / 4.
  const netemPareto = (q: number) => Math.min(32767 / 8192, ((1 - q) ** (-1 / 3) - 1.5) * (4 / 3));
  for (const q of [0, 0.1, 0.5, 0.9, 0.99, 0.999]) {
    const want = netemPareto(q);
    assert.ok(Math.abs(jitterFactor("pareto", q) - want) < 1e-6, `pareto at ${q}: ${want}`);
    const mixed = (normalQuantile(q) + 3 * want) / 4;
    const got = jitterFactor("paretonormal", q);
    assert.ok(
      q === 0 || Math.abs(got - mixed) < 1e-6,
      `paretonormal at ${q}: ${got}, want ${mixed}`,
    );
  }
  // So a `jitter` spreads a pareto delay as much as netem's table does: sd about 0.82 jitter.
  const xs = sample("pareto", 12);
  const m = mean(xs);
  const sd = Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
  assert.ok(Math.abs(sd - 0.82) < 0.03, `sd ${sd}`);
});

Deno.test("table distributions stay within netem's table range (16-bit, 1/8192 sd): -4 to 4 sd", () => {
  const [lo, hi] = JITTER_FACTOR_RANGE;
  assert.deepEqual([lo, hi], [-4, 32767 / 8192]);
  for (const dist of ["normal", "pareto", "paretonormal"] as const) {
    for (const u of [0, 1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-12]) {
      const x = jitterFactor(dist, u);
      assert.ok(x >= lo && x <= hi, `${dist} at u=${u}: ${x}`);
    }
    // The cut leaves the bulk alone: the mean stays about 0.
    assert.ok(Math.abs(mean(sample(dist, 11))) < 0.05, `${dist} mean ${mean(sample(dist, 11))}`);
  }
  assert.equal(jitterFactor("pareto", 1 - 1e-9), hi);
});

Deno.test("paretonormal lies between normal and pareto at the tails", () => {
  const [n, p, pn] = [sample("normal", 10), sample("pareto", 10), sample("paretonormal", 10)];
  assert.ok(pct(pn, 0.99) > pct(n, 0.99) && pct(pn, 0.99) < pct(p, 0.99));
  assert.ok(pct(pn, 0.01) < pct(p, 0.01) && pct(pn, 0.01) > pct(n, 0.01));
});

Deno.test("a correlated knob starts from a uniform value, as netem's init_crandom, not from 0", () => {
  // loss 10% with 99% correlation: each link keeps near its random start, so over many links
  // about 10% of the first frames are lost (from 0, nearly all of them were).
  let lost = 0;
  let firstJitter = 0;
  const links = 200;
  for (let seed = 1; seed <= links; seed++) {
    const prng = Prng.fromSeed(seed), c = new Correlated();
    for (let i = 0; i < 20; i++) if (c.chance(prng, 10, 99)) lost++;
    // A normal jitter correlated 99 %: the first draw is centred, not at the table's low end.
    firstJitter += jitterFactor("normal", new Correlated().next(prng, 99));
  }
  assert.ok(lost / (links * 20) < 0.2, `lost ${lost} of the first ${links * 20}`);
  assert.ok(Math.abs(firstJitter / links) < 0.3, `mean first jitter ${firstJitter / links} sd`);
});

Deno.test("correlated values stay in [0, 1) and follow the previous one", () => {
  const prng = Prng.fromSeed(11), c = new Correlated();
  let prev = c.next(prng, 95), maxStep = 0;
  for (let i = 0; i < 10_000; i++) {
    const v = c.next(prng, 95);
    assert.ok(v >= 0 && v < 1);
    maxStep = Math.max(maxStep, Math.abs(v - prev));
    prev = v;
  }
  assert.ok(maxStep <= 0.05 + 1e-9, `a 95 % correlated value moved by ${maxStep}`);
});
