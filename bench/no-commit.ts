/**
 * A diagnostic for bench:fleet, run instead of dist/src/main.js: the app
 * with a store whose commits resolve at once, without DuckDB, so nothing is
 * stored; every other call reaches the real store. The same load with and
 * without it says how much of the publish-to-PUBACK latency is the store's
 * commits (the hop to the worker thread, appending to DuckDB, its WAL and
 * fsync), and how much is everything else (MQTT, the bridge, the feature
 * engine, garbage collection).
 */

import { pathToFileURL } from 'node:url'
import type { AppStore } from '../src/app.js'
import { exitOnFailure, main } from '../src/main.js'
import { type StoreOptions, WorkerStore } from '../src/store/index.js'

/** The store with commits answered at once, and nothing committed. */
export async function openNoCommitStore(dataDir: string, options: StoreOptions): Promise<AppStore> {
  const store = await WorkerStore.open(dataDir, options)
  return new Proxy(store, {
    get(target, property) {
      if (property === 'commit') return async () => undefined
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) exitOnFailure(main(openNoCommitStore))
