/**
 * Mosquitto's `acl_file` grammar (issue #22, item 3), read as Mosquitto 2.0
 * reads it (src/security_default.c `aclfile__parse`, `add__acl`,
 * `add__acl_pattern`), so that a site's file means the same here:
 *
 *   # a comment: `#` in the first column only
 *   topic [read|write|readwrite|deny] <filter>     no access word: readwrite
 *   user <username>                                the topic lines after it are that user's
 *   pattern [read|write|readwrite|deny] <filter>   for every client; %u is its username, %c its client id
 *
 * Topic lines before the first `user` line are the anonymous clients'.
 * Words are separated by spaces (not tabs); the filter is the rest of the
 * line, so it may hold spaces. A filter must be a valid MQTT filter. Any
 * other line makes the whole file wrong. Within each list, `deny` lines go
 * first, as Mosquitto puts them.
 */

export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule {
  readonly access: Access
  /** As written; a pattern's %u and %c not yet replaced. */
  readonly filter: string
}

export interface AclFile {
  /** Rules of clients without a username. */
  readonly anonymous: readonly AclRule[]
  readonly users: ReadonlyMap<string, readonly AclRule[]>
  readonly patterns: readonly AclRule[]
}

export class AclFileError extends Error {
  override name = 'AclFileError'
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny'])

/** Whether `filter` is a valid MQTT topic filter [MQTT-4.7.1] (Mosquitto's `mosquitto_sub_topic_check`). */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level.includes('+') && level !== '+') return false
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false
  }
  return true
}

/** Deny rules before the others, each group in file order. */
function add(list: AclRule[], rule: AclRule): void {
  if (rule.access !== 'deny') list.push(rule)
  else list.splice(list.findIndex((r) => r.access !== 'deny') >>> 0, 0, rule)
}

/** Splits off the next space-separated word, as strtok_r(" ") does. */
function word(rest: string): [string, string] | null {
  const start = rest.search(/[^ ]/)
  if (start < 0) return null
  const end = rest.indexOf(' ', start)
  return end < 0 ? [rest.slice(start), ''] : [rest.slice(start, end), rest.slice(end + 1)]
}

export function parseAclFile(text: string, name = 'ACL file'): AclFile {
  const anonymous: AclRule[] = []
  const users = new Map<string, AclRule[]>()
  const patterns: AclRule[] = []
  let user: string | null = null
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\s+$/, '')
    const fail = (why: string): never => {
      throw new AclFileError(`${name} line ${i + 1}: ${why}: ${JSON.stringify(line)}`)
    }
    if (line.startsWith('#')) continue
    const first = word(line)
    if (first === null) continue
    const [keyword, rest] = first
    if (keyword === 'user') {
      const username = rest.trim()
      if (username === '') fail('user without a name')
      user = username
    } else if (keyword === 'topic' || keyword === 'pattern') {
      const second = word(rest)
      if (second === null) return fail('no topic')
      const remainder = second[1].trim()
      // One word only: it is the filter, with readwrite access.
      const [accessWord, filter] = remainder === '' ? ['readwrite', second[0]] : [second[0], remainder]
      if (!ACCESS.has(accessWord))
        fail(`access ${JSON.stringify(accessWord)} is not read, write, readwrite or deny`)
      if (!isValidFilter(filter)) fail(`${JSON.stringify(filter)} is not a valid topic filter`)
      const rule = { access: accessWord as Access, filter }
      if (keyword === 'pattern') add(patterns, rule)
      else if (user === null) add(anonymous, rule)
      else {
        const list = users.get(user) ?? []
        users.set(user, list)
        add(list, rule)
      }
    } else {
      fail(`unknown keyword ${JSON.stringify(keyword)} (topic, user or pattern)`)
    }
  }
  return { anonymous, users, patterns }
}
