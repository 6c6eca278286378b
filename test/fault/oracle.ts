// An oracle for the fixed fault-test policy (fixture.ts), written out by hand instead of calling
// the project's authorize(): a bug shared by the server and its own evaluator would otherwise
// pass unseen. It knows only what the test world says is in force.

export type Verdict = 'allow' | 'deny' | 'either'

/** Where a runner key stands: in the keyring, out of it, or being swapped (either is fine). */
export type KeyState = 'in' | 'out' | 'changing'

export interface Probe {
  readonly kind: string
  readonly path: string
  /** The downstream peer SPIFFE ID Envoy would send as connection.uri_san_peer_certificate. */
  readonly peer?: string
  /** A bearer token and what it really is: encrypted to key `key` over `session`, or garbage. */
  readonly token?: { readonly value: string; readonly key?: string; readonly session?: string }
}

export interface World {
  /** Runner keys by label (A, B, ...); a label not listed was never in the keyring. */
  readonly keys: Map<string, KeyState>
  /** 'v2' adds a public /open/** rule; 'changing' while a new config is being applied. */
  policy: 'v1' | 'v2' | 'changing'
  /** Bumped on every change, so an answer that straddles a change is judged leniently. */
  epoch: number
}

const TRUST_DOMAIN = 'spiffe://example.org/'

function tokenVerdict(p: Probe, pathSession: string, world: World): Verdict {
  const t = p.token
  if (t?.key === undefined || t.session !== pathSession) return 'deny'
  const state = world.keys.get(t.key) ?? 'out'
  return state === 'in' ? 'allow' : state === 'out' ? 'deny' : 'either'
}

function openVerdict(world: World): Verdict {
  return world.policy === 'v2' ? 'allow' : world.policy === 'v1' ? 'deny' : 'either'
}

/**
 * The policy: /healthz public; /api/admin/** denied; /api/sessions/{s}/** needs a runner token
 * for s; /api/** needs a peer in example.org; (v2 only) /open/** public; anything else denied.
 */
export function expected(p: Probe, world: World): Verdict {
  const segments = p.path.split('?')[0]?.split('/') ?? []
  if (p.path === '/healthz') return 'allow'
  if (segments[1] === 'open') return openVerdict(world)
  if (segments[1] !== 'api') return 'deny'
  if (segments[2] === 'admin') return 'deny'
  if (segments[2] === 'sessions' && segments.length >= 5 && segments[3] !== '') {
    return tokenVerdict(p, segments[3] as string, world)
  }
  return p.peer?.startsWith(TRUST_DOMAIN) === true && p.peer.length > TRUST_DOMAIN.length
    ? 'allow'
    : 'deny'
}

/** Judged over the whole life of a stream: a verdict that changed meanwhile allows either. */
export function combine(atStart: Verdict, atEnd: Verdict): Verdict {
  return atStart === atEnd ? atStart : 'either'
}
