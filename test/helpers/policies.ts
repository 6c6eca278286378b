/** One rule, `api`: /api/** for any SPIFFE ID of trust domain example.org; the rest is denied. */
export const API_FOR_EXAMPLE_ORG = `
policy:
  rules:
    - name: api
      path: /api/**
      any_of:
        - spiffe:
            trust_domains: [example.org]
`
