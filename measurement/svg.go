// The report page's charts: small, hand-written SVG drawn on the server,
// so the page needs no script and no outside resource. Every chart is a
// well-formed XML fragment (the tests parse each one) with a <title>, axis
// labels and a legend; all text is escaped. Colours and strokes that do
// not depend on the data come from the page's style sheet (classes).

package measurement

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// chartWidth is the width of every chart in SVG user units; the page
// scales the charts to the width of the column.
const chartWidth = 960

// Colours of the two groups and of the arms (Okabe–Ito, distinguishable
// with the common colour-vision deficiencies), and of the "none" arm.
const (
	colorTreated = "#0072b2"
	colorHoldout = "#e69f00"
	colorNone    = "#b8b8b8"
	colorOther   = "#6e6e6e"
)

var armPalette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000", "#8c6d31"}

// svgDoc accumulates one <svg> element.
type svgDoc struct{ b strings.Builder }

// newSVG starts a chart of the given size whose accessible name (and
// tooltip) is title.
func newSVG(width, height float64, title string) *svgDoc {
	d := &svgDoc{}
	d.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %s %s" width="%s" height="%s" role="img">`,
		svgNum(width), svgNum(height), svgNum(width), svgNum(height))
	d.printf(`<title>%s</title>`, svgEsc(title))
	return d
}

// printf writes format with %s replaced by the args in order (already
// formatted and escaped by the callers).
func (d *svgDoc) printf(format string, args ...string) {
	for _, a := range args {
		i := strings.Index(format, "%s")
		d.b.WriteString(format[:i])
		d.b.WriteString(a)
		format = format[i+2:]
	}
	d.b.WriteString(format)
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, class string) {
	d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, svgNum(x1), svgNum(y1), svgNum(x2), svgNum(y2), class)
}

// rect draws a filled rectangle; tip, when not empty, is its tooltip.
func (d *svgDoc) rect(x, y, w, h float64, fill, class, tip string) {
	d.printf(`<rect x="%s" y="%s" width="%s" height="%s"`, svgNum(x), svgNum(y), svgNum(w), svgNum(h))
	if fill != "" {
		d.printf(` fill="%s"`, fill)
	}
	if class != "" {
		d.printf(` class="%s"`, class)
	}
	if tip == "" {
		d.b.WriteString(`/>`)
		return
	}
	d.printf(`><title>%s</title></rect>`, svgEsc(tip))
}

func (d *svgDoc) circle(x, y, r float64, fill, class string) {
	d.printf(`<circle cx="%s" cy="%s" r="%s"`, svgNum(x), svgNum(y), svgNum(r))
	if fill != "" {
		d.printf(` fill="%s"`, fill)
	}
	d.printf(` class="%s"/>`, class)
}

