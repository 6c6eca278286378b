/**
 * The useful part of a grpc-js status detail for a person: "No connection established. Last
 * error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: " -> "connect ECONNREFUSED
 * 127.0.0.1:1".
 */
export function shortGrpcDetails(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(details)
  const text = (m?.[1] ?? details).trim()
  return text === '' ? details.trim() : text
}
