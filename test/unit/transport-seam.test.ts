import assert from 'node:assert/strict'
import { test } from 'node:test'
import { edges, importGraph } from '../helpers/import-graph.js'

// app/ reaches the transports through one door (transport/transport.ts), and each transport's
// folder stands alone: http2/ and grpc-js/ share only what transport/ holds.
const graph = importGraph()
const DOOR = 'transport/transport.ts'
const named = (pairs: Array<[string, string]>) => pairs.map(([from, to]) => `${from} -> ${to}`)

test('app/ imports from transport/ only transport/transport.ts', () => {
  const reached = edges(graph, (f) => f.startsWith('app/')).filter(([, to]) =>
    to.startsWith('transport/'),
  )
  assert.ok(reached.length > 0, 'app/ starts a transport')
  assert.deepEqual(named(reached.filter(([, to]) => to !== DOOR)), [])
})

test('outside transport/, nothing imports a transport file but transport/transport.ts', () => {
  const outside = edges(graph, (f) => !f.startsWith('transport/')).filter(
    ([, to]) => to.startsWith('transport/') && to !== DOOR,
  )
  assert.deepEqual(named(outside), [])
})

test('the http2/ and grpc-js/ transports do not import each other', () => {
  const crossing = (['http2', 'grpc-js'] as const).flatMap((kind) => {
    const other = kind === 'http2' ? 'transport/grpc-js/' : 'transport/http2/'
    return edges(graph, (f) => f.startsWith(`transport/${kind}/`)).filter(([, to]) =>
      to.startsWith(other),
    )
  })
  assert.deepEqual(named(crossing), [])
})
