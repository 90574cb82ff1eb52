/**
 * Device identity end to end (issue #22), with Debian's Mosquitto programs
 * as the outside world: a password file written by mosquitto_passwd and by
 * npm run passwd, mosquitto_pub and mosquitto_sub with -u/-P against the
 * whole app, SIGHUP to a running process, and Mosquitto itself reading the
 * file our command wrote.
 */

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import t from 'tap'
import { startTestApp, tempDir } from '../helpers/app.js'
import { until } from '../helpers/broker-auth.js'
import { haveProgram } from '../helpers/external.js'
import { metric, readings } from '../helpers/http.js'
import { freePort, MAIN_JS, REPO_ROOT, sleep, spawnApp, stopChild, track } from '../helpers/process.js'

const PASSWD_JS = join(REPO_ROOT, 'dist', 'src', 'passwd.js')

/** A mosquitto client's exit code and output; never throws. */
async function run(program: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(program, args, { timeout: 15_000 })
    return { code: 0, output: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

const reading = (seq: number) => JSON.stringify({ v: 1, seq, m: { temp: 20 + seq } })

/** Resolves when the child exits, or with null after `ms`. */
const exitWithin = (child: ChildProcess, ms: number): Promise<number | null> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code ?? -1)
    })
  })

t.test(
  'e2e - mosquitto_pub and mosquitto_sub against a password file from mosquitto_passwd and npm run passwd',
  async (t) => {
    for (const [program, pkg] of [
      ['mosquitto_pub', 'mosquitto-clients'],
      ['mosquitto_sub', 'mosquitto-clients'],
      ['mosquitto_passwd', 'mosquitto'],
    ])
      if (!haveProgram(t, program!, pkg!)) return
    const file = join(tempDir(t), 'passwd')
    execFileSync('mosquitto_passwd', ['-b', '-c', file, 'meter-7', 'seven'])
    execFileSync(process.execPath, [PASSWD_JS, '-b', file, 'meter-8', 'eight'])
    const app = await startTestApp(t, { passwordFile: file })
    const port = String(app.mqttPort)
    const pub = (user: string[], topic: string, message: string, id: string[] = []) =>
      run('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        port,
        '-q',
        '1',
        ...user,
        ...id,
        '-t',
        topic,
        '-m',
        message,
      ])
    const m7 = ['-u', 'meter-7', '-P', 'seven']
    const m8 = ['-u', 'meter-8', '-P', 'eight']

    t.equal((await pub(m7, 'devices/meter-7/telemetry', reading(1))).code, 0, "mosquitto_passwd's entry")
    t.equal((await pub(m8, 'devices/meter-8/telemetry', reading(1))).code, 0, "npm run passwd's entry")

    for (const [why, user] of [
      ['anonymous', []],
      ['wrong password', ['-u', 'meter-7', '-P', 'eight']],
      ['unknown user', ['-u', 'meter-9', '-P', 'seven']],
    ] as const) {
      const refused = await pub([...user], 'devices/meter-7/telemetry', reading(50))
      t.not(refused.code, 0, why)
      t.match(refused.output, /not authori[sz]ed/, `${why}: CONNACK 0x05`)
    }

    const other = await pub(m7, 'devices/meter-8/telemetry', reading(99))
    t.match(other.output, /connection was lost/, "another device's topic: disconnected")
    const sys = await pub(m7, '$SYS/broker/uptime', '1')
    t.match(sys.output, /connection was lost/, '$SYS: disconnected')
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, ...m7, '-t', '#', '-W', '5'])
    t.match(sub.output, /All subscription requests were denied/, '#: SUBACK 0x80')
    t.same(
      (await readings(app.httpPort, 'meter-8')).map((r) => r.seq),
      [1],
      "nothing stored as meter-8's but its own reading",
    )
    t.same(
      (await readings(app.httpPort, 'meter-7')).map((r) => r.seq),
      [1],
    )

    // meter-8 holds client id "shared"; meter-7 may not take it.
    const holder = track(
      spawn('mosquitto_sub', [
        '-h',
        '127.0.0.1',
        '-p',
        port,
        ...m8,
        '-i',
        'shared',
        '-t',
        'devices/meter-8/#',
      ]),
    )
    t.teardown(() => stopChild(holder, 2000))
    let connected = 0
    for (let i = 0; i < 100 && connected === 0; i++) {
      await sleep(100)
      connected = await metric(app.httpPort, 'mqtt_connected_clients')
    }
    t.equal(connected, 1, 'the holder is connected')
    const takeover = await pub(m7, 'devices/meter-7/telemetry', reading(2), ['-i', 'shared'])
    t.match(takeover.output, /not authori[sz]ed/, 'a client id in use by another user: CONNACK 0x05')
    t.equal(holder.exitCode, null, 'the holder stays connected')

    // meter-8 deleted from the file while connected: the watch reloads it and the broker closes it.
    execFileSync(process.execPath, [PASSWD_JS, '-D', file, 'meter-8'])
    t.not(await exitWithin(holder, 10_000), null, "meter-8's subscriber is disconnected")
    t.match((await pub(m8, 'devices/meter-8/telemetry', reading(3))).output, /not authori[sz]ed/)

    const text = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text()
    const count = (action: string) =>
      Number(new RegExp(`^mqtt_auth_denied_total\\{action="${action}"\\} (\\d+)`, 'm').exec(text)?.[1])
    // At least: the three above, the takeover, the deleted user's publish; mosquitto_sub may also try again once cut.
    t.ok(count('connect') >= 5, `connects refused: ${count('connect')}`)
    t.equal(count('publish'), 1)
    t.equal(count('subscribe'), 1)
  },
)

