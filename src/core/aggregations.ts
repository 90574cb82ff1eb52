/**
 * The aggregations a feature may ask for (docs/training-data.md): the live
 * engine (src/features) and the store's window SQL (src/store) each
 * implement every one of them.
 */
export const AGGREGATIONS = ['count', 'mean', 'min', 'max', 'sum', 'std', 'first', 'last', 'rate'] as const

export type Aggregation = (typeof AGGREGATIONS)[number]

/** `temp_mean_10s`: the name a feature's value has in history results (docs/training-data.md). */
export function columnName(
  feature: { readonly field: string; readonly sizeLabel: string },
  aggregation: Aggregation,
): string {
  return `${feature.field}_${aggregation}_${feature.sizeLabel}`
}