// text writes s (escaped) at (x, y); anchor is start, middle or end.
func (d *svgDoc) text(x, y float64, anchor, class, s string) {
	d.printf(`<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, svgNum(x), svgNum(y), anchor, class, svgEsc(s))
}

// path draws an unfilled path in colour stroke.
func (d *svgDoc) path(dpath, stroke, class string) {
	d.printf(`<path d="%s" fill="none" stroke="%s" class="%s"/>`, dpath, stroke, class)
}

// legend draws legend entries (a swatch drawn by swatch and a label) in
// rows from (x, y), wrapping at maxX; it returns the y below the last
// row.
func (d *svgDoc) legend(x, y, maxX float64, labels []string, swatch func(i int, x, y float64)) float64 {
	cx := x
	for i, l := range labels {
		w := 22 + textWidth(l) + 18
		if cx+w > maxX && cx > x {
			cx = x
			y += 18
		}
		swatch(i, cx, y)
		d.text(cx+22, y+4, "start", "legend", l)
		cx += w
	}
	return y + 18
}

// end closes the chart and returns it for the template.
func (d *svgDoc) end() template.HTML {
	d.b.WriteString(`</svg>`)
	return template.HTML(d.b.String()) // every piece was escaped or formatted by svgDoc
}

// svgNum formats a coordinate.
func svgNum(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// svgEsc escapes text for an SVG (XML) text node or attribute value.
func svgEsc(s string) string { return template.HTMLEscapeString(s) }

// textWidth estimates the width of s in the charts' 12px sans-serif font.
func textWidth(s string) float64 { return 6.8 * float64(len([]rune(s))) }

// clipText shortens s to at most n characters with an ellipsis.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// chartAxis maps a data interval onto a pixel interval and knows its ticks.
type chartAxis struct {
	lo, hi     float64 // data domain, extended to whole ticks
	p0, p1     float64 // pixels of lo and hi
	ticks      []float64
	tickDigits int
}

// newChartAxis returns an axis over the finite values vs (and always 0 when
// withZero) with about n ticks. With no finite value it spans [0, 1].
func newChartAxis(vs []float64, withZero bool, n int, p0, p1 float64) chartAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	if withZero {
		lo, hi = 0, 0
	}
	for _, v := range vs {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo > hi {
		lo, hi = 0, 1
	}
	if lo == hi {
		pad := math.Max(math.Abs(lo)*0.1, 1e-9)
		if lo == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
		if withZero && lo < 0 && lo+pad >= 0 {
			lo = 0
		}
	}
	step := niceStep((hi - lo) / float64(n))
	a := chartAxis{lo: math.Floor(lo/step+1e-9) * step, hi: math.Ceil(hi/step-1e-9) * step, p0: p0, p1: p1}
	for i := 0; ; i++ {
		v := a.lo + float64(i)*step
		if v > a.hi+step*1e-6 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0 // no "-0"
		}
		a.ticks = append(a.ticks, v)
	}
	a.tickDigits = max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	return a
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f < 1.5:
		return mag
	case f < 3:
		return 2 * mag
	case f < 7:
		return 5 * mag
	default:
		return 10 * mag
	}
}

// at returns the pixel of v.
func (a chartAxis) at(v float64) float64 {
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// label formats a tick with the axis's precision and suffix.
func (a chartAxis) label(v float64, suffix string) string {
	s := strconv.FormatFloat(v, 'f', a.tickDigits, 64)
	if a.tickDigits == 0 {
		s = showInt(int(math.Round(v)))
	}
	return strings.Replace(s, "-", "−", 1) + suffix
}

// forestRow is one comparison of a forest plot.
type forestRow struct {
	Label, Sub string
	// Point, CI, AV (the always-valid interval) and Sim (the simultaneous
	// interval) are in the plot's units; non-finite values are not drawn.
	Point       float64
	CI, AV, Sim [2]float64
	// Text is written right of the plot (the figures).
	Text string
	Bold bool
}

// forestChart draws one row per comparison: the point estimate with its
// interval as a dark whisker, the simultaneous interval as a thin whisker
// outside it, the always-valid interval as a light, wider bar behind
// them, and a dashed line at zero. unit labels the x axis, level names
// the intervals in the legend (e.g. "95%"), sims is the number of rows
// the simultaneous intervals hold over (0: none is drawn).
func forestChart(title string, rows []forestRow, unit, level string, sims int) template.HTML {
	const (
		labelW = 250
		textW  = 250
		rowH   = 32
	)
	plotX0, plotX1 := float64(labelW+16), float64(chartWidth-textW-16)
	legend := []string{"lift and " + level + " confidence interval", "always-valid " + level + " interval (safe to read every day)"}
	if sims > 0 {
		legend = append(legend, "simultaneous "+level+" interval (all "+showInt(sims)+" rows at once)")
	}
	// The legend may wrap: lay it out first in a scratch chart.
	legendEnd := (&svgDoc{}).legend(plotX0, 16, chartWidth, legend, func(int, float64, float64) {})
	top := legendEnd + 10
	height := top + float64(len(rows)*rowH) + 58
	d := newSVG(chartWidth, height, title)

	var vs []float64
	for _, r := range rows {
		vs = append(vs, r.Point, r.CI[0], r.CI[1], r.AV[0], r.AV[1])
		if sims > 0 {
			vs = append(vs, r.Sim[0], r.Sim[1])
		}
	}
	x := newChartAxis(vs, true, 6, plotX0, plotX1)
	bottom := top + float64(len(rows)*rowH)

	d.legend(plotX0, 16, chartWidth, legend, func(i int, lx, ly float64) {
		switch i {
		case 0:
			d.line(lx, ly, lx+18, ly, "ci")
			d.circle(lx+9, ly, 4, "", "pt")
		case 1:
			d.line(lx, ly, lx+18, ly, "av")
		default:
			d.line(lx, ly, lx+18, ly, "sim")
			d.line(lx, ly-6, lx, ly+6, "sim")
			d.line(lx+18, ly-6, lx+18, ly+6, "sim")
		}
	})
	d.text(chartWidth-textW, legendEnd+2, "start", "head", "lift ["+level+" CI]")

	// Stripes, grid, axis.
	for i := 1; i < len(rows); i += 2 {
		d.rect(0, top+float64(i*rowH), chartWidth, rowH, "", "stripe", "")
	}
	for _, t := range x.ticks {
		px := x.at(t)
		d.line(px, top-6, px, bottom, "grid")
		d.line(px, bottom, px, bottom+5, "tick")
		d.text(px, bottom+19, "middle", "tick", x.label(t, ""))
	}
	d.line(plotX0, bottom, plotX1, bottom, "axis")
	d.text((plotX0+plotX1)/2, bottom+42, "middle", "axislabel", unit)

	for i, r := range rows {
		cy := top + float64(i*rowH+rowH/2)
		cls := "label"
		if r.Bold {
			cls = "label strong"
		}
		d.printf(`<g><title>%s</title>`, svgEsc(r.Label+" — "+r.Sub+" — "+r.Text))
		d.text(labelW, cy-1, "end", cls, clipText(r.Label, 36))
		d.text(labelW, cy+12, "end", "sub", r.Sub)
		if finite(r.AV[0]) && finite(r.AV[1]) {
			d.line(x.at(r.AV[0]), cy, x.at(r.AV[1]), cy, "av")
		}
		if sims > 0 && finite(r.Sim[0]) && finite(r.Sim[1]) {
			x0, x1 := x.at(r.Sim[0]), x.at(r.Sim[1])
			d.line(x0, cy, x1, cy, "sim")
			// End ticks taller than the always-valid bar, thinner than
			// the interval's.
			d.line(x0, cy-7, x0, cy+7, "sim")
			d.line(x1, cy-7, x1, cy+7, "sim")
		}
		if finite(r.CI[0]) && finite(r.CI[1]) {
			x0, x1 := x.at(r.CI[0]), x.at(r.CI[1])
			d.line(x0, cy, x1, cy, "ci")
			d.line(x0, cy-5, x0, cy+5, "ci")
			d.line(x1, cy-5, x1, cy+5, "ci")
		}
		if finite(r.Point) {
			d.circle(x.at(r.Point), cy, 4.5, "", "pt")
		} else {
			d.text((plotX0+plotX1)/2, cy+4, "middle", "sub", "no estimate")
		}
		d.text(chartWidth-textW, cy+4, "start", cls, r.Text)
		d.b.WriteString(`</g>`)
	}
	if x.lo <= 0 && 0 <= x.hi {
		d.line(x.at(0), top-6, x.at(0), bottom, "zero")
	}
	return d.end()
}

// lineSeries is one line of a line chart.
type lineSeries struct {
	Name  string
	Color string
	// Y has one value per x label; non-finite values leave a gap.
	Y []float64
}

// lineChart draws series over days (xs, the x labels) with a y axis in
// the units of yLabel; suffix follows each y tick label (e.g. "%").
func lineChart(title string, xs []string, series []lineSeries, yLabel, suffix string) template.HTML {
	const height = 340
	left, right, top, bottom := 72.0, float64(chartWidth-24), 44.0, float64(height-58)
	d := newSVG(chartWidth, height, title)
	var vs []float64
	for _, s := range series {
		vs = append(vs, s.Y...)
	}
	y := newChartAxis(vs, true, 5, bottom, top)
	xAt := dayScale(len(xs), left, right, false)

	d.legend(left, 16, right, seriesNames(series), func(i int, lx, ly float64) {
		d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" class="series"/>`, svgNum(lx), svgNum(ly), svgNum(lx+18), svgNum(ly), series[i].Color)
	})
	for _, t := range y.ticks {
		py := y.at(t)
		d.line(left, py, right, py, "grid")
		d.text(left-8, py+4, "end", "tick", y.label(t, suffix))
	}
	d.line(left, bottom, right, bottom, "axis")
	d.line(left, top, left, bottom, "axis")
	dayTicks(d, xs, xAt, bottom)
	d.printf(`<text transform="translate(%s %s) rotate(-90)" text-anchor="middle" class="axislabel">%s</text>`,
		svgNum(18), svgNum((top+bottom)/2), svgEsc(yLabel))
	d.text((left+right)/2, bottom+46, "middle", "axislabel", "day (UTC)")

	for _, s := range series {
		var p strings.Builder
		pen := false
		for i, v := range s.Y {
			if !finite(v) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			p.WriteString(cmd + svgNum(xAt(i)) + " " + svgNum(y.at(v)) + " ")
			pen = true
		}
		if p.Len() > 0 {
			d.path(strings.TrimSpace(p.String()), s.Color, "series")
		}
		if len(xs) <= 62 {
			for i, v := range s.Y {
				if finite(v) {
					d.circle(xAt(i), y.at(v), 2.5, s.Color, "dot")
				}
			}
		}
	}
	return d.end()
}

