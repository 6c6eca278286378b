/** One problem check-envoy reports, with the path of the offending field in the bootstrap. */
export interface Finding {
  readonly severity: 'error' | 'warning'
  /** Dotted path as written in the file, e.g. `static_resources.listeners[0].name`. */
  readonly path: string
  readonly message: string
  /** Stable id, e.g. `proto-unknown-field`, `ext-proc-failure-mode-allow`. */
  readonly rule: string
}

export class Findings {
  readonly list: Finding[] = []
  error(path: string, rule: string, message: string): void {
    this.list.push({ severity: 'error', path, message, rule })
  }
  warning(path: string, rule: string, message: string): void {
    this.list.push({ severity: 'warning', path, message, rule })
  }
}

/** `a.b` / `a[0]` / `a["x.y"]`: keys that are not plain identifiers are quoted. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`
  if (/^[A-Za-z_@][A-Za-z0-9_]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`
  return `${parent}[${JSON.stringify(key)}]`
}
