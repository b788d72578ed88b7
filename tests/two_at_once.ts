/**
 * Independent CLI runs of a test, two at once: the machine the tests run on has two cores, and a
 * `vlab` child spends most of its quarter second starting Deno, so two of them side by side take
 * about the time of one. Not for tests that check timing.
 *
 * @module
 */

/**
 * `fn` on each of `items`, at most two at once; the results in the order of `items`. When a call
 * fails no new one starts, the other one running is waited for, and the first failure is thrown.
 *
 * @example
 * ```ts ignore
 * const runs = await twoAtOnce(["abc", "-1"], (bad) => runVlab(["up", "--hot-ms", bad]));
 * ```
 */
export async function twoAtOnce<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all([worker(), worker()]);
  if (failed !== undefined) throw failed.error;
  return results;
}
