/**
 * The option table of docs/configuration.md, generated from `OPTIONS`
 * between two markers; the prose around it is written by hand. `npm run
 * docs:config` rewrites it, and a unit test fails while the committed doc
 * differs from what this makes.
 */

import { variableOf } from './option-row.js'
import { ROWS } from './options.js'
import { accepted } from './schema.js'

export const BEGIN = '<!-- options: generated from src/config/options.ts by `npm run docs:config` -->'
export const END = '<!-- end of options -->'

/** The Markdown table: one row per option, in table order. */
export function optionsTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|')
  const rows = ROWS.map(([flag, option]) => {
    const value = option.default
    const none = value === undefined || (typeof value === 'object' && Object.keys(value ?? {}).length === 0)
    const shown = option.defaultText ?? (none ? 'none' : `\`${String(value)}\``)
    // Patterns in code spans, so that Markdown leaves their `_` and `[` alone.
    const words = accepted(flag, option).replace(/\^\S*\$/g, (pattern) => `\`${pattern}\``)
    const names = `\`--${flag}\` | \`${variableOf(flag)}\``
    return `| ${names} | ${shown} | ${cell(words)} | ${cell(option.description)} |`
  })
  return ['| flag | variable | default | accepted | meaning |', '|---|---|---|---|---|', ...rows].join('\n')
}

/** The doc with its generated table replaced by the current one. */
export function withOptionsTable(doc: string): string {
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (start < 0 || end < start) throw new Error(`the doc lacks the markers ${BEGIN} and ${END}`)
  return `${doc.slice(0, start + BEGIN.length)}\n${optionsTable()}\n${doc.slice(end)}`
}
