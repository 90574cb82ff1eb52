/**
 * ACL files in Mosquitto's grammar and the default policy, table-driven from
 * test/fixtures/acl.json: each case's client must be allowed exactly what
 * the table allows, and each wrong file must fail on the line named.
 */

import t from 'tap'
import { aclAccess, defaultAccess, type TopicAccess } from '../../../broker/auth-access.js'
import { AclFileError, parseAclFile } from '../../../broker/auth-acl.js'
import { loadFixture } from '../../helpers/fixtures.js'

type Action = 'publish' | 'read' | 'subscribe'
type Topics = Partial<Record<Action, string[]>>

interface AccessCase {
  name: string
  acl: string[] | null
  user: string | null
  clientId: string
  allow: Topics
  deny: Topics
}

const { cases, errors } = loadFixture<{
  cases: AccessCase[]
  errors: Array<{ name: string; acl: string[]; line: number }>
}>('acl.json')

const ask = (access: TopicAccess, action: Action, topic: string): boolean =>
  action === 'publish'
    ? access.canPublish(topic)
    : action === 'read'
      ? access.canRead(topic)
      : access.canSubscribe(topic)

for (const c of cases) {
  t.test(`acl - ${c.name}`, async (t) => {
    const access =
      c.acl === null ? defaultAccess(c.user) : aclAccess(parseAclFile(c.acl.join('\n')), c.user, c.clientId)
    let asked = 0
    for (const [expected, topics] of [
      [true, c.allow],
      [false, c.deny],
    ] as const) {
      for (const [action, list] of Object.entries(topics) as [Action, string[]][]) {
        for (const topic of list) {
          asked++
          t.equal(ask(access, action, topic), expected, `${action} ${JSON.stringify(topic)}`)
        }
      }
    }
    t.ok(asked > 0, 'the case asks something')
  })
}

for (const e of errors) {
  t.test(`acl - refuses a file: ${e.name}`, async (t) => {
    t.throws(() => parseAclFile(e.acl.join('\n'), 'acl'), AclFileError)
    t.throws(() => parseAclFile(e.acl.join('\n'), 'acl'), { message: new RegExp(`^acl line ${e.line}: `) })
  })
}

t.test('acl - a message topic checked for many receivers in turn gives each its own answer', async (t) => {
  // levelsOf() keeps the last topic split: interleaving topics must not mix them up.
  const a = defaultAccess('a')
  const b = defaultAccess('b')
  for (let i = 0; i < 3; i++) {
    t.equal(a.canRead('devices/a/telemetry'), true)
    t.equal(b.canRead('devices/a/telemetry'), false)
    t.equal(b.canRead('devices/b/telemetry'), true)
    t.equal(a.canRead('devices/b/telemetry'), false)
  }
})
