import { parseConfig } from './load-config.js'
import type { Config } from './schema.js'

/**
 * What `extproc-authz serve` runs without --config (and `make run` serves): plaintext on
 * loopback for local development, a public health route, and /api/** for any SPIFFE ID in
 * example.org. Everything else is denied.
 */
const DEFAULT_CONFIG_YAML = `\
listen: 127.0.0.1:50051
policy:
  rules:
    - name: healthz
      methods: [GET]
      path: /healthz
      public: true
    - name: api
      path: /api/**
      any_of:
        - spiffe:
            trust_domains: [example.org]
`

export const DEFAULT_CONFIG_SOURCE = '<embedded default>'

export function defaultConfig(): Config {
  return parseConfig(DEFAULT_CONFIG_YAML, DEFAULT_CONFIG_SOURCE)
}
