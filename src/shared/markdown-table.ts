// The Markdown tables of the generated docs (config reference, reason codes, error codes,
// metrics): one escaping rule for cells, one shape for the header.

/** Text that stays inside one table cell: `|` escaped, line breaks as spaces. */
export function tableCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

/** The header line and the separator line under it. */
export function tableHeader(columns: readonly string[]): string[] {
  return [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`]
}
