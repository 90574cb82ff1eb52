/** `npm start`: the whole system in one process (README, docs/configuration.md). */

import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { type OpenStore, startApp } from './app.js'
import { helpText } from './config/docs.js'
import { variableOf } from './config/option-row.js'
import { type Config, configFile, readCommandLine, wantsHelp } from './config.js'
import { ConfigError } from './core/errors.js'

/** Reads the command line and runs the app until a signal; `openStore` stands in for the store in diagnostics. */
export async function main(openStore?: OpenStore): Promise<void> {
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(helpText())
    return
  }
  let commandLine: ReturnType<typeof readCommandLine>
  try {
    commandLine = readCommandLine(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const { config } = commandLine
  if (commandLine.printConfig) {
    const { file, redacted } = configFile(config)
    process.stdout.write(`${JSON.stringify(file, null, 2)}\n`)
    for (const flag of redacted)
      process.stderr.write(`--${flag} is a secret, left out: give it again by flag or variable\n`)
    return // exit 0 once stdout is flushed
  }
  const log = pino({ level: config.logLevel })
  let app: Awaited<ReturnType<typeof startApp>>
  try {
    app = await startApp(config, log, openStore)
  } catch (err) {
    const busy = busyPort(err, config)
    if (err instanceof ConfigError || busy !== null) {
      process.stderr.write(`${busy ?? (err as Error).message}\n`)
      process.exit(2)
    }
    throw err
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down: finishing commits in flight')
    setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown took too long; exiting anyway')
      process.exit(1)
    }, config.shutdownTimeoutMs).unref()
    app.close().then(
      () => {
        log.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

/** A port someone else holds, in words that name the flag to change; null for any other failure. */
function busyPort(err: unknown, config: Config): string | null {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string }
  if (e?.code !== 'EADDRINUSE') return null
  const flag = e.port === config.mqttPort ? 'mqtt-port' : e.port === config.httpPort ? 'http-port' : null
  const where = `${e.address ?? config.host}:${e.port}`
  if (flag === null) return `${where} is already in use by another program`
  return `${where} is already in use by another program: stop it, or choose another port with --${flag} (${variableOf(flag)})`
}

/** Run, unless imported (bench/no-commit.ts runs it with a store of its own). */
export function exitOnFailure(run: Promise<void>): void {
  run.catch((err: unknown) => {
    process.stderr.write(`failed to start: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) exitOnFailure(main())
