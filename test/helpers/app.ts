/** Test helpers: a temp data dir, and the whole app on ephemeral ports. */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { type App, startApp } from '../../src/app.js'
import { type Config, DEFAULT_CONFIG } from '../../src/config.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export function tempDir(t: Teardown, prefix = 'tlm-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function startTestApp(
  t: Teardown,
  overrides: Partial<Config> = {},
): Promise<App & { dataDir: string }> {
  const dataDir = overrides.dataDir ?? tempDir(t)
  // Retention off unless a test asks: an hourly run would delete the past timestamps tests store.
  const config: Config = {
    ...DEFAULT_CONFIG,
    mqttPort: 0,
    mqttsPort: 0,
    httpPort: 0,
    retentionSchedule: 'off',
    ...overrides,
    dataDir,
  }
  const app = await startApp(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }))
  t.teardown(() => app.close())
  return Object.assign(app, { dataDir })
}

/**
 * Wire-format v1 vectors made by an independent encoder (shared/vectors/wire-v1
 * of the design repository), copied so that a clone tests itself.
 */
export const VECTORS_DIR = join(import.meta.dirname, '..', 'fixtures', 'wire-v1')
