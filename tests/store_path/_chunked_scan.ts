/**
 * A reference scan of data cut in chunks of given sizes, for the scanner tests.
 *
 * @module
 */
import { ReferenceScanner } from "../../lib/store_path/reference_scanner.ts";
/** Scan `data` in chunks whose sizes cycle through `sizes`. */
export function scan(
  data: Uint8Array,
  candidates: string[],
  sizes: number[] = [data.length],
): Set<string> {
  const s = new ReferenceScanner(candidates);
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    s.write(data.subarray(at, at + n));
    at += n;
  }
  return s.found();
}
