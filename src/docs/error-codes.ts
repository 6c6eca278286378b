import { ERROR_CODES, type ErrorCode } from '../shared/error-codes.js'
import { tableCell, tableHeader } from '../shared/markdown-table.js'

/** Where the generated error-code page lives in the repository. */
export const ERROR_CODES_PATH = 'docs/errors.md'

interface ErrorDoc {
  /** The class, or the command or module, that throws it. */
  readonly thrownBy: string
  /** What went wrong. */
  readonly meaning: string
  /** What an operator does about it. */
  readonly fix: string
}

// Keyed by ErrorCode: a code added to ERROR_CODES without a line here does not compile.
const ERROR_DOCS: Record<ErrorCode, ErrorDoc> = {
  ERR_USAGE: {
    thrownBy: '`UsageError` (every command)',
    meaning: 'the command line cannot be run as written: an unknown or missing option, a bad value',
    fix: 'the line names the flag; `extproc-authz COMMAND --help` shows the usage. Exit 2',
  },
  ERR_FILE_UNREADABLE: {
    thrownBy:
      '`FileUnreadableError` (a file named on the command line), `UnreadableBootstrap` (check-envoy), `ConfigError` (a config file that cannot be read or is too large)',
    meaning: 'an input file cannot be read, or is too large, or is not YAML/JSON at all',
    fix: 'the hint says why (no such file, permission denied, a directory). Exit 2',
  },
  ERR_FILE_TOO_LARGE: {
    thrownBy: 'commands that read a file named on the command line (`--public-key`, `policy test`)',
    meaning: 'the file is larger than any input of its kind',
    fix: 'name the file itself, not an archive or a bundle of files. Exit 2',
  },
  ERR_FILE_UNWRITABLE: {
    thrownBy: '`keys generate`',
    meaning: 'the key cannot be written: the directory is not one, or the write failed',
    fix: 'the hint says why; name a writable directory',
  },
  ERR_INPUT_INVALID: {
    thrownBy: 'commands that read a key or token given on the command line',
    meaning: 'the input is readable but not what the flag expects (e.g. not a PEM public key)',
    fix: 'give the file the flag names (`keys generate` writes both halves). Exit 2',
  },
  ERR_INTERNAL: {
    thrownBy: 'the CLI boundary (any unexpected error), and asserts that cannot fail',
    meaning: 'a defect',
    fix: 'run again with `--debug` and report it with the stack trace',
  },
  ERR_CONFIG_INVALID: {
    thrownBy:
      '`ConfigError` (`config check`, `serve`, `policy test` cases), and start-up checks the schema also makes',
    meaning:
      'the config (or the cases file) is invalid; `key_path` and each of `problems` name the key',
    fix: 'correct the key named; `config check FILE` lists every problem. Exit 1 (2 for an input of another command)',
  },
  ERR_PATH_TEMPLATE_INVALID: {
    thrownBy: '`PathTemplateError` (a rule `path`)',
    meaning: 'a path template that does not follow the grammar',
    fix: 'see [policy](policy.md#paths); reported as `ERR_CONFIG_INVALID` at the rule key',
  },
  ERR_POLICY_UNCOMPILABLE: {
    thrownBy: '`PolicyCompileError` (the policy compiler)',
    meaning: 'a policy that cannot be enforced as written (e.g. a condition without its section)',
    fix: 'reported as `ERR_CONFIG_INVALID` at the key path it names',
  },
  ERR_RESTART_REQUIRED: {
    thrownBy: '`RestartRequiredError` (a reload)',
    meaning:
      'a reload changed a setting only a restart applies (listen, transport, workers, tls, admin)',
    fix: 'the reload is refused whole and the running config stays; restart to apply it',
  },
  ERR_LISTEN_INVALID: {
    thrownBy: '`serve` (`listen`, `admin.listen`)',
    meaning: 'not a listen address',
    fix: 'write `host:port` with a port from 0 to 65535',
  },
  ERR_LISTEN_FAILED: {
    thrownBy: '`serve`',
    meaning: 'the address cannot be bound: in use, privileged, not of this host, unresolvable',
    fix: 'the hint says which; stop what listens there or choose another address',
  },
  ERR_KEY_INVALID: {
    thrownBy: '`KeyLoadError` (`runner_tokens.private_keys`, `--private-key`)',
    meaning:
      'a runner-token key file that cannot be read or is not an RSA private key of 2048 bits or more',
    fix: "give the private.pem 'keys generate' wrote; a public key cannot decrypt",
  },
  ERR_KEY_EXISTS: {
    thrownBy: '`keys generate`',
    meaning: 'a key file is already there',
    fix: 'keys are never overwritten: choose another directory, or move the old key away',
  },
  ERR_HASH_KEY: {
    thrownBy: '`HashKeyError` (`logging.hash_key_file`)',
    meaning:
      'the log hash key file cannot be read, is not a regular file, or holds fewer than 32 bytes of key material',
    fix: 'write a key with `openssl rand -base64 48`; the message never quotes the key',
  },
  ERR_HASH_KEY_UNSHARED: {
    thrownBy: 'a `serve` worker (`workers` above 1, no `logging.hash_key_file`)',
    meaning: 'the worker did not get the log hash key from the primary process',
    fix: 'the worker fails to start; see the primary log, or set `logging.hash_key_file` so every worker reads the key from the file',
  },
  ERR_REGISTRY_UNREADABLE: {
    thrownBy: 'the file session registry (`session_registry.source.path`)',
    meaning: 'the registry file cannot be read',
    fix: 'the hint says why; check the path',
  },
  ERR_REGISTRY_INVALID: {
    thrownBy: 'the file session registry (`session_registry.source.path`)',
    meaning: 'the registry file is not one session id per line',
    fix: 'one session id per line, `#` starts a comment',
  },
  ERR_TLS_FILE_INVALID: {
    thrownBy: 'serving TLS from files (`tls.cert_file`, `tls.key_file`, `tls.bundles`)',
    meaning: 'a certificate, key or bundle file cannot be read or used',
    fix: 'the key path names the file; `certs generate` writes a lab set',
  },
  ERR_TLS_INVALID: {
    thrownBy: 'serving TLS (files or the Workload API), the DER reader',
    meaning:
      'certificate and key do not match, the certificate is not valid now or does not chain to its bundle, a bundle holds no certificate, or an SVID update is malformed',
    fix: 'from files: reported as `ERR_TLS_FILE_INVALID`; from the Workload API: the update is refused and the working SVID kept (the warning names why)',
  },
  ERR_WORKLOAD_API_SOCKET: {
    thrownBy: 'serving TLS from the Workload API (`tls.workload_api.socket`)',
    meaning:
      'no socket is configured and `SPIFFE_ENDPOINT_SOCKET` is not set, or it is not `unix:///path` or `tcp://ip:port`',
    fix: "set it to the agent's `unix:///path`",
  },
  ERR_WORKLOAD_API_UNAVAILABLE: {
    thrownBy: 'serving TLS from the Workload API (`tls.workload_api`)',
    meaning: 'no usable X.509-SVID within `start_timeout_seconds`',
    fix: 'is the SPIFFE agent running, the socket right, and this workload registered?',
  },
  ERR_LAB_PKI: {
    thrownBy: '`LabPkiError` (`certs generate`)',
    meaning: 'the lab PKI directory cannot be used as asked (`--keep-ca` without a usable CA)',
    fix: 'drop `--keep-ca` to write a new CA, or restore the CA files it names',
  },
  ERR_CA_KEY_MISMATCH: {
    thrownBy: 'the lab PKI (`certs generate --keep-ca`)',
    meaning: 'the CA key does not match the CA certificate',
    fix: 'restore the matching pair, or write a new CA',
  },
  ERR_WIRE_MALFORMED: {
    thrownBy: '`WireError` (the protobuf codec)',
    meaning: 'bytes that are not a well-formed protobuf message',
    fix: 'never shown as an error: the request is denied `request_malformed`',
  },
  ERR_GRPC_FRAMING: {
    thrownBy: '`FramingError` (the http2 transport reading gRPC messages)',
    meaning: 'a gRPC message over the size limit, compressed, or with an unknown flag',
    fix: 'never shown as an error: the stream ends with the matching grpc-status',
  },
  ERR_LIMIT_EXCEEDED: {
    thrownBy: '`LimitExceededError` (the ext_proc decoder)',
    meaning: 'a message carries more header fields or bytes than `limits` allow',
    fix: 'never shown as an error: the request is denied `headers_too_large`',
  },
  ERR_TOKEN_KID_UNKNOWN: {
    thrownBy: 'runner-token decryption',
    meaning: 'the token names a key (`kid`) the keyring does not hold',
    fix: 'never shown as an error: the request is denied `token_invalid`',
  },
  ERR_PROBE_UNREACHABLE: {
    thrownBy: '`probe`',
    meaning: 'the processor cannot be reached, or refused this client',
    fix: 'the hint says which: start it, check `--target`, or present an admitted SVID',
  },
  ERR_PROBE_TIMEOUT: {
    thrownBy: '`probe`',
    meaning: 'no answer within the deadline',
    fix: 'is the processor running and the address right?',
  },
  ERR_PROBE_FAILED: {
    thrownBy: '`probe`',
    meaning: 'the processor ended the stream with a gRPC error',
    fix: 'the line names the status; the processor log says why',
  },
  ERR_PROBE_SERVER_ID_MISMATCH: {
    thrownBy: '`probe --server-id`',
    meaning: "the processor's certificate names another SPIFFE ID (the TLS handshake is refused)",
    fix: 'reported as `ERR_PROBE_UNREACHABLE`; check `--server-id` and the SVID the processor serves',
  },
  ERR_PROBE_UNEXPECTED: {
    thrownBy: '`probe`',
    meaning: 'the answer is not what an extproc-authz processor sends',
    fix: 'is this an extproc-authz processor?',
  },
}

