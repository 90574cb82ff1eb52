/**
 * A publisher never waits on another client's delivery (issue #21, item 5).
 *
 * Why it did: Aedes handles a connection's packets one read at a time, and
 * reads again only when every packet of the last read is done
 * (`_nextBatch` in node_modules/aedes/lib/client.js). A PUBLISH is done when
 * `broker.publish` calls back, which is when mqemitter has heard back from
 * every subscriber's deliver function, which is when the subscriber's socket
 * has taken the bytes: a full socket waits for 'drain' (`waitForDrain`), up
 * to `drainTimeout`, 60 s by default. Meanwhile the publisher's next PUBLISH
 * is not even read, so its PUBACK waits; and once `concurrency` (100)
 * messages wait so, mqemitter queues every other publisher's too.
 *
 *   publisher ─▶ authorizePublish ─▶ PUBACK ─▶ broker.publish ─▶ mqemitter ─▶ deliver(subscriber) ─▶ socket full: wait for drain
 *        ▲                                                                                                        │
 *        └──────────────────── next read only when all of it has called back ◀────────────────────────────────────┘
 *
 * Here each deliver function Aedes subscribes (`aedes.subscribe`, documented,
 * the path of every SUBSCRIBE and every restored session) calls back at once
 * and writes on its own. What a subscriber has not read then waits in its
 * own socket, bounded two ways: Aedes's `drainTimeout` (our
 * `slowClientTimeoutMs`) disconnects a client whose full socket does not
 * drain in time, and `authorizeForward` (documented, run before each
 * delivery) disconnects one holding more than `maxQueuedBytesPerClient`.
 */

import type { Aedes, AedesOptions } from 'aedes'

type Deliver = Parameters<Aedes['subscribe']>[1]
type AuthorizeForward = NonNullable<AedesOptions['authorizeForward']>

/** The message Aedes destroys a socket with on `drainTimeout` (lib/client.js `_handleDrainTimeout`). */
export const DRAIN_TIMEOUT_MESSAGE = 'drain timeout'

/** One decoupled function per deliver function, so that unsubscribe finds what subscribe added. */
const decoupled = new WeakMap<Deliver, Deliver>()

function decouple(deliver: Deliver): Deliver {
  let d = decoupled.get(deliver)
  if (d === undefined) {
    d = (packet, callback) => {
      // Aedes's deliver functions report their own write errors (client.js
      // deliver0/writeQoS) and call back without one: nothing to pass on.
      deliver(packet, noop)
      callback()
    }
    decoupled.set(deliver, d)
  }
  return d
}

/** Makes `aedes.publish` call back without waiting for any subscriber's socket. */
export function decoupleDelivery(aedes: Aedes): void {
  const subscribe = aedes.subscribe.bind(aedes)
  const unsubscribe = aedes.unsubscribe.bind(aedes)
  aedes.subscribe = (topic, deliver, done) => subscribe(topic, decouple(deliver), done)
  aedes.unsubscribe = (topic, deliver, done) => unsubscribe(topic, decouple(deliver), done)
}

/**
 * An `authorizeForward` handler that drops, and disconnects, a client with
 * more than `maxQueuedBytes` waiting in its socket (0: no bound).
 */
export function queueBound(maxQueuedBytes: number, onFull: () => void): AuthorizeForward {
  return (client, packet) => {
    const conn = client.conn
    if (maxQueuedBytes <= 0 || conn.writableLength <= maxQueuedBytes) return packet
    if (!conn.destroyed) {
      onFull()
      conn.destroy()
    }
    return null
  }
}

function noop(): void {}
