/**
 * The heap spaces a memory breakdown reads from the app's /metrics text.
 */

import t from 'tap'
import { heapSpacesMb } from '../../../bench/probes.js'

t.test('bench - heapSpacesMb reads committed and used MB per V8 space from prom-client text', async (t) => {
  const text = [
    '# HELP nodejs_heap_space_size_total_bytes Process heap space size total from Node.js in bytes.',
    '# TYPE nodejs_heap_space_size_total_bytes gauge',
    'nodejs_heap_space_size_total_bytes{space="new"} 134217728',
    'nodejs_heap_space_size_total_bytes{space="old"} 268435456',
    'nodejs_heap_space_size_total_bytes{space="code_large_object"} 0',
    'nodejs_heap_space_size_used_bytes{space="new"} 1048576',
    'nodejs_heap_space_size_used_bytes{space="old"} 209715200',
    'nodejs_heap_space_size_available_bytes{space="old"} 5',
    'nodejs_heap_size_total_bytes 402653184',
  ].join('\n')
  t.strictSame(
    [...heapSpacesMb(text)],
    [
      ['new', { totalMb: 128, usedMb: 1 }],
      ['old', { totalMb: 256, usedMb: 200 }],
      ['code_large_object', { totalMb: 0, usedMb: 0 }],
    ],
  )
  t.strictSame([...heapSpacesMb('nodejs_heap_size_total_bytes 1\n')], [], 'no space, nothing')
})