func seriesNames(series []lineSeries) []string {
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	return names
}

// dayScale returns the x pixel of day i of n: the centre of its band
// (bands) or evenly spread points from left to right.
func dayScale(n int, left, right float64, bands bool) func(int) float64 {
	if bands || n <= 1 {
		w := (right - left) / float64(max(n, 1))
		return func(i int) float64 { return left + (float64(i)+0.5)*w }
	}
	return func(i int) float64 { return left + float64(i)*(right-left)/float64(n-1) }
}

// dayTicks labels about eight of the days below the x axis.
func dayTicks(d *svgDoc, xs []string, xAt func(int) float64, bottom float64) {
	step := max(1, (len(xs)+7)/8)
	for i := 0; i < len(xs); i += step {
		d.line(xAt(i), bottom, xAt(i), bottom+5, "tick")
		d.text(xAt(i), bottom+19, "middle", "tick", xs[i])
	}
}

// stackedBars draws, for each day, a bar of the shares of keys in the
// day's total (values[k][i] is key k's count on day i), with key colours
// colors and a legend.
func stackedBars(title string, xs []string, keys, colors []string, values [][]float64) template.HTML {
	left, right := 72.0, float64(chartWidth-24)
	// The legend's height depends on how the keys wrap: lay it out first
	// in a scratch chart.
	scratch := &svgDoc{}
	legendEnd := scratch.legend(left, 16, right, keys, func(int, float64, float64) {})
	top := legendEnd + 10
	bottom := top + 250
	height := bottom + 58
	d := newSVG(chartWidth, height, title)
	d.legend(left, 16, right, keys, func(i int, lx, ly float64) {
		d.rect(lx, ly-6, 18, 12, colors[i], "", "")
	})
	y := chartAxis{lo: 0, hi: 100, p0: bottom, p1: top, ticks: []float64{0, 25, 50, 75, 100}}
	for _, t := range y.ticks {
		py := y.at(t)
		d.line(left, py, right, py, "grid")
		d.text(left-8, py+4, "end", "tick", y.label(t, "%"))
	}
	xAt := dayScale(len(xs), left, right, true)
	band := (right - left) / float64(max(len(xs), 1))
	for i := range xs {
		var total float64
		for k := range keys {
			total += values[k][i]
		}
		if !(total > 0) {
			continue
		}
		acc := 0.0
		for k := range keys {
			v := values[k][i]
			if !(v > 0) {
				continue
			}
			y0, y1 := y.at(100*(acc+v)/total), y.at(100*acc/total)
			tip := xs[i] + " · " + keys[k] + ": " + showInt(int(v)) + " (" + showPct(v/total) + ")"
			d.rect(xAt(i)-band*0.42, y0, band*0.84, y1-y0, colors[k], "", tip)
			acc += v
		}
	}
	d.line(left, bottom, right, bottom, "axis")
	d.line(left, top, left, bottom, "axis")
	dayTicks(d, xs, xAt, bottom)
	d.printf(`<text transform="translate(%s %s) rotate(-90)" text-anchor="middle" class="axislabel">%s</text>`,
		svgNum(18), svgNum((top+bottom)/2), svgEsc("share of the day's decisions"))
	d.text((left+right)/2, bottom+46, "middle", "axislabel", "day (UTC)")
	return d.end()
}

