/**
 * Every shell and Python example of README.md and docs/*.md, run as written
 * against a fresh server, in document order (README first, then docs/ by
 * name), so a newcomer following them meets no failing command and no empty
 * answer.
 *
 * What "as written" allows, and nothing more:
 * - the server is ours, on free ports: `127.0.0.1:8080`/`localhost:8080` and
 *   MQTT port 1883 in a block are rewritten to its ports;
 * - a line `npm start -- FLAGS &` starts a server of the test's with those
 *   flags, on free ports, where the line stands (what comes before it runs
 *   first), for the rest of its block;
 * - `curl -N` (a stream that never ends) runs for 3 s;
 * - a block preceded by `<!-- docs-test: skip: REASON -->` is not run; the
 *   reason is required (it says what cannot run here: root, Docker, a
 *   Python package outside the standard library, the test's own command).
 *
 * A block fails on a non-zero exit, an error answer (`"code":"TLM_ERR…`), an
 * empty list in an answer, a curl or Python example that printed nothing, or an output file
 * (`-o F`, `--out F`) left missing or empty. Files a block writes in the
 * checkout and names (train.parquet, run.ndjson) are removed afterwards.
 */

import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { haveProgram } from '../helpers/external.js'
import { REPO_ROOT, type Running, spawnApp } from '../helpers/process.js'

interface Block {
  readonly where: string
  readonly lang: 'sh' | 'python'
  readonly code: string
  readonly skip: string | null
}

const SKIP = /^<!-- docs-test: skip: (.+?) -->$/
const FENCE = /^```(sh|bash|python)\s*$/

/** The runnable blocks of a Markdown file, each with the skip reason the line before it gives. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n')
  const out: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i]!)
    if (fence === null) continue
    const end = lines.indexOf('```', i + 1)
    const before =
      lines
        .slice(0, i)
        .filter((l) => l.trim() !== '')
        .pop() ?? ''
    const code = lines.slice(i + 1, end).join('\n')
    const lang = fence[1] === 'python' ? 'python' : 'sh'
    out.push({ where: `${file}:${i + 1}`, lang, code, skip: SKIP.exec(before.trim())?.[1] ?? null })
    i = end
  }
  return out
}

const DOCS = [
  'README.md',
  ...readdirSync(join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]

/** The block with our server's ports in place of the documented ones. */
function onServer(code: string, server: Running): string {
  return code
    .replace(/(127\.0\.0\.1|localhost):8080/g, `127.0.0.1:${server.httpPort}`)
    .replace(/(127\.0\.0\.1|localhost):1883/g, `127.0.0.1:${server.mqttPort}`)
    .replace(/(-p )1883\b/g, `$1${server.mqttPort}`)
    .replace(/^(\s*)curl -N (.*)$/gm, '$1(timeout 3 curl -N $2 || [ $? = 124 ])')
}

/** What a block's output and files show went wrong, if anything. */
function problems(block: Block, code: string, stdout: string): string[] {
  const found: string[] = []
  if (/"code"\s*:\s*"TLM_ERR/.test(stdout)) found.push(`an error answer: ${stdout.slice(0, 300)}`)
  if (/"(readings|windows|deadLetters|devices|fields)"\s*:\s*\[\]/.test(stdout))
    found.push(`an empty answer: ${stdout.slice(0, 300)}`)
  const printingCurl = code.split('\n').some((l) => /\bcurl\b/.test(l) && !/\s-o\s/.test(l))
  if (printingCurl && stdout.trim() === '') found.push('curl printed nothing')
  if (block.lang === 'python' && stdout.trim() === '') found.push('printed nothing')
  for (const m of block.code.matchAll(/(?:\s-o|--out)\s+(\S+)/g)) {
    if (m[1]!.startsWith('/dev/')) continue
    const file = join(REPO_ROOT, m[1]!)
    if (!existsSync(file) || statSync(file).size === 0) found.push(`${m[1]} missing or empty`)
  }
  return found
}

const run = promisify(execFile)

/** One block's code, in its language, in the checkout: what it printed, and whether it exited 0. */
function runBlock(block: Block, code: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const [program, args] =
    block.lang === 'python' ? ['python3', ['-c', code]] : ['bash', ['-e', '-o', 'pipefail', '-c', code]]
  return run(program, args, { cwd: REPO_ROOT, timeout: 180_000, maxBuffer: 64 << 20 }).then(
    ({ stdout }) => ({ ok: true, stdout, stderr: '' }),
    (err: { stdout?: string; stderr?: string; message: string }) => ({
      ok: false,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? err.message,
    }),
  )
}

// Some thirty blocks, a few seconds each and the simulator's 20: more than tap's 120 s a file under load.
t.setTimeout(600_000)

t.test('docs - every example in README.md and docs/ runs as written', async (t) => {
  if (!haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  if (!haveProgram(t, 'curl', 'curl')) return
  if (!haveProgram(t, 'python3', 'python3')) return
  const server = await spawnApp()
  t.teardown(() => server.stop())
  const blocks = DOCS.flatMap(blocksOf)
  t.ok(blocks.filter((b) => b.skip === null).length >= 8, `${blocks.length} blocks found`)
  for (const block of blocks) {
    if (block.skip !== null) {
      t.ok(block.skip.length > 10, `${block.where}: not run: ${block.skip}`)
      continue
    }
    const [before, started] = [new Set(readdirSync(REPO_ROOT)), Date.now()]
    let own: Running | null = null
    try {
      const start = /^npm start(?: -- (.*?))?\s*&.*$/m.exec(block.code)
      // The variables the part before the server sets (`TOKEN=$(…)`) carry over to the part after it.
      const [head, tail] =
        start === null ? ['', block.code] : (block.code.split(start[0]) as [string, string])
      let result = { ok: true, stdout: '', stderr: '' }
      let code = tail
      if (start !== null) {
        const names = [...head.matchAll(/^([A-Za-z_]\w*)=/gm)].map((m) => m[1])
        result = await runBlock(
          block,
          `${head}\n${names.length > 0 ? `declare -p ${names.join(' ')}` : 'true'} > .docs-test-env`,
        )
        if (result.ok) own = await spawnApp({ args: (start[1] ?? '').split(/\s+/).filter((a) => a !== '') })
        code = `source .docs-test-env\n${tail}`
      }
      if (result.ok) {
        code = onServer(code, own ?? server)
        const rest = await runBlock(block, code)
        result = { ok: rest.ok, stdout: result.stdout + rest.stdout, stderr: rest.stderr }
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      t.ok(result.ok, `${block.where}: runs (${seconds} s)`, { stderr: result.stderr.slice(-2000), code })
      t.same(problems(block, code, result.stdout), [], `${block.where}: answers`)
    } finally {
      rmSync(join(REPO_ROOT, '.docs-test-env'), { force: true })
      await own?.stop()
      // Only what the block names: other tests run beside this one.
      for (const entry of readdirSync(REPO_ROOT))
        if (!before.has(entry) && block.code.includes(entry)) rmSync(join(REPO_ROOT, entry), { force: true })
    }
  }
})
