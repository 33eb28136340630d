/**
 * Reduction of series for drawing only: statistics never see these points. A chart is a few
 * hundred pixels wide, so more points than two per pixel column add bytes, not information.
 */

/** Points to draw, as plain arrays (they go into the report's JSON). */
export interface XY {
  x: number[];
  y: number[];
}

/**
 * Min/max per bucket: the x range is cut into `buckets` equal columns and each keeps its lowest
 * and its highest point (in x order), so every spike and dip stays visible at any zoom the
 * bucket width allows. x need not be sorted (iterations finish out of start order). NaN values
 * are skipped. Returns the points unchanged when there are no more than 2 × buckets.
 *
 * `include(i)` selects the rows to consider (for one step's rows of a run-long series).
 */
export function minMaxDownsample(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  buckets: number,
  include: (i: number) => boolean = () => true,
): XY {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    if (!include(i) || Number.isNaN(y[i])) continue;
    n++;
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  if (n <= 2 * buckets) {
    const pts: [number, number][] = [];
    for (let i = 0; i < x.length; i++) if (include(i) && !Number.isNaN(y[i])) pts.push([x[i], y[i]]);
    pts.sort((a, b) => a[0] - b[0]);
    return { x: pts.map((p) => p[0]), y: pts.map((p) => p[1]) };
  }
  const width = (hi - lo) / buckets || 1;
  const minI = new Int32Array(buckets).fill(-1);
  const maxI = new Int32Array(buckets).fill(-1);
  for (let i = 0; i < x.length; i++) {
    if (!include(i) || Number.isNaN(y[i])) continue;
    let b = Math.floor((x[i] - lo) / width);
    if (b >= buckets) b = buckets - 1;
    if (minI[b] < 0 || y[i] < y[minI[b]]) minI[b] = i;
    if (maxI[b] < 0 || y[i] > y[maxI[b]]) maxI[b] = i;
  }
  const out: XY = { x: [], y: [] };
  for (let b = 0; b < buckets; b++) {
    const a = minI[b];
    const c = maxI[b];
    if (a < 0) continue;
    const [first, second] = x[a] <= x[c] ? [a, c] : [c, a];
    out.x.push(x[first]);
    out.y.push(y[first]);
    if (second !== first) {
      out.x.push(x[second]);
      out.y.push(y[second]);
    }
  }
  return out;
}

/**
 * In-flight iterations over time, from each iteration's start and duration: the exact step
 * function, reduced to its maximum per bucket so that a short burst of concurrency is never
 * averaged away. x in the unit of `start` (ms since the step's start).
 */
export function inFlight(start: ArrayLike<number>, duration: ArrayLike<number>, buckets: number): XY {
  const n = start.length;
  if (n === 0) return { x: [], y: [] };
  const starts = Float64Array.from(start).sort();
  const ends = new Float64Array(n);
  for (let i = 0; i < n; i++) ends[i] = start[i] + (Number.isFinite(duration[i]) ? duration[i] : 0);
  ends.sort();
  const lo = starts[0];
  const hi = ends[n - 1];
  // The exact step function: (time, level after the event).
  const tx: number[] = [];
  const ty: number[] = [];
  let i = 0;
  let j = 0;
  let level = 0;
  while (i < n || j < n) {
    // An end and a start at the same instant: count the end first, so back-to-back iterations of one worker never look like two.
    const t = j < n && (i >= n || ends[j] <= starts[i]) ? ends[j] : starts[i];
    while (j < n && ends[j] === t) {
      level--;
      j++;
    }
    while (i < n && starts[i] === t) {
      level++;
      i++;
    }
    tx.push(t);
    ty.push(level);
  }
  if (tx.length <= 2 * buckets) return { x: tx, y: ty };
  const width = (hi - lo) / buckets || 1;
  const out: XY = { x: [], y: [] };
  let k = 0;
  let carried = 0; // the level at the start of each bucket
  for (let b = 0; b < buckets; b++) {
    const end = lo + (b + 1) * width;
    let max = carried;
    while (k < tx.length && (tx[k] < end || b === buckets - 1)) {
      if (ty[k] > max) max = ty[k];
      carried = ty[k];
      k++;
    }
    out.x.push(lo + b * width);
    out.y.push(max);
  }
  out.x.push(hi);
  out.y.push(0);
  return out;
}
