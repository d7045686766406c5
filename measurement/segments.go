// Live segments on the reports index: each segment's members now and a
// small chart of its size by day.

package measurement

import (
	"context"
	"html/template"
	"kairos/decisioning"
	"math"
	"slices"
	"strconv"
	"time"
)

// SegmentSeries is a live segment's size over time, for the reports index.
type SegmentSeries struct {
	// Name is the segment and When its condition, as configured.
	Name string `json:"name"`
	When string `json:"when"`
	// Size is the number of members now.
	Size int64 `json:"size"`
	// History is the size at the end of each UTC day on which the
	// membership changed, oldest first.
	History []decisioning.SegmentDay `json:"history"`
}

// SegmentSource is implemented by a ReportSource that also knows the live
// segments; the index then shows them, and /reports/segments.json serves
// them.
type SegmentSource interface {
	// Segments lists the live segments with their sizes and histories;
	// none (nil) is no error.
	Segments(ctx context.Context) ([]SegmentSeries, error)
}

// maxSegmentDays is the longest span a segment chart shows: the last
// days up to today; earlier changes only give the size it starts at.
const maxSegmentDays = 180

// segmentDay is one day of a segment chart.
type segmentDay struct {
	date time.Time
	size int64
	// changed: the size differs from the day before's (false on the first
	// day).
	changed bool
}

// segmentDays lays a segment's history out day by day, from its first
// change (at most maxSegmentDays before the end) to today, or to its last
// change when that is later: a day without a change carries the size of
// the day before forward, and today has size, the members now. History
// points with a malformed date are left out; points of the same date,
// the last one counts. Without history the series is today alone.
func segmentDays(history []decisioning.SegmentDay, size int64, today time.Time) []segmentDay {
	type point struct {
		date time.Time
		size int64
	}
	var ps []point
	for _, p := range history {
		if d, err := time.Parse(time.DateOnly, p.Date); err == nil {
			ps = append(ps, point{d, p.Size})
		}
	}
	slices.SortStableFunc(ps, func(a, b point) int { return a.date.Compare(b.date) })
	y, m, d := today.UTC().Date()
	today = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	start, end := today, today
	if len(ps) > 0 {
		start = ps[0].date
		if last := ps[len(ps)-1].date; last.After(end) {
			end = last
		}
	}
	if first := end.AddDate(0, 0, 1-maxSegmentDays); start.Before(first) {
		start = first
	}
	days := []segmentDay{}
	cur, next := size, 0
	if len(ps) > 0 {
		cur = ps[0].size
	}
	for day := start; !day.After(end); day = day.AddDate(0, 0, 1) {
		for next < len(ps) && !ps[next].date.After(day) {
			cur = ps[next].size
			next++
		}
		v := cur
		if day.Equal(today) {
			v = size
		}
		days = append(days, segmentDay{date: day, size: v, changed: len(days) > 0 && v != days[len(days)-1].size})
	}
	return days
}

// segmentRow is a segment of the index: its figures and its chart.
type segmentRow struct {
	Name, When, Size, Anchor string
	Chart                    template.HTML
}

// segmentsView is the index's section of live segments; it is shown when
// Show is set: Rows, or Note when they could not be read.
type segmentsView struct {
	Show     bool
	Note     string
	JSONHref string
	Days     string
	Rows     []segmentRow
}

func buildSegments(segs []SegmentSeries, today time.Time) []segmentRow {
	rows := make([]segmentRow, 0, len(segs))
	for i, s := range segs {
		rows = append(rows, segmentRow{
			Name:   s.Name,
			When:   s.When,
			Size:   showInt64(s.Size),
			Anchor: "segment-" + strconv.Itoa(i+1),
			Chart:  segmentChart(s.Name, segmentDays(s.History, s.Size, today)),
		})
	}
	return rows
}

