/**
 * The rows of the option table (options.ts) for device identity and topic
 * ACLs on the MQTT side (issue #22; docs/security.md).
 */

import { type Option, TEXT } from './option-row.js'

export const SECURITY_OPTIONS = {
  'password-file': {
    key: 'passwordFile',
    schema: TEXT,
    readable: true,
    description:
      "MQTT users and password hashes in Mosquitto's `password_file` format (`mosquitto_passwd`, or `npm run passwd`); clients must then give a listed username and its password, and anonymous ones get CONNACK 0x05 unless `--allow-anonymous true`. Reloaded on SIGHUP and when the file changes: see [security.md](security.md)",
  },
  'acl-file': {
    key: 'aclFile',
    schema: TEXT,
    readable: true,
    description:
      "which topics each MQTT user may publish to (`write`) and receive (`read`), in Mosquitto's `acl_file` format. Without it and with `--password-file`, a device publishes only to `devices/{username}/telemetry` and reads only under `devices/{username}/`. Reloaded like `--password-file`",
  },
  'allow-anonymous': {
    key: 'allowAnonymous',
    schema: { type: 'boolean' },
    defaultText: '`true` without `--password-file`, `false` with it',
    description:
      'serve MQTT clients that give no username; they get the anonymous rules of `--acl-file` (none without one)',
  },
} as const satisfies Record<string, Option>
