// Placeholder: the cache model is being written.
/** Options of the cache model. */
export interface CacheModelOptions {
  layout: "split" | "packed";
  queueSize: number;
  batch: number;
  outstanding: boolean;
  requests: number;
  eventIdx: boolean;
}
/** Run the cache model. */
export function runCacheModel(_o: CacheModelOptions): { linesPerRequest: number } {
  return { linesPerRequest: NaN };
}