t.test('e2e - SIGHUP reloads the files of a running process, which keeps serving', async (t) => {
  if (!haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  const file = join(tempDir(t), 'passwd')
  execFileSync(process.execPath, [PASSWD_JS, '-c', '-b', file, 'meter-7', 'seven'])
  const app = await spawnApp({ args: ['--password-file', file] })
  t.teardown(() => app.stop())
  const reloaded = new Promise<void>((resolve) =>
    createInterface({ input: app.child.stdout! }).on('line', (line) => {
      if (line.includes('"event":"mqtt_auth_reloaded"')) resolve()
    }),
  )
  process.kill(app.pid, 'SIGHUP')
  await reloaded
  t.pass('reloaded on SIGHUP')
  const ok = await run('mosquitto_pub', [
    ...['-h', '127.0.0.1', '-p', String(app.mqttPort), '-q', '1', '-u', 'meter-7', '-P', 'seven'],
    ...['-t', 'devices/meter-7/telemetry', '-m', reading(1)],
  ])
  t.equal(ok.code, 0, 'and still serves')
})

t.test('e2e - a password file that does not read stops the start, naming the line', async (t) => {
  const file = join(tempDir(t), 'passwd')
  writeFileSync(file, '# devices\nmeter-7:seven\n')
  const child = track(
    spawn(process.execPath, [MAIN_JS, '--mqtt-port', '0', '--http-port', '0', '--password-file', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk))
  t.equal(await exitWithin(child, 30_000), 2)
  t.match(stderr, /line 2: user "meter-7": not a \$6\$ or \$7\$ hash/)
})

/** Mosquitto on a free loopback port with these settings; resolves once it listens. */
async function startMosquittoWith(
  t: { teardown(fn: () => unknown): void },
  dir: string,
  settings: string[],
): Promise<number> {
  const port = await freePort()
  const config = join(dir, 'mosquitto.conf')
  // Run as this user: as root, Mosquitto would switch to user mosquitto, who may not read the temp folder.
  const lines = [`user ${userInfo().username}`, `listener ${port} 127.0.0.1`, ...settings, '']
  writeFileSync(config, lines.join('\n'))
  const mosquitto = track(spawn('mosquitto', ['-c', config], { stdio: 'ignore' }))
  t.teardown(() => stopChild(mosquitto, 5000))
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(!!socket.destroy()))
      socket.once('error', () => resolve(false))
    })
    if (open) return port
    if (mosquitto.exitCode !== null) break
    await sleep(100)
  }
  throw new Error(`mosquitto did not listen on ${port}`)
}

