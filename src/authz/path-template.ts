// Path templates for policy rules (`/api/sessions/{session}/**`) and the request-path splitter
// they match against. The processor must judge the same path the upstream will route on, so
// paths that different parsers read differently (dot segments, encoded slashes, backslashes,
// empty segments) are refused outright rather than normalised: Envoy's normalize_path and
// merge_slashes may be off, and the upstream may decode %2F.

/** Longer paths are refused before any matching work (Envoy's default header limit is 60 KiB). */
export const MAX_PATH_BYTES = 8192

export class PathTemplateError extends Error {
  override readonly name = 'PathTemplateError'
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(`invalid path template ${JSON.stringify(template)}: ${message}`)
  }
}

type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'any' } // *
  | { readonly kind: 'rest' } // **, last only

export interface PathTemplate {
  readonly source: string
  readonly params: readonly string[]
  /** Captured parameters (a frozen null-prototype object) or undefined if it does not match. */
  match(segments: readonly string[]): Readonly<Record<string, string>> | undefined
}

const LITERAL = /^[A-Za-z0-9._~!$&'()+,;=:@-]+$/
const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null))

export function compilePathTemplate(template: string): PathTemplate {
  if (!template.startsWith('/')) throw new PathTemplateError(template, 'must start with "/"')
  const segments: Segment[] = []
  const params: string[] = []
  if (template !== '/') {
    const parts = template.slice(1).split('/')
    parts.forEach((part, i) => {
      const where = `segment ${i + 1} (${JSON.stringify(part)})`
      if (part === '') throw new PathTemplateError(template, `${where} is empty`)
      if (part === '**') {
        if (i !== parts.length - 1) {
          throw new PathTemplateError(template, '"**" is only allowed as the last segment')
        }
        segments.push({ kind: 'rest' })
      } else if (part === '*') {
        segments.push({ kind: 'any' })
      } else if (part.startsWith('{') || part.endsWith('}')) {
        const m = PARAM.exec(part)
        if (!m) {
          throw new PathTemplateError(
            template,
            `${where}: expected {name} with name [A-Za-z_][A-Za-z0-9_]*`,
          )
        }
        const name = m[1] as string
        if (params.includes(name))
          throw new PathTemplateError(template, `duplicate parameter {${name}}`)
        params.push(name)
        segments.push({ kind: 'param', name })
      } else {
        if (part === '.' || part === '..')
          throw new PathTemplateError(template, `${where} is a dot segment`)
        if (!LITERAL.test(part)) {
          throw new PathTemplateError(
            template,
            `${where} has characters outside an RFC 3986 segment`,
          )
        }
        segments.push({ kind: 'literal', text: part })
      }
    })
  }
  const hasRest = segments.at(-1)?.kind === 'rest'
  const fixed = hasRest ? segments.length - 1 : segments.length
  return {
    source: template,
    params,
    match(request) {
      if (hasRest ? request.length < fixed : request.length !== fixed) return undefined
      let captured: Record<string, string> | undefined
      for (let i = 0; i < fixed; i++) {
        const seg = segments[i] as Segment
        const value = request[i] as string
        switch (seg.kind) {
          case 'literal':
            if (value !== seg.text) return undefined
            break
          case 'any':
            if (value === '') return undefined
            break
          case 'param':
            if (value === '') return undefined
            captured ??= Object.create(null) as Record<string, string>
            captured[seg.name] = value
            break
          case 'rest':
            break
        }
      }
      return captured === undefined ? NO_PARAMS : Object.freeze(captured)
    },
  }
}

/**
 * Splits Envoy's `:path` into segments: `/a/b?q` -> ['a', 'b']; `/` -> []; a single trailing
 * slash yields a final '' segment (`/a/` -> ['a', '']). Undefined for anything unsafe to match.
 */
export function splitRequestPath(rawPath: string): readonly string[] | undefined {
  if (rawPath.length > MAX_PATH_BYTES || rawPath.charCodeAt(0) !== 0x2f) return undefined
  let end = rawPath.length
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i)
    if (c === 0x3f || c === 0x23) {
      end = i // query or fragment
      break
    }
    if (c < 0x21 || c === 0x7f || c === 0x5c) return undefined // controls, space, backslash
    if (c === 0x25) {
      // %2e ('.'), %2f ('/'), %5c ('\') change how the path splits once decoded.
      const h = rawPath.slice(i + 1, i + 3).toLowerCase()
      if (h === '2e' || h === '2f' || h === '5c') return undefined
    }
  }
  if (end === 1) return []
  const parts = rawPath.slice(1, end).split('/')
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string
    if (p === '.' || p === '..') return undefined
    if (p === '' && i !== parts.length - 1) return undefined // '//' inside the path
  }
  return parts
}