// segmentChart draws a segment's size by day as a step line from zero:
// the line holds a day's size until the day it changes, a single day is
// a flat line across the chart. Each change has a dot, each day a tooltip
// with its size.
func segmentChart(name string, days []segmentDay) template.HTML {
	const height = 210
	left, right, top, bottom := 72.0, float64(chartWidth-24), 16.0, float64(height-52)
	n := len(days)
	if n == 0 {
		return ""
	}
	first, last := days[0], days[n-1]
	span := first.date.Format(time.DateOnly)
	if n > 1 {
		span += " to " + last.date.Format(time.DateOnly)
	}
	d := newSVG(chartWidth, height, "Members of segment "+name+" by day, "+span+" (UTC): "+showInt64(last.size)+" now")

	var hi int64
	for _, day := range days {
		hi = max(hi, day.size)
	}
	y := countAxis(hi, bottom, top)
	for _, t := range y.ticks {
		py := y.at(t)
		d.line(left, py, right, py, "grid")
		d.text(left-8, py+4, "end", "tick", y.label(t, ""))
	}

	// x of day i: days spread from left to right; one day stands in the
	// middle.
	xAt := func(i int) float64 { return (left + right) / 2 }
	band := right - left
	if n > 1 {
		band = (right - left) / float64(n-1)
		xAt = func(i int) float64 { return left + float64(i)*band }
	}
	yAt := func(v int64) float64 { return y.at(float64(v)) }

	// The step line, and the area under it.
	var line string
	if n == 1 {
		line = "M" + svgNum(left) + " " + svgNum(yAt(first.size)) + " H" + svgNum(right)
	} else {
		line = "M" + svgNum(xAt(0)) + " " + svgNum(yAt(first.size))
		for i := 1; i < n; i++ {
			if days[i].size != days[i-1].size {
				line += " H" + svgNum(xAt(i)) + " V" + svgNum(yAt(days[i].size))
			}
		}
		line += " H" + svgNum(xAt(n-1))
	}
	x0 := xAt(0)
	if n == 1 {
		x0 = left
	}
	d.printf(`<path d="%s V%s H%s Z" class="area"/>`, line, svgNum(bottom), svgNum(x0))

	// A tooltip band per day, under the line and the dots.
	for i := range days {
		bx, bw := xAt(i)-band/2, band
		if n == 1 {
			bx = left
		}
		bx, bw = math.Max(bx, left), math.Min(bx+bw, right)-math.Max(bx, left)
		d.rect(bx, top, bw, bottom-top, "", "hover", dayTip(days, i))
	}

	d.line(left, bottom, right, bottom, "axis")
	d.line(left, top, left, bottom, "axis")
	d.path(line, colorTreated, "series")
	for i, day := range days {
		if i == 0 || day.changed {
			d.printf(`<circle cx="%s" cy="%s" r="3.5" fill="%s" class="dot"><title>%s</title></circle>`,
				svgNum(xAt(i)), svgNum(yAt(day.size)), colorTreated, svgEsc(dayTip(days, i)))
		}
	}

	// About six dates below the axis, evenly spaced, the first and the
	// last among them; the first, and any in another year than the one
	// before, with the year.
	prevYear := 0
	for _, i := range dateTicks(n, 5) {
		day := days[i].date
		text := day.Format("Jan 2")
		if day.Year() != prevYear {
			text = day.Format("Jan 2, 2006")
			prevYear = day.Year()
		}
		anchor := "middle"
		switch {
		case n > 1 && i == 0:
			anchor = "start"
		case n > 1 && i == n-1:
			anchor = "end"
		}
		d.line(xAt(i), bottom, xAt(i), bottom+5, "tick")
		d.text(xAt(i), bottom+19, anchor, "tick", text)
	}
	d.printf(`<text transform="translate(%s %s) rotate(-90)" text-anchor="middle" class="axislabel">%s</text>`,
		svgNum(18), svgNum((top+bottom)/2), "members")
	d.text((left+right)/2, bottom+42, "middle", "axislabel", "day (UTC)")
	return d.end()
}

// dateTicks returns the days labelled below an axis of n days: every
// step-th day from the first, at most about parts+1 of them, and the
// last (in place of the one before it when they would crowd).
func dateTicks(n, parts int) []int {
	if n <= 0 {
		return nil
	}
	step := max(1, (n-1+parts-1)/parts)
	var idx []int
	for i := 0; i < n-1; i += step {
		idx = append(idx, i)
	}
	if k := len(idx); k > 1 && 2*(n-1-idx[k-1]) < step {
		idx = idx[:k-1]
	}
	return append(idx, n-1)
}

// dayTip is the tooltip of day i: its date and size, and the change from
// the day before.
func dayTip(days []segmentDay, i int) string {
	day := days[i]
	s := day.date.Format(time.DateOnly) + ": " + showInt64(day.size) + " members"
	if i > 0 && day.changed {
		delta := day.size - days[i-1].size
		sign := "+"
		if delta < 0 {
			sign, delta = "−", -delta
		}
		s += " (" + sign + showInt64(delta) + ")"
	}
	return s
}

// countAxis is a y axis of counts from zero to at least hi, with whole
// ticks.
func countAxis(hi int64, p0, p1 float64) chartAxis {
	if hi < 5 {
		top := max(hi, 1)
		a := chartAxis{lo: 0, hi: float64(top), p0: p0, p1: p1}
		for v := range top + 1 {
			a.ticks = append(a.ticks, float64(v))
		}
		return a
	}
	return newChartAxis([]float64{float64(hi)}, true, 4, p0, p1)
}

// segmentsJSON is the body of /reports/segments.json.
type segmentsJSON struct {
	Segments []SegmentSeries `json:"segments"`
}

// newSegmentsJSON normalises segs for JSON: empty lists, never null.
func newSegmentsJSON(segs []SegmentSeries) segmentsJSON {
	out := make([]SegmentSeries, len(segs))
	for i, s := range segs {
		if s.History == nil {
			s.History = []decisioning.SegmentDay{}
		}
		out[i] = s
	}
	return segmentsJSON{Segments: out}
}