t.test('e2e - Mosquitto itself reads the file npm run passwd writes', async (t) => {
  if (!haveProgram(t, 'mosquitto', 'mosquitto') || !haveProgram(t, 'mosquitto_pub', 'mosquitto-clients'))
    return
  const dir = tempDir(t)
  const file = join(dir, 'passwd')
  execFileSync(process.execPath, [PASSWD_JS, '-c', '-b', file, 'meter-7', 'seven'])
  const port = await startMosquittoWith(t, dir, ['allow_anonymous false', `password_file ${file}`])
  const pub = (password: string) =>
    run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-u', 'meter-7', '-P', password],
      ...['-t', 'a', '-m', 'x'],
    ])
  const ok = await pub('seven')
  t.equal(ok.code, 0, `the right password: ${ok.output}`)
  t.match((await pub('eight')).output, /not authori[sz]ed/, 'a wrong one')
})

t.test(
  'e2e - the same password and ACL files let the same messages through here and in Mosquitto',
  async (t) => {
    if (!haveProgram(t, 'mosquitto', 'mosquitto')) return
    const dir = tempDir(t)
    const passwordFile = join(dir, 'passwd')
    const aclFile = join(dir, 'acl')
    execFileSync(process.execPath, [PASSWD_JS, '-c', '-b', passwordFile, 'writer', 'w'])
    execFileSync(process.execPath, [PASSWD_JS, '-b', passwordFile, 'reader', 'r'])
    const acl = [
      '# anonymous',
      'topic read public/#',
      'user writer',
      'topic write #',
      'topic deny devices/blocked/#',
      'user reader',
      'topic read devices/#',
      'topic deny devices/secret/#',
      'pattern read own/%u/#',
      'pattern write own/%c/out',
    ]
    writeFileSync(aclFile, `${acl.join('\n')}\n`)
    const topics = [
      ...['devices/a/telemetry', 'devices/secret/telemetry', 'devices/blocked/telemetry'],
      ...['own/reader/x', 'own/writer/x', 'own/w-1/out', 'public/news', '$SYS/fake'],
    ]
    // Subscriptions both brokers grant: here each is covered by a read rule.
    const filters = ['devices/#', 'own/reader/#']

    const deliveredBy = async (port: number): Promise<string[]> => {
      const url = `mqtt://127.0.0.1:${port}`
      const reader = await mqtt.connectAsync(url, { username: 'reader', password: 'r', reconnectPeriod: 0 })
      const got: string[] = []
      reader.on('message', (topic) => got.push(topic))
      await reader.subscribeAsync(filters, { qos: 1 })
      for (const topic of topics) {
        // One connection per message: here a refused publish ends the connection.
        const writer = await mqtt.connectAsync(url, {
          username: 'writer',
          password: 'w',
          clientId: 'w-1',
          reconnectPeriod: 0,
        })
        writer.publish(topic, 'x', { qos: 0 })
        await writer.endAsync()
      }
      // A last message both deliver: once it is in, every earlier one would be.
      const last = await mqtt.connectAsync(url, { username: 'writer', password: 'w', reconnectPeriod: 0 })
      await last.publishAsync('devices/zz-last', 'x', { qos: 1 })
      await last.endAsync()
      await until(() => got.includes('devices/zz-last'), 10_000)
      await reader.endAsync()
      return got.filter((topic) => topic !== 'devices/zz-last').sort()
    }

    const mosquittoPort = await startMosquittoWith(t, dir, [
      'allow_anonymous false',
      `password_file ${passwordFile}`,
      `acl_file ${aclFile}`,
    ])
    const app = await startTestApp(t, { passwordFile, aclFile })
    const mosquittoSaw = await deliveredBy(mosquittoPort)
    const weSaw = await deliveredBy(app.mqttPort)
    t.same(mosquittoSaw, ['devices/a/telemetry', 'own/reader/x'], 'Mosquitto delivers what the files allow')
    t.same(weSaw, mosquittoSaw, 'and so do we')
  },
)
