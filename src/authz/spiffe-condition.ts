import { z } from 'zod'
import {
  isValidTrustDomain,
  matchesSpiffeId,
  parseSpiffeId,
  type SpiffeIdMatcher,
} from '../identity/spiffe-id.js'
import { AuthzError } from '../shared/errors.js'
import { defineConditionKind } from './condition-kind.js'
import type { Condition, ConditionOutcome, EvalContext } from './conditions.js'

const spiffeIdString = z
  .string()
  .describe('A SPIFFE ID, e.g. spiffe://example.org/ns/prod/sa/api')
  .superRefine((value, ctx) => {
    const parsed = parseSpiffeId(value)
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid SPIFFE ID: ${parsed.error}` })
  })

const trustDomainString = z
  .string()
  .describe('A SPIFFE trust domain name, e.g. example.org')
  .refine(isValidTrustDomain, { message: 'invalid trust domain: expected lowercase [a-z0-9._-]' })

// A workload's SPIFFE ID has a path (X509-SVID.md §2): the bare trust domain ID names no workload.
const workloadIdString = spiffeIdString.refine((v) => !/^spiffe:\/\/[^/]*$/.test(v), {
  message: 'a workload SPIFFE ID has a path (use trust_domains for a whole trust domain)',
})

export const SpiffeConditionSchema = z
  .strictObject({
    ids: z.array(workloadIdString).optional().describe('Exact SPIFFE IDs allowed.'),
    prefixes: z
      .array(spiffeIdString)
      .optional()
      .describe(
        'SPIFFE ID prefixes, matched segment by segment: spiffe://td/ns/prod matches ' +
          'spiffe://td/ns/prod/sa/x but not spiffe://td/ns/production.',
      ),
    trust_domains: z
      .array(trustDomainString)
      .optional()
      .describe('Any SPIFFE ID in these trust domains.'),
  })
  .refine(
    (c) => (c.ids?.length ?? 0) + (c.prefixes?.length ?? 0) + (c.trust_domains?.length ?? 0) > 0,
    {
      message: 'a spiffe condition needs at least one of ids, prefixes, trust_domains',
    },
  )
  .describe('The peer SPIFFE ID (from Envoy or XFCC) must match one of these.')

type SpiffeConditionConfig = z.output<typeof SpiffeConditionSchema>

const OK: ConditionOutcome = { ok: true }

/** The peer SPIFFE ID (verified by the transport or taken from XFCC) matches one of these. */
export class SpiffeCondition implements Condition {
  readonly kind = 'spiffe'
  readonly credential = undefined

  constructor(private readonly matchers: readonly SpiffeIdMatcher[]) {}

  evaluate({ facts }: EvalContext): ConditionOutcome {
    const peer = facts.peer
    if (peer === undefined) {
      return { ok: false, reason: 'identity_missing', detail: 'no valid peer SPIFFE ID' }
    }
    for (const m of this.matchers) if (matchesSpiffeId(peer, m)) return OK
    // The peer is logged in its own field; details stay fixed texts.
    return { ok: false, reason: 'identity_not_allowed', detail: 'peer SPIFFE ID is not allowed' }
  }
}

function spiffeMatchers(c: SpiffeConditionConfig): SpiffeIdMatcher[] {
  return [
    ...(c.ids ?? []).map((id): SpiffeIdMatcher => ({ kind: 'exact', id })),
    ...(c.prefixes ?? []).map((prefix): SpiffeIdMatcher => ({ kind: 'prefix', prefix })),
    ...(c.trust_domains ?? []).map(
      (trustDomain): SpiffeIdMatcher => ({ kind: 'trust_domain', trustDomain }),
    ),
  ]
}

/** `spiffe`: the peer's identity; needs no credential beyond the request facts. */
export const spiffeCondition = defineConditionKind({
  name: 'spiffe',
  schema: SpiffeConditionSchema,
  compile(config) {
    const matchers = spiffeMatchers(config)
    if (matchers.length === 0)
      throw new AuthzError(
        'ERR_POLICY_UNCOMPILABLE',
        'a spiffe condition needs at least one matcher',
      )
    return new SpiffeCondition(matchers)
  },
})
