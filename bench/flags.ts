/**
 * Readers for the bench scripts' flags (from node:util parseArgs, every flag
 * a string): each bad value adds a problem naming its flag, so a script
 * reports them all at once.
 */

type Values = Readonly<Record<string, string | boolean | undefined>>

export function flagReaders<V extends Values>(values: V, problems: string[]) {
  return {
    /** A whole number from lo to hi; the fallback when the flag is absent. */
    int(flag: keyof V & string, fallback: number, lo: number, hi: number): number {
      const v = values[flag]
      if (typeof v !== 'string') return fallback
      const n = Number(v)
      if (!/^\d+$/.test(v) || n < lo || n > hi)
        problems.push(`--${flag} must be an integer from ${lo} to ${hi}`)
      return n
    },
    /** One of the allowed words; the fallback when the flag is absent. */
    choice<T extends string>(flag: keyof V & string, allowed: readonly T[], fallback: T): T {
      const v = values[flag]
      if (typeof v !== 'string') return fallback
      if (!(allowed as readonly string[]).includes(v))
        problems.push(`--${flag} must be ${allowed.join(' or ')}`)
      return v as string as T
    },
  }
}

/** `--write true|false`. */
export function writeFlag(choice: ReturnType<typeof flagReaders>['choice'], fallback: boolean): boolean {
  return choice('write', ['true', 'false'], fallback ? 'true' : 'false') === 'true'
}
