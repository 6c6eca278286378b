export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<{ x: number; y: number }>
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e']

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** A line chart as standalone SVG: no plotting dependency, readable in any browser or README. */
export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[]) {
  const W = 720
  const H = 420
  const L = 70
  const R = 170
  const T = 40
  const B = 55
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.map((p) => p.y))
  const xMax = niceMax(Math.max(...xs, 1))
  // Log scale for latency: the interesting part (sub-millisecond to a few ms) and the overload
  // tail (hundreds of ms) both stay readable.
  const yLo = 10 ** Math.floor(Math.log10(Math.max(Math.min(...ys), 0.01)))
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...ys, yLo * 10)))
  const decades = Math.round(Math.log10(yHi / yLo))
  const px = (x: number) => L + (x / xMax) * (W - L - R)
  const py = (y: number) => H - B - (Math.log10(Math.max(y, yLo) / yLo) / decades) * (H - T - B)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ]
  for (let i = 0; i <= 5; i++) {
    const xv = (xMax * i) / 5
    out.push(
      `<line x1="${px(xv)}" y1="${T}" x2="${px(xv)}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${px(xv)}" y="${H - B + 16}" text-anchor="middle">${Math.round(xv)}</text>`,
    )
  }
  for (let d = 0; d <= decades; d++) {
    const yv = yLo * 10 ** d
    out.push(
      `<line x1="${L}" y1="${py(yv)}" x2="${W - R}" y2="${py(yv)}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${py(yv) + 4}" text-anchor="end">${Number(yv.toPrecision(3))}</text>`,
    )
  }
  out.push(
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 15}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  )
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    const pts = s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const p of s.points) {
      out.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color}"/>`,
      )
    }
    const ly = T + 10 + i * 20
    out.push(
      `<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - R + 38}" y="${ly + 4}">${esc(s.name)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
