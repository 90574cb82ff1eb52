/**
 * The option table of docs/configuration.md and the limits table of
 * docs/operations.md, generated from `OPTIONS` between markers; the prose
 * around them is written by hand. `npm run docs:config` rewrites them, and
 * a unit test fails while a committed doc differs from what this makes.
 */

import { type Option, variableOf } from './option-row.js'
import { ROWS } from './options.js'
import { accepted } from './schema.js'

export const BEGIN = '<!-- options: generated from src/config/options.ts by `npm run docs:config` -->'
export const END = '<!-- end of options -->'
export const LIMITS_BEGIN = '<!-- limits: generated from src/config/options.ts by `npm run docs:config` -->'
export const LIMITS_END = '<!-- end of limits -->'

const cell = (text: string) => text.replaceAll('|', '\\|')

function defaultOf(option: Option): string {
  const value = option.default
  const none = value === undefined || (typeof value === 'object' && Object.keys(value ?? {}).length === 0)
  return option.defaultText ?? (none ? 'none' : `\`${String(value)}\``)
}

/** The Markdown table: one row per option, in table order. */
export function optionsTable(): string {
  const rows = ROWS.map(([flag, option]) => {
    const shown = defaultOf(option)
    // Patterns in code spans, so that Markdown leaves their `_` and `[` alone.
    const words = accepted(flag, option).replace(/\^\S*\$/g, (pattern) => `\`${pattern}\``)
    const names = `\`--${flag}\` | \`${variableOf(flag)}\``
    return `| ${names} | ${shown} | ${cell(words)} | ${cell(option.description)} |`
  })
  return ['| flag | variable | default | accepted | meaning |', '|---|---|---|---|---|', ...rows].join('\n')
}

/**
 * `npm start -- --help`: every flag with its variable, default and meaning,
 * from the same table as docs/configuration.md.
 */
export function helpText(): string {
  const plain = (markdown: string) => markdown.replaceAll('`', '').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
  const options = ROWS.map(([flag, option]) => {
    const head = `  --${flag} <${plain(accepted(flag, option))}>`
    return `${head}\n      ${variableOf(flag)}; default ${plain(defaultOf(option))}\n      ${plain(option.description)}`
  })
  return [
    'Usage: npm start -- [options]   (or: node dist/src/main.js [options])',
    '',
    'Each option is a flag, else its environment variable, else a key of the --config file, else its default.',
    'All of them, with more words: docs/configuration.md.',
    '',
    '  --config <file>\n      CONFIG; a JSON object keyed by flag name',
    '  --print-config\n      prints the configuration as a --config file and exits',
    '  --help, -h\n      prints this and exits',
    ...options,
    '',
  ].join('\n')
}

/** The limits table: every option that bounds a cost, what hitting it looks like and what counts it. */
export function limitsTable(): string {
  const rows = ROWS.flatMap(([flag, option]) =>
    option.limit === undefined
      ? []
      : [
          `| \`--${flag}\` | ${defaultOf(option)} | ${cell(option.description)} | ${cell(option.limit.sees)} | ${cell(option.limit.metric)} |`,
        ],
  )
  return [
    '| flag | default | bounds | what a client sees | counted in |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n')
}

/** The doc with its generated table replaced by the current one. */
export function withOptionsTable(doc: string): string {
  return replaced(doc, BEGIN, END, optionsTable())
}

export function withLimitsTable(doc: string): string {
  return replaced(doc, LIMITS_BEGIN, LIMITS_END, limitsTable())
}

function replaced(doc: string, begin: string, end: string, table: string): string {
  const start = doc.indexOf(begin)
  const stop = doc.indexOf(end)
  if (start < 0 || stop < start) throw new Error(`the doc lacks the markers ${begin} and ${end}`)
  return `${doc.slice(0, start + begin.length)}\n${table}\n${doc.slice(stop)}`
}
