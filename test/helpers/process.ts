/** The app as a real child process, as `npm start` runs it: for crash and shutdown tests. */

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { SERVER_NODE_FLAGS } from '../../src/node-flags.js'

export const MAIN_JS = join(import.meta.dirname, '..', '..', 'dist', 'src', 'main.js')

export interface Running {
  readonly child: ChildProcess
  readonly mqttPort: number
  readonly httpPort: number
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string>
}

export async function startServer(dataDir: string, extraArgs: string[] = []): Promise<Running> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} missing: run npm run build (npm test does)`)
  const child = spawn(
    process.execPath,
    [
      ...SERVER_NODE_FLAGS,
      MAIN_JS,
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--data-dir',
      dataDir,
      ...extraArgs,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  )
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr}`)), 30_000)
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; mqtt?: string; http?: string }
        if (entry.msg === 'telemetry bridge listening') {
          clearTimeout(timer)
          resolve({ mqtt: Number(entry.mqtt!.split(':').pop()), http: Number(entry.http!.split(':').pop()) })
        }
      } catch {
        // not a log line
      }
    })
  })
  return { child, mqttPort: ports.mqtt, httpPort: ports.http, exited }
}
