// Package progress shows how a long command is doing: a bar with a
// percentage, a rate and the time left, redrawn in place on a terminal, or
// one line every few seconds elsewhere (CI logs, pipes), so that logs stay
// readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options describes what a Bar counts.
type Options struct {
	// Label starts every line, e.g. "simulate".
	Label string
	// Total is the number of steps of the whole job (e.g. simulated days);
	// zero when unknown (no percentage, no time left).
	Total int64
	// Unit names what the rate counts, e.g. "events".
	Unit string
	// Interval between redraws; default 200ms on a terminal, 5s elsewhere.
	Interval time.Duration
}

// Bar reports the progress of one job. Step and Count are safe for
// concurrent use.
type Bar struct {
	w       io.Writer
	opts    Options
	tty     bool
	start   time.Time
	steps   atomic.Int64
	count   atomic.Int64
	stop    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

// Start starts drawing a bar on w until Done.
func Start(w io.Writer, opts Options) *Bar {
	b := &Bar{w: w, opts: opts, tty: isTerminal(w), start: time.Now(), stop: make(chan struct{})}
	if b.opts.Interval <= 0 {
		b.opts.Interval = 5 * time.Second
		if b.tty {
			b.opts.Interval = 200 * time.Millisecond
		}
	}
	b.stopped.Add(1)
	go b.loop()
	return b
}

// Step records n finished steps (of Options.Total).
func (b *Bar) Step(n int64) { b.steps.Add(n) }

// Count records n more units (of Options.Unit) processed.
func (b *Bar) Count(n int64) { b.count.Add(n) }

// Done stops the bar and prints a final summary line.
func (b *Bar) Done() {
	b.once.Do(func() {
		close(b.stop)
		b.stopped.Wait()
		el := time.Since(b.start)
		n := b.count.Load()
		line := fmt.Sprintf("%s: %s %s in %s (%s %s/s)", b.opts.Label, Thousands(n), b.opts.Unit,
			el.Round(100*time.Millisecond), Thousands(int64(rate(n, el))), b.opts.Unit)
		if b.tty {
			fmt.Fprintf(b.w, "\r\033[K%s\n", line)
		} else {
			fmt.Fprintln(b.w, line)
		}
	})
}

func (b *Bar) loop() {
	defer b.stopped.Done()
	t := time.NewTicker(b.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			line := b.line(time.Since(b.start))
			if b.tty {
				fmt.Fprintf(b.w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(b.w, line)
			}
		}
	}
}

// line renders the bar after el.
func (b *Bar) line(el time.Duration) string {
	steps, n := b.steps.Load(), b.count.Load()
	var sb strings.Builder
	left := ""
	sb.WriteString(b.opts.Label)
	sb.WriteString(": ")
	if total := b.opts.Total; total > 0 {
		frac := min(1, float64(steps)/float64(total))
		const width = 30
		filled := int(frac * width)
		fmt.Fprintf(&sb, "[%s%s] %3.0f%% %d/%d  ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, steps, total)
		if steps > 0 && steps < total {
			left = fmt.Sprintf("  %s left", time.Duration(float64(el)/frac*(1-frac)).Round(time.Second))
		}
	}
	fmt.Fprintf(&sb, "%s %s, %s %s/s%s", Thousands(n), b.opts.Unit, Thousands(int64(rate(n, el))), b.opts.Unit, left)
	return sb.String()
}

func rate(n int64, el time.Duration) float64 {
	if el <= 0 {
		return 0
	}
	return float64(n) / el.Seconds()
}

// Thousands formats n with comma separators: 1234567 is "1,234,567".
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
