/** GroupCommit against a fake commit function: batching, linger, failure isolation. No clocks asserted. */

import t from 'tap'
import { GroupCommit } from '../../../bridge/group-commit.js'
import type { Reading } from '../../../src/core/telemetry.js'

const reading = (seq: number) => ({ seq }) as unknown as Reading

interface Call {
  readonly seqs: number[]
  finish(err?: Error): void
}

function fakeCommit() {
  const calls: Call[] = []
  const commit = (readings: Reading[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ seqs: readings.map((r) => r.seq), finish: (err) => (err ? reject(err) : resolve()) })
    })
  return { calls, commit }
}

t.test('group-commit - items added together commit together, after the linger', async (t) => {
  const { calls, commit } = fakeCommit()
  const gc = new GroupCommit(commit, { lingerMs: 5, minBatch: 100 })
  const done = [gc.add([reading(1)], []), gc.add([reading(2), reading(3)], [])]
  t.equal(calls.length, 0, 'a small batch waits for company')
  await new Promise((r) => setTimeout(r, 50))
  t.same(
    calls.map((c) => c.seqs),
    [[1, 2, 3]],
  )
  calls[0]!.finish()
  await Promise.all(done)
})

t.test('group-commit - a full batch commits at once, and one commit runs at a time', async (t) => {
  const { calls, commit } = fakeCommit()
  const gc = new GroupCommit(commit, { lingerMs: 60_000, minBatch: 2 })
  const first = gc.add([reading(1), reading(2)], [])
  t.same(
    calls.map((c) => c.seqs),
    [[1, 2]],
    'no linger once minBatch is reached',
  )
  const second = gc.add([reading(3), reading(4)], [])
  const third = gc.add([reading(5)], [])
  t.equal(calls.length, 1, 'the next batch waits for the running commit')
  calls[0]!.finish()
  await first
  await new Promise((r) => setImmediate(r))
  t.same(
    calls.map((c) => c.seqs),
    [
      [1, 2],
      [3, 4, 5],
    ],
    'everything that arrived meanwhile goes in one batch',
  )
  calls[1]!.finish()
  await Promise.all([second, third])
})

t.test('group-commit - a failed commit rejects its own batch only', async (t) => {
  const { calls, commit } = fakeCommit()
  const gc = new GroupCommit(commit, { lingerMs: 60_000, minBatch: 1 })
  const failing = gc.add([reading(1)], [])
  const next = gc.add([reading(2)], [])
  calls[0]!.finish(new Error('disk full'))
  await t.rejects(failing, /disk full/)
  await new Promise((r) => setImmediate(r))
  calls[1]!.finish()
  await t.resolves(next)
})

t.test('group-commit - flush commits a lingering batch now and waits for it', async (t) => {
  const { calls, commit } = fakeCommit()
  const gc = new GroupCommit(commit, { lingerMs: 60_000, minBatch: 100 })
  const done = gc.add([reading(1)], [])
  const flushed = gc.flush()
  await new Promise((r) => setImmediate(r))
  t.equal(calls.length, 1, 'flush did not wait out the linger')
  calls[0]!.finish()
  await flushed
  await done
})
