/** DeadLetterBudget's caps, on given clocks (pure logic): per device, bytes a second for all, total size. */

import t from 'tap'
import { DEFAULT_DEAD_LETTER_LIMITS, DeadLetterBudget } from '../../../bridge/dead-letter-budget.js'

const limits = { ...DEFAULT_DEAD_LETTER_LIMITS, perDevicePerMinute: 60, maxBytesPerSecond: 1_000_000 }

t.test(
  'dead-letter budget - many device ids together keep at most a second of bytes, then the rate',
  async (t) => {
    const budget = new DeadLetterBudget(limits, 0, 0)
    // The soak's flood: 200 KB letters, each from another device id (issue 21).
    const at = (ms: number, n: number) =>
      Array.from({ length: n }, (_, i) => budget.admit(`junk-${ms}-${i}`, 200_000, ms))
    t.same(at(0, 6), [null, null, null, null, null, 'byte_rate'], "a second's worth, and one over it")
    t.same(at(100, 2), [null, 'byte_rate'], 'a letter once the bucket holds anything, which puts it in debt')
    t.same(at(150, 1), ['byte_rate'], 'still in debt 50 ms later')
    let kept = 0
    for (let ms = 1000; ms < 11_000; ms += 20) kept += at(ms, 1).filter((cap) => cap === null).length
    // 1 MB/s for 10 s, plus at most the second's worth the bucket held, plus the letter that goes into debt.
    t.ok(kept >= 50 && kept <= 56, `10 s at 10 MB/s offered: ${kept} of 500 kept, about 1 MB/s`)
  },
)

t.test(
  'dead-letter budget - a letter larger than a second of bytes is kept, then the rest wait',
  async (t) => {
    const budget = new DeadLetterBudget({ ...limits, maxBytesPerSecond: 1000 }, 0, 0)
    t.equal(budget.admit('a', 5000, 0), null)
    t.equal(budget.admit('b', 10, 3000), 'byte_rate', 'the debt of 4 s is paid at 4 s')
    t.equal(budget.admit('b', 10, 4001), null)
  },
)

t.test(
  'dead-letter budget - 0 bytes a second is no bound; a refusal for one cap takes nothing of another',
  async (t) => {
    const unbounded = new DeadLetterBudget({ ...limits, maxBytesPerSecond: 0 }, 0, 0)
    for (let i = 0; i < 100; i++) t.equal(unbounded.admit(`d${i}`, 1_000_000, 0), null)

    const budget = new DeadLetterBudget({ ...limits, perDevicePerMinute: 1, maxTotalBytes: 1500 }, 0, 0)
    t.equal(budget.admit('a', 1000, 0), null)
    t.equal(budget.admit('a', 1000, 0), 'rate', 'the device took its one')
    t.equal(budget.admit('b', 1000, 0), 'size', 'over the total')
    t.equal(budget.admit('c', 500, 0), null, 'the refusals took no bytes')
  },
)
