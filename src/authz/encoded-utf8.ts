// Percent-encoded non-ASCII in a request path: the rare, slow path of splitRequestPath.
//
// A path is matched as sent, still encoded, so what it decodes to matters only where an upstream
// decodes it differently from the next one. Two classes do that:
// - invalid UTF-8 (RFC 3629 §3): overlong forms (%E0%80%AE and %F0%80%80%AE are old spellings of
//   "."), surrogates, code points above U+10FFFF, lone or missing continuation bytes. Lenient
//   decoders turn these into ASCII or U+FFFD, strict ones refuse them;
// - code points that Unicode compatibility normalisation (NFKC, applied by some frameworks and
//   file systems) turns into ASCII: the fullwidth full stop %EF%BC%8E becomes ".", so
//   %EF%BC%8E%EF%BC%8E is ".." to such an upstream, and fullwidth letters spell `admin`.
// Both are refused. So are C1 controls (U+0080-U+009F), as C0 controls are.

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/** True when some character of `s` is ASCII or a control (C0, DEL, C1). */
function hasAsciiOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) < 0xa0) return true
  }
  return false
}

/**
 * Blocks of code points none of which NFKC changes (a unit test checks every code point it
 * accepts against String#normalize): Latin-1 letters, Cyrillic, CJK Unified Ideographs, Hangul
 * syllables. The common non-ASCII in paths needs no normalisation at all.
 */
export function inNfkcStableBlock(cp: number): boolean {
  return (
    (cp >= 0x00c0 && cp <= 0x00ff) ||
    (cp >= 0x0400 && cp <= 0x04ff) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xac00 && cp <= 0xd7a3)
  )
}

const UNKNOWN = 0
const SAFE = 1
const UNSAFE = 2
// One verdict per code point, computed once per process: a path of 2,700 code points outside
// the stable blocks would otherwise cost 2,700 normalisations (~150 us) on every request. A
// fixed 1.1 MB, allocated when the first such code point arrives; it never grows.
let verdicts: Uint8Array | undefined

/**
 * Whether one decoded code point (>= U+0080) may stay in a path: not a C1 control, and its
 * NFKC form holds no ASCII character and no control (so none of . / \ ; % ? # either).
 */
function isSafeCodePoint(cp: number): boolean {
  if (cp < 0xa0) return false // C1 controls
  if (inNfkcStableBlock(cp)) return true
  verdicts ??= new Uint8Array(0x110000)
  let verdict = verdicts[cp] as number
  if (verdict === UNKNOWN) {
    const nfkc = String.fromCodePoint(cp).normalize('NFKC')
    verdict = hasAsciiOrControl(nfkc) ? UNSAFE : SAFE
    verdicts[cp] = verdict
  }
  return verdict === SAFE
}

/**
 * Checks the percent-encoded octets of `path[0, end)`, already known to be well-formed `%XX`
 * triplets: every run of encoded octets >= 0x80 must be strict UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF, no truncated sequence; a sequence may not be
 * interrupted by a plain or encoded ASCII character), and every code point it encodes must be
 * safe (isSafeCodePoint). Called only for paths holding such an octet.
 */
export function encodedUtf8IsSafe(path: string, end: number): boolean {
  let cp = 0 // code point being assembled
  let need = 0 // continuation bytes still expected
  let lower = 0x80 // bounds of the next continuation byte (RFC 3629 §4, UTF8-tail ranges)
  let upper = 0xbf
  for (let i = 0; i < end; i++) {
    if (path.charCodeAt(i) !== 0x25) {
      if (need !== 0) return false // a sequence cut short by a plain character
      continue
    }
    const b = hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2))
    i += 2
    if (need !== 0) {
      if (b < lower || b > upper) return false
      cp = (cp << 6) | (b & 0x3f)
      lower = 0x80
      upper = 0xbf
      if (--need === 0 && !isSafeCodePoint(cp)) return false
      continue
    }
    if (b < 0x80) continue
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1
      cp = b & 0x1f
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2
      cp = b & 0x0f
      if (b === 0xe0)
        lower = 0xa0 // overlong below U+0800
      else if (b === 0xed) upper = 0x9f // surrogates U+D800-U+DFFF
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3
      cp = b & 0x07
      if (b === 0xf0)
        lower = 0x90 // overlong below U+10000
      else if (b === 0xf4) upper = 0x8f // above U+10FFFF
    } else {
      return false // a continuation byte without a lead, C0/C1 (overlong) or F5-FF
    }
  }
  return need === 0
}
