import { parseArgs } from 'node:util'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { authorize } from '../authz/authorize.js'
import type { Decision } from '../authz/decision.js'
import { REASONS } from '../authz/reasons.js'
import { ConfigError, problemsFromZod } from '../config/errors.js'
import { firstLine } from '../config/load-config.js'
import { buildRequestFacts, PEER_URI_SAN_ATTRIBUTE } from '../extproc/build-request-facts.js'
import type { AttributeValue, HeaderField } from '../extproc/codec/processing-request.js'
import {
  RUNNER_TOKEN_CREDENTIAL,
  type RunnerCredentialResolver,
} from '../tokens/runner-credential.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './command.js'
import { type LoadedForCheck, loadForCheck } from './load-for-check.js'
import { readInputFile } from './read-input.js'

const RequestSchema = z.strictObject({
  method: z.string().default('GET'),
  path: z.string(),
  host: z.string().default('localhost'),
  headers: z.record(z.string(), z.string()).default({}),
  peer: z.string().optional().describe('Peer SPIFFE ID (Envoy attribute, or XFCC when enabled).'),
  session: z.string().optional().describe('A runner session id, taken as a valid token.'),
  token: z.string().optional().describe('A runner token, decrypted with the configured keys.'),
})
const CasesSchema = z.strictObject({
  cases: z.array(
    z.strictObject({
      name: z.string(),
      request: RequestSchema,
      expect: z.strictObject({
        decision: z.enum(['allow', 'deny']),
        rule: z.string().optional(),
        reason: z.string().optional(),
        status: z.int().optional(),
      }),
    }),
  ),
})
type RequestDescription = z.output<typeof RequestSchema>
type Cases = z.output<typeof CasesSchema>

interface Outcome {
  readonly decision: 'allow' | 'deny'
  readonly rule: string | undefined
  readonly reason: string
  readonly status: number
}

/** Evaluates one description with the server's own fact building and authorize(). */
async function evaluateRequest(loaded: LoadedForCheck, req: RequestDescription): Promise<Outcome> {
  const { snapshot } = loaded
  const headers: HeaderField[] = [
    { name: ':method', value: req.method },
    { name: ':path', value: req.path },
    { name: ':authority', value: req.host },
    ...Object.entries(req.headers).map(([name, value]) => ({ name: name.toLowerCase(), value })),
  ]
  if (req.token !== undefined) headers.push({ name: 'authorization', value: `Bearer ${req.token}` })
  if (req.session !== undefined && req.token === undefined)
    headers.push({ name: 'authorization', value: 'Bearer <session>' })
  const attributes = new Map<string, AttributeValue>()
  if (req.peer !== undefined) {
    if (snapshot.identity.xfcc)
      headers.push({ name: 'x-forwarded-client-cert', value: `URI=${req.peer}` })
    else attributes.set(PEER_URI_SAN_ATTRIBUTE, req.peer)
  }
  const built = buildRequestFacts(headers, attributes, snapshot.identity)
  let decision: Decision
  if (!built.ok) {
    decision = { allow: false, rule: undefined, reason: 'request_malformed', detail: built.detail }
  } else {
    const real = loaded.snapshot.deps.credentials
    // --session stands in for a token: the runner-token credential resolves to that session.
    const session: RunnerCredentialResolver = {
      resolve: () => ({ state: 'valid', sessionId: req.session as string, keyId: 'policy-test' }),
    }
    const credentials =
      req.session !== undefined ? { ...real, [RUNNER_TOKEN_CREDENTIAL.name]: session } : real
    decision = await authorize(built.facts, snapshot.policy, { credentials })
  }
  return decision.allow
    ? { decision: 'allow', rule: decision.rule, reason: decision.reason, status: 200 }
    : {
        decision: 'deny',
        rule: decision.rule,
        reason: decision.reason,
        status: REASONS[decision.reason].status,
      }
}

