/**
 * The aggregations a feature may ask for (docs/training-data.md): the live
 * engine (src/features) and the store's window SQL (src/store) each
 * implement every one of them.
 */
export const AGGREGATIONS = ['count', 'mean', 'min', 'max', 'sum', 'std', 'first', 'last', 'rate'] as const

export type Aggregation = (typeof AGGREGATIONS)[number]

/**
 * A feature's window and aggregations as plain numbers and names: what the
 * live engine (src/features) and the store's window SQL (src/store) both
 * compute from. A feature definition adds its name.
 */
export interface WindowFeature {
  /** The reading field it aggregates. */
  readonly field: string
  /** Window length, ns. */
  readonly sizeNs: bigint
  /** Distance between window starts, ns; equal to sizeNs for a tumbling window. */
  readonly hopNs: bigint
  /** How far behind its device's watermark a reading may arrive and still count, ns. Default 0. */
  readonly graceNs: bigint
  /** The size in its shortest exact spelling ("10s", "1m", "500ms"): part of every column name. */
  readonly sizeLabel: string
  readonly aggregations: readonly Aggregation[]
}

/** `temp_mean_10s`: the name a feature's value has in history results (docs/training-data.md). */
export function columnName(
  feature: { readonly field: string; readonly sizeLabel: string },
  aggregation: Aggregation,
): string {
  return `${feature.field}_${aggregation}_${feature.sizeLabel}`
}
