/**
 * The rows of the option table (options.ts) for forwarding to InfluxDB and
 * reading history from it (docs/influxdb.md).
 */

import { NAME_PATTERN } from '../core/telemetry.js'
import { type Option, TEXT } from './option-row.js'

export const DEFAULT_MAX_BACKLOG_BYTES = 1024 ** 3

export const INFLUX_OPTIONS = {
  'influx-url': {
    key: 'influx.url',
    schema: { type: 'string', pattern: '^https?://[^/]+' },
    accepted: 'an http:// or https:// URL',
    normalize: (url) => url.replace(/\/+$/, ''),
    description:
      'forward every stored reading to the InfluxDB at `http://host:8086`: see [influxdb.md](influxdb.md); the other `--influx-*` options and `--max-backlog-bytes` need it',
  },
  'influx-version': {
    key: 'influx.version',
    schema: { enum: ['auto', 1, 2] },
    default: 'auto',
    description:
      '`1`: `/write?db=&rp=` (InfluxDB 1.x); `2`: `/api/v2/write` (1.8+, 2.x, 3.x); `auto`: by the `X-Influxdb-Version` header of `/ping`',
  },
  'influx-token': {
    key: 'influx.token',
    schema: TEXT,
    secret: true,
    description: 'sent as `Authorization: Token …`; left out by `--print-config`',
  },
  'influx-org': { key: 'influx.org', schema: TEXT, description: 'InfluxDB 2.x and 3.x organization' },
  'influx-bucket': { key: 'influx.bucket', schema: TEXT, description: 'InfluxDB 2.x and 3.x bucket' },
  'influx-db': { key: 'influx.db', schema: TEXT, description: 'InfluxDB 1.x database' },
  'influx-rp': { key: 'influx.rp', schema: TEXT, description: 'InfluxDB 1.x retention policy' },
  'influx-measurement': {
    key: 'influx.measurement',
    schema: { type: 'string', pattern: NAME_PATTERN.source },
    default: 'telemetry',
    description: 'the measurement every reading is written to',
  },
  'influx-tags': {
    key: 'influx.tags',
    schema: {
      type: 'array',
      items: { type: 'string', pattern: NAME_PATTERN.source.replace('^', '^(?!device$)') },
    },
    default: [],
    accepted: `comma-separated names matching ${NAME_PATTERN.source}, other than device`,
    description: 'reading tags written as InfluxDB tags, e.g. `site,line` (`device` always is)',
  },
  'max-backlog-bytes': {
    key: 'influx.maxBacklogBytes',
    schema: { type: 'integer', minimum: 1024 },
    default: DEFAULT_MAX_BACKLOG_BYTES,
    description:
      'unforwarded InfluxDB backlog (1 GiB by default) past which ingest is held back: see [influxdb.md](influxdb.md#outages-and-the-backlog)',
    limit: {
      metric: '`influx_backlog_bytes`',
      sees: 'acknowledgements wait (ingest is held back) until the forwarder catches up: devices slow down, nothing is lost',
    },
  },
  'history-source': {
    key: 'historySource',
    schema: { enum: ['local', 'influx'] },
    default: 'local',
    description: '`influx`: serve `/v1/telemetry` and `/v1/windows` from InfluxDB (needs `--influx-url`)',
  },
} as const satisfies Record<string, Option>
