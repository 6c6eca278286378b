// Every subcommand's name, summary and usage, and how to load it. Nothing here imports a command:
// `extproc-authz --help` and `<command> --help` start no more than this file.
import { DEFAULT_MIN_MESSAGE_TIMEOUT_MS } from '../envoy-check/defaults.js'
import { DEFAULT_LEAF_DAYS, MAX_LEAF_DAYS } from '../pki/lab-pki-days.js'
import type { Command } from './command.js'

export const COMMANDS: readonly Command[] = [
  {
    name: 'serve',
    summary: 'Serve the ext_proc authorizer (embedded default config without --config)',
    usage: `Usage: extproc-authz serve [--config FILE] [--listen HOST:PORT] [--workers N]

Serves envoy.service.ext_proc.v3.ExternalProcessor/Process.

Options:
  -c, --config FILE      YAML config file (default: the embedded development config:
                         plaintext on 127.0.0.1:50051, GET /healthz public, /api/** for
                         SPIFFE IDs in example.org, everything else denied)
  -l, --listen HOST:PORT override the config's listen address (port 0 to 65535)
  -w, --workers N        override the config's workers (1 to 64 processes sharing the socket)
  -h, --help             show this help`,
    load: () => import('./serve.js').then((m) => m.run),
  },
  {
    name: 'probe',
    summary: 'Send one request to a running processor as Envoy would; print the decision',
    usage: `Usage: extproc-authz probe --path P [--target HOST:PORT] [options]

Sends one request_headers message to a running processor as Envoy's ext_proc filter does
(pseudo-headers, headers, the peer's SPIFFE ID attribute) and prints the decision: allow with
the header mutations Envoy would apply, or deny with the status, reason and body.

Target:
  -t, --target HOST:PORT  the processor (default 127.0.0.1:50051, what 'make run' serves)
      --ca FILE           mTLS: the trust bundle the processor's certificate must chain to
      --cert FILE         mTLS: the certificate to present; the processor admits only its
      --key FILE          tls.allowed_peers, so use Envoy's SVID (certs generate: envoy.pem)
      --server-id ID      mTLS: require this SPIFFE ID in the processor's certificate
      --timeout MS        give up after this many milliseconds (default 5000)
Request:
  -X, --method M          HTTP method (default GET)
  -p, --path P            request path (required)
      --host H            :authority (default localhost)
  -H, --header 'N: V'     another request header (repeatable)
      --peer SPIFFE_ID    the client's SPIFFE ID, sent as the attribute
                          connection.uri_san_peer_certificate (as Envoy sends it)
      --xfcc              send --peer in an x-forwarded-client-cert header instead
                          (for identity.xfcc.enabled)
      --bearer TOKEN      send Authorization: Bearer TOKEN
      --token-session ID  encrypt a runner token for session ID to --public-key and send it
      --public-key FILE   the runner-token public key ('keys public' prints it)
      --jwe               with --token-session: a JWE token (exp in 1 h) instead of raw
Output:
      --json              the decision as JSON on stdout (errors too)

Exit: 0 allowed; 3 denied; 1 error (unreachable, TLS, no answer); 2 usage or unreadable file.`,
    load: () => import('./probe.js').then((m) => m.run),
  },
  {
    name: 'config',
    summary: 'Check a config file as serve would load it (listen, keys, certificates, policy)',
    usage: `Usage: extproc-authz config check FILE [--json]

Runs every check 'serve' runs at start, without binding anything: the schema (the listen
addresses included), key and certificate files readable and parseable, the Workload API socket
answering (waiting at most 5 s), the policy compiled with its credentials. Prints what it found,
or the problem with its key path. --json: the summary, or the error, as JSON on stdout.
Exit 0: valid; 1: invalid; 2: usage, or FILE unreadable or not YAML.`,
    load: () => import('./config-check.js').then((m) => m.run),
  },
  {
    name: 'policy',
    summary: 'Evaluate requests against the policy without a server; assert expected outcomes',
    usage: `Usage: extproc-authz policy test CONFIG [CASES.yaml]
       extproc-authz policy test CONFIG --path P [--method M] [--host H] [--peer SPIFFE_ID]
                                        [--session S | --token T] [--header name=value ...]

Uses the same fact extraction and authorize() as the server. With CASES.yaml (cases: [{name,
request: {method, path, host, headers, peer, session, token}, expect: {decision, rule, reason,
status}}]) every case is checked.
Exit 0: as expected; 1: an expectation failed, or CONFIG is invalid; 2: usage, or a file
unreadable or CASES.yaml malformed.`,
    load: () => import('./policy-test.js').then((m) => m.run),
  },
  {
    name: 'keys',
    summary: 'Generate a runner-token keypair or print the public key',
    usage: `Usage: extproc-authz keys generate --out DIR [--bits 4096]
       extproc-authz keys public --private-key FILE [--jwk]

  generate   write DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem; never overwrites
  public     print the public key (PEM, or a JWK with its RFC 7638 kid) of a private key file
             (PKCS#8 or PKCS#1): what runners encrypt to`,
    load: () => import('./keys.js').then((m) => m.run),
  },
  {
    name: 'token',
    summary: 'Encrypt a runner token for a session id, or decrypt one (debugging)',
    usage: `Usage: extproc-authz token encrypt --public-key FILE --session-id S [--jwe --ttl 1h --kid K]
       extproc-authz token decrypt --private-key FILE --token T

  encrypt   print a raw token (base64 RSA-OAEP-SHA256) or, with --jwe, a compact JWE
            (RSA-OAEP-256, A256GCM) with exp = now + --ttl (default 1h)
  decrypt   print the session id; on failure print the reason code and exit 1`,
    load: () => import('./token.js').then((m) => m.run),
  },
  {
    name: 'certs',
    summary: 'Generate a lab/dev SPIFFE PKI (CA bundle and X.509-SVIDs)',
    usage: `Usage: extproc-authz certs generate --out DIR [--trust-domain example.org] [--days ${DEFAULT_LEAF_DAYS}]
                                [--ca-key FILE] [--keep-ca] [--renew-within DAYS]

Writes into DIR (lab and development only; keys are mode 0600, never commit them):
  bundle.pem                        the CA (trust bundle)
  ca-key.pem                        the CA's private key (or --ca-key FILE), to re-issue leaves
  envoy.pem, envoy-key.pem          spiffe://<td>/envoy, DNS envoy, localhost
  processor.pem, processor-key.pem  spiffe://<td>/extproc-authz, DNS extproc-authz, localhost
  client.pem, client-key.pem        spiffe://<td>/ns/ci/sa/runner
Every file is written to a temporary name and renamed into place (Envoy's SDS file watch and the
processor see each one whole). PEM files end with a newline, so bundles can be concatenated.

Options:
  -o, --out DIR              output directory (created)
  -t, --trust-domain NAME    trust domain (default example.org)
  -d, --days N               leaf lifetime in days (default ${DEFAULT_LEAF_DAYS}, at most ${MAX_LEAF_DAYS}); the CA lives 365
      --ca-key FILE          where the CA key is kept (default DIR/ca-key.pem); keep it away from
                             what only needs the bundle
      --keep-ca              re-issue the leaves from the CA already in DIR (bundle.pem and the CA
                             key): the bundle does not change, so running peers keep trusting
      --renew-within DAYS    do nothing while every file is there and no certificate expires
                             within DAYS days; otherwise re-issue the leaves, keeping the CA when
                             it outlives them, else start a new CA (the lab's certs service)
  -h, --help                 show this help`,
    load: () => import('./certs.js').then((m) => m.run),
  },
  {
    name: 'check-envoy',
    summary: 'Check Envoy bootstraps against the Envoy API and the ext_proc fail-closed rules',
    usage: `Usage: extproc-authz check-envoy FILE... [options]

Validates each Envoy v3 bootstrap (.yaml, .yml, .json) strictly against the Envoy API protos
(unknown fields, wrong types, oneofs, typed_config @type resolved and checked), then the rules
that keep ext_proc failing closed and every request on the processor's path (docs/check-envoy.md).
One line per finding: FILE:LINE:COL: error|warning: message [rule]; --json adds the key path.
Exit 0: no errors (warnings allowed); 1: errors; 2: usage or unreadable file.

Options:
  --config FILE               the extproc-authz config: whether the policy relies on SPIFFE
                              peer identity, whether XFCC identity is on, the decision
                              metadata namespace Envoy must receive (default: assume peer
                              identity, no XFCC, no metadata check)
  --xfcc                      the processor takes identity from x-forwarded-client-cert
  --min-message-timeout DUR   floor for ext_proc message_timeout (default ${DEFAULT_MIN_MESSAGE_TIMEOUT_MS}ms)
  --warnings-as-errors        exit 1 on warnings too
  --json                      machine-readable output
  --version                   print the Envoy API version checked against
  -h, --help                  show this help`,
    load: () => import('./check-envoy.js').then((m) => m.run),
  },
]