function headerFlag(h: string): [string, string] {
  const i = h.indexOf('=')
  if (i <= 0) {
    throw new UsageError(`expected name=value, found ${JSON.stringify(h)}`, { flag: '--header' })
  }
  return [h.slice(0, i), h.slice(i + 1)]
}

/** The cases file is input: unreadable, not YAML or not cases is exit 2 (1 is a failed case). */
async function readCases(file: string): Promise<Cases> {
  const text = (await readInputFile(file)).toString('utf8')
  const doc = parseDocument(text, { uniqueKeys: true })
  const [yamlError] = doc.errors
  if (yamlError !== undefined) {
    throw new ConfigError(file, [{ path: '', message: `YAML: ${firstLine(yamlError.message)}` }], {
      exitCode: EXIT_USAGE,
      what: 'cases file',
    })
  }
  const parsed = CasesSchema.safeParse(doc.toJS({ maxAliasCount: 100 }) ?? {}, {
    reportInput: true,
  })
  if (!parsed.success) {
    throw new ConfigError(file, problemsFromZod(parsed.error), {
      exitCode: EXIT_USAGE,
      what: 'cases file',
    })
  }
  return parsed.data
}

function show(o: Outcome): string {
  return `${o.decision} rule=${o.rule ?? '-'} reason=${o.reason} status=${o.status}`
}

export async function run(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'test') throw new UsageError(`unknown subcommand '${sub ?? ''}'`)
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      path: { type: 'string' },
      method: { type: 'string' },
      host: { type: 'string' },
      peer: { type: 'string' },
      session: { type: 'string' },
      token: { type: 'string' },
      header: { type: 'string', multiple: true },
    },
    allowPositionals: true,
  })
  const [configFile, casesFile] = positionals
  if (configFile === undefined || positionals.length > 2)
    throw new UsageError('expected CONFIG [CASES.yaml]')
  if (casesFile === undefined && values.path === undefined) {
    throw new UsageError('give a CASES.yaml file or --path')
  }
  // The cases first: a missing or malformed file is found before any key is loaded.
  const cases = casesFile === undefined ? undefined : await readCases(casesFile)
  const loaded = await loadForCheck(configFile)
  try {
    if (cases === undefined) {
      const req = RequestSchema.safeParse(
        {
          path: values.path,
          method: values.method,
          host: values.host,
          peer: values.peer,
          session: values.session,
          token: values.token,
          headers: Object.fromEntries((values.header ?? []).map(headerFlag)),
        },
        { reportInput: true },
      )
      if (!req.success) {
        const [problem] = problemsFromZod(req.error)
        throw new UsageError(problem?.message ?? 'invalid request', {
          flag: `--${problem?.path.split(/[.[]/)[0] ?? 'path'}`,
        })
      }
      process.stdout.write(`${show(await evaluateRequest(loaded, req.data))}\n`)
      return EXIT_OK
    }
    const parsed = { data: cases }
    let failed = 0
    for (const c of parsed.data.cases) {
      const got = await evaluateRequest(loaded, c.request)
      const e = c.expect
      const mismatches = [
        e.decision !== got.decision && `decision ${e.decision}`,
        e.rule !== undefined && e.rule !== got.rule && `rule ${e.rule}`,
        e.reason !== undefined && e.reason !== got.reason && `reason ${e.reason}`,
        e.status !== undefined && e.status !== got.status && `status ${e.status}`,
      ].filter((m): m is string => typeof m === 'string')
      if (mismatches.length === 0) process.stdout.write(`PASS ${c.name}: ${show(got)}\n`)
      else {
        failed++
        process.stdout.write(
          `FAIL ${c.name}: expected ${mismatches.join(', ')}; got ${show(got)}\n`,
        )
      }
    }
    const total = parsed.data.cases.length
    process.stdout.write(`policy test: ${total - failed} of ${total} cases as expected\n`)
    return failed === 0 ? EXIT_OK : EXIT_FAILURE
  } finally {
    loaded.credentials?.close()
  }
}
