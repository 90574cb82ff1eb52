/**
 * The password and ACL files reloaded while devices are connected (issue
 * #22): by reload() (what SIGHUP calls) and by the file watch, including a
 * file replaced by a rename as editors save; a broken file keeps the rules
 * in force.
 */

import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectAs, passwordFileText, startAuthBroker } from '../helpers/broker-auth.js'

const USERS = { 'meter-7': 'seven', 'meter-8': 'eight' }

const closedWithin = (client: MqttClient, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    client.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

t.test('reload - a user removed from the file is disconnected and refused from then on', async (t) => {
  const { broker, security, passwordFile, logLines } = await startAuthBroker(t, { users: USERS })
  const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
  const m8 = (await connectAs(broker.port, { username: 'meter-8', password: 'eight' })) as MqttClient
  const m7Closed = closedWithin(m7, 5000)
  // meter-8's entry stays as it was: a new entry, even for the same password, would end its connection too.
  const kept = readFileSync(passwordFile, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('meter-7:'))
  writeFileSync(passwordFile, kept.join('\n'))
  t.equal(security.reload(), true)
  t.ok(await m7Closed, 'the removed user is disconnected')
  t.ok(m8.connected, 'the other stays')
  t.equal(await connectAs(broker.port, { username: 'meter-7', password: 'seven' }), 5, 'and is refused')
  t.match(
    logLines.filter((l) => l.event === 'mqtt_client_revoked'),
    [{ user: 'meter-7' }],
  )
  m7.end(true)
  await m8.endAsync()
})

t.test('reload - a new password ends the connections made with the old one', async (t) => {
  const { broker, security, passwordFile } = await startAuthBroker(t, { users: USERS })
  const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
  const closed = closedWithin(m7, 5000)
  writeFileSync(passwordFile, await passwordFileText({ ...USERS, 'meter-7': 'SEVEN' }))
  security.reload()
  t.ok(await closed)
  t.equal(await connectAs(broker.port, { username: 'meter-7', password: 'seven' }), 5, 'old password refused')
  const again = await connectAs(broker.port, { username: 'meter-7', password: 'SEVEN' })
  t.type(again, 'object', 'new password served')
  m7.end(true)
  await (again as MqttClient).endAsync()
})

t.test('reload - a file replaced by a rename is picked up by the watch', async (t) => {
  const { broker, security, passwordFile } = await startAuthBroker(t, { users: USERS })
  security.watch()
  const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
  const closed = closedWithin(m7, 10_000)
  writeFileSync(`${passwordFile}.new`, await passwordFileText({ 'meter-8': 'eight' }))
  renameSync(`${passwordFile}.new`, passwordFile)
  t.ok(await closed, 'disconnected without a SIGHUP')
  m7.end(true)
})

t.test(
  'reload - a Kubernetes-style secret update (a swapped ..data link) is picked up; other changes are not',
  async (t) => {
    const { broker, security, dir, passwordFile, logLines } = await startAuthBroker(t, { users: USERS })
    security.watch()
    const text = readFileSync(passwordFile, 'utf8')
    // dir/passwd -> ..data/passwd, ..data -> ..v1: as the kubelet lays out a mounted secret.
    mkdirSync(join(dir, '..v1'))
    writeFileSync(join(dir, '..v1', 'passwd'), text)
    symlinkSync('..v1', join(dir, '..data'))
    symlinkSync(join('..data', 'passwd'), join(dir, 'passwd.link'))
    renameSync(join(dir, 'passwd.link'), passwordFile)
    writeFileSync(join(dir, 'unrelated'), 'x')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const reloads = () => logLines.filter((l) => l.event === 'mqtt_auth_reloaded').length
    t.equal(reloads(), 0, 'the same text: no reload')
    const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
    const closed = closedWithin(m7, 10_000)
    mkdirSync(join(dir, '..v2'))
    const kept = text.split('\n').filter((line) => !line.startsWith('meter-7:'))
    writeFileSync(join(dir, '..v2', 'passwd'), kept.join('\n'))
    symlinkSync('..v2', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    t.ok(await closed, 'the link swap reloads, and the removed user is disconnected')
    t.equal(reloads(), 1)
    m7.end(true)
  },
)

t.test('reload - a broken file keeps the rules in force and says so', async (t) => {
  const { broker, security, passwordFile, aclFile, logLines } = await startAuthBroker(t, {
    users: USERS,
    acl: ['user meter-7', 'topic write devices/meter-7/telemetry'],
  })
  const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
  writeFileSync(aclFile, 'user meter-7\ntopic writ devices/#\n')
  t.equal(security.reload(), false)
  writeFileSync(passwordFile, 'meter-7:plaintext\n')
  t.equal(security.reload(), false)
  t.match(
    logLines.filter((l) => l.event === 'mqtt_auth_reload_failed'),
    [{ err: /line 2/ }, { err: /line 1/ }],
  )
  await m7.publishAsync('devices/meter-7/telemetry', 'x', { qos: 1 })
  t.ok(m7.connected, 'still connected and publishing')
  const again = await connectAs(broker.port, { username: 'meter-8', password: 'eight' })
  t.type(again, 'object', 'the old password file still serves')
  m7.end(true)
  await (again as MqttClient).endAsync()
})

t.test('reload - new ACLs apply to connected clients at once', async (t) => {
  const { broker, security, aclFile, denied } = await startAuthBroker(t, {
    users: USERS,
    acl: ['user meter-7', 'topic write devices/#'],
  })
  const m7 = (await connectAs(broker.port, { username: 'meter-7', password: 'seven' })) as MqttClient
  await m7.publishAsync('devices/meter-8/telemetry', 'x', { qos: 1 })
  writeFileSync(aclFile, 'user meter-7\ntopic write devices/meter-7/telemetry\n')
  t.equal(security.reload(), true)
  t.ok(m7.connected, 'an ACL change alone disconnects no one')
  const closed = closedWithin(m7, 5000)
  m7.publish('devices/meter-8/telemetry', 'x', { qos: 1 })
  t.ok(await closed, 'the publish the new rules refuse disconnects it')
  t.same(denied, ['publish'])
  m7.end(true)
})