/** The error-code page: every code, who throws it, what it means and what to do. */
export function renderErrorCodes(): string {
  const out = [
    '# Error codes',
    '',
    '<!-- Generated by `make schema` from src/shared/error-codes.ts and src/docs/error-codes.ts.',
    '     Do not edit: change them, then run `make schema`. -->',
    '',
    'Every error the processor and the CLI raise is an `AuthzError` (`src/shared/errors.ts`) with',
    'one stable `code` from this table; a code is never renamed once published. The location is',
    'data, not only words: `file`, `keyPath` (a config key path such as `tls.bundles.example.org`),',
    '`flag`; with a `hint` (what to do) and the exit code. `--json` prints them as `code`, `file`,',
    '`key_path`, `flag`, `hint` and `exit_code` (see',
    '[when something is wrong](cli.md#when-something-is-wrong)). Scripts branch on `code`, never on',
    'the wording of the message. Each error class names its code as `static readonly code`, as',
    "jose's errors do.",
    '',
    ...tableHeader(['code', 'thrown by', 'meaning', 'what to do']),
  ]
  for (const code of ERROR_CODES) {
    const doc = ERROR_DOCS[code]
    out.push(
      `| \`${code}\` | ${tableCell(doc.thrownBy)} | ${tableCell(doc.meaning)} | ${tableCell(doc.fix)} |`,
    )
  }
  return `${out.join('\n')}\n`
}
