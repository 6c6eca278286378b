import { z } from 'zod'
import { DEFAULT_REALM, REALM_PATTERN } from './bearer-challenge.js'

/** 4096-bit RSA ciphertext is 512 bytes, base64 684 chars; JWE adds header, IV, tag and claims. */
const DEFAULT_MAX_TOKEN_BYTES = 4096

export const RunnerTokenConditionSchema = z
  .strictObject({
    session_param: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional()
      .describe(
        'Path template parameter the token session id must equal (e.g. session for ' +
          '/api/sessions/{session}/**). Omitted: any valid token passes.',
      ),
  })
  .describe('A runner token (Authorization: Bearer) that decrypts to a valid session id.')

export const RunnerTokensSchema = z
  .strictObject({
    private_keys: z
      .array(z.string().min(1))
      .min(1)
      .describe(
        'PEM private key files (PKCS#8 or PKCS#1) or JWKS files of RSA private JWKs (RSA >= 2048 bits). The first is the current ' +
          'key; the others are previous keys still accepted during a rotation.',
      ),
    generate_if_missing: z
      .boolean()
      .default(false)
      .describe('Create a 4096-bit current key (mode 0600) on first start if its file is missing.'),
    realm: z
      .string()
      .regex(REALM_PATTERN, 'expected 1-128 printable ASCII characters')
      .default(DEFAULT_REALM)
      .describe(
        'The realm of the WWW-Authenticate: Bearer challenge on 401s of runner-token rules ' +
          '(RFC 6750: error="invalid_token" for every unusable token, no error when none was sent).',
      ),
    max_token_bytes: z
      .int()
      .min(512)
      .max(65536)
      .default(DEFAULT_MAX_TOKEN_BYTES)
      .describe('Longer bearer tokens are refused before any crypto (token_invalid).'),
    session_id: z
      .strictObject({
        pattern: z
          .string()
          .default('^[A-Za-z0-9][A-Za-z0-9._-]*$')
          .refine((p) => {
            try {
              new RegExp(p)
              return true
            } catch {
              return false
            }
          }, 'expected a valid regular expression')
          .describe('A decrypted session id must match this (else 403 session_id_invalid).'),
        max_length: z.int().min(1).max(446).default(128).describe('Maximum session id length.'),
      })
      .prefault({})
      .describe('What a decrypted session id must look like.'),
    jwe: z
      .strictObject({
        session_claim: z.string().min(1).default('sid').describe('Claim holding the session id.'),
        encryptions: z
          .array(z.enum(['A256GCM', 'A128GCM']))
          .min(1)
          .default(['A256GCM', 'A128GCM'])
          .describe(
            'Allowed content encryption ("enc"); the key algorithm is always RSA-OAEP-256.',
          ),
        audience: z.string().optional().describe('Required "aud", if set.'),
        issuer: z.string().optional().describe('Required "iss", if set.'),
        clock_tolerance_seconds: z
          .int()
          .min(0)
          .max(300)
          .default(30)
          .describe('Clock skew allowed when checking "exp" and "nbf".'),
      })
      .prefault({})
      .describe('JWE (compact) runner tokens: RSA-OAEP-256, "exp" required.'),
    cache: z
      .strictObject({
        max_entries: z
          .int()
          .min(1)
          .max(10_000_000)
          .default(100_000)
          .describe('Successful decryptions cached at most; the least recently used goes.'),
        ttl_seconds: z
          .int()
          .min(1)
          .default(300)
          .describe('Successful decryptions are reused this long (never past a JWE exp).'),
        negative_ttl_seconds: z
          .int()
          .min(0)
          .max(300)
          .default(5)
          .describe('Failed tokens are answered from the cache this long (0: not cached).'),
        negative_max_entries: z
          .int()
          .min(1)
          .max(1_000_000)
          .default(10_000)
          .describe('Failed tokens cached at most.'),
      })
      .prefault({})
      .describe('Decryption results, keyed by the SHA-256 of the token (never the token).'),
    max_pending_decryptions: z
      .int()
      .min(1)
      .max(100_000)
      .default(256)
      .describe('Decryptions in flight; beyond this, requests get 503 overloaded at once.'),
    strip_authorization: z
      .boolean()
      .optional()
      .describe(
        'Deprecated spelling of headers.strip_authorization (used when that is not set): the ' +
          'Authorization header is removed from every allowed request, not only runner-token ones.',
      ),
  })
  .describe(
    'Runner tokens: RSA-OAEP-SHA256 encrypted session ids (raw base64) or JWE. A raw token ' +
      'proves knowledge of the public key and a session id, nothing more: see docs/runner-tokens.md.',
  )

export type RunnerTokensConfig = z.output<typeof RunnerTokensSchema>