// hbar is one bar of a horizontal bar chart.
type hbar struct {
	Label string
	Value float64
	// CI, when both ends are finite, is drawn as a whisker.
	CI    [2]float64
	Color string
	Text  string
}

// hbarChart draws horizontal bars from zero with optional whiskers.
func hbarChart(title string, bars []hbar, unit string) template.HTML {
	const (
		labelW = 250
		textW  = 250
		rowH   = 34
		top    = 14
	)
	x0, x1 := float64(labelW+16), float64(chartWidth-textW-16)
	bottom := float64(top + len(bars)*rowH)
	d := newSVG(chartWidth, bottom+52, title)
	var vs []float64
	for _, b := range bars {
		vs = append(vs, b.Value, b.CI[0], b.CI[1])
	}
	x := newChartAxis(vs, true, 5, x0, x1)
	for _, t := range x.ticks {
		px := x.at(t)
		d.line(px, top, px, bottom, "grid")
		d.line(px, bottom, px, bottom+5, "tick")
		d.text(px, bottom+19, "middle", "tick", x.label(t, ""))
	}
	for i, b := range bars {
		cy := float64(top + i*rowH + rowH/2)
		d.text(labelW, cy+4, "end", "label", b.Label)
		if finite(b.Value) {
			a, c := x.at(0), x.at(b.Value)
			d.rect(math.Min(a, c), cy-9, math.Abs(c-a), 18, b.Color, "", b.Label+": "+b.Text)
		}
		if finite(b.CI[0]) && finite(b.CI[1]) {
			l, h := x.at(b.CI[0]), x.at(b.CI[1])
			d.line(l, cy, h, cy, "ci")
			d.line(l, cy-6, l, cy+6, "ci")
			d.line(h, cy-6, h, cy+6, "ci")
		}
		d.text(chartWidth-textW, cy+4, "start", "label", b.Text)
	}
	d.line(x0, bottom, x1, bottom, "axis")
	d.line(x.at(0), top, x.at(0), bottom, "zero")
	d.text((x0+x1)/2, bottom+42, "middle", "axislabel", unit)
	return d.end()
}
