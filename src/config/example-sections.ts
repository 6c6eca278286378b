const TOP_LEVEL_KEY = /^([A-Za-z_][A-Za-z0-9_-]*):/

/**
 * Splits an annotated example config into its top-level sections, keeping comments: each section
 * is the key's lines plus the comment block directly above it (no blank line between). The config
 * reference shows these as the annotated example for each section, so the examples it prints are
 * the very file `make test` checks with `config check` and `policy test`.
 */
export function exampleSections(yaml: string): Map<string, string> {
  const sections = new Map<string, string>()
  const lines = yaml.split('\n')
  let key: string | undefined
  let body: string[] = []
  let pendingComments: string[] = []
  const flush = () => {
    if (key !== undefined) sections.set(key, body.join('\n').trimEnd())
  }
  for (const line of lines) {
    const top = TOP_LEVEL_KEY.exec(line)
    if (top) {
      flush()
      key = top[1] as string
      body = [...pendingComments, line]
      pendingComments = []
    } else if (line.startsWith('#')) {
      pendingComments.push(line)
    } else if (line.trim() === '') {
      // A blank line ends a comment block: comments above it introduce nothing below.
      if (pendingComments.length > 0) pendingComments = []
      else if (key !== undefined) body.push(line)
    } else if (key !== undefined) {
      body.push(...pendingComments, line)
      pendingComments = []
    }
  }
  flush()
  return sections
}
