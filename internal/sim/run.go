package sim

import (
	"context"
	"errors"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"kairos/features"
	"kairos/internal/progress"
)

// Result is what a run produced.
type Result struct {
	// Events is the number of events sent to the sink; ByType and ByDate
	// (YYYY-MM-DD, UTC) count them.
	Events int64
	ByType map[string]int64
	ByDate map[string]int64
	// Customers is the number of customers; Churned how many churned in
	// the period.
	Customers int
	Churned   int
	// Decisions are the decision points in order of time, with the arm
	// chosen, the outcome observed and the potential outcome of every arm.
	Decisions []Decision
	// Truth is the true effect of every arm.
	Truth Truth
	// Traits are the customers' latent traits and fates; Records their
	// final contact records; both in customer id order.
	Traits  []Traits
	Records []features.Customer
	// Lifecycle counts what the lifecycle model drew, for checks of the
	// simulator against its parameters.
	Lifecycle Lifecycle
}

// Lifecycle is the bookkeeping of the lifecycle model over the period.
type Lifecycle struct {
	// Stages holds, per stage, the customer-days spent in it (not counting
	// signup days), the sum of their churn hazards (the expected number of
	// voluntary churns) and the voluntary churns drawn. A few of those are
	// pre-empted by an involuntary churn earlier the same day.
	Stages []StageStats `json:"stages"`
	// Sessions are the organic sessions of customer-days that are neither
	// a signup nor a churn day; ExpectedSessions the sum of their Poisson
	// means.
	Sessions         int64   `json:"sessions"`
	ExpectedSessions float64 `json:"expected_sessions"`
	// Charges of paid plans (first attempts), how many failed, and the sum
	// of their failure probabilities.
	Charges                 int64   `json:"charges"`
	PaymentFailures         int64   `json:"payment_failures"`
	ExpectedPaymentFailures float64 `json:"expected_payment_failures"`
	// InvoluntaryChurns are subscriptions cancelled after the last payment
	// attempt failed.
	InvoluntaryChurns int64 `json:"involuntary_churns"`
}

// StageStats is the lifecycle bookkeeping of one stage.
type StageStats struct {
	Stage         string  `json:"stage"`
	CustomerDays  int64   `json:"customer_days"`
	ExpectedChurn float64 `json:"expected_churn"`
	Churned       int64   `json:"churned"`
}

// Outcome is what happened, or would have happened, within a decision
// point's reward window under one arm.
type Outcome struct {
	// Delivered: the arm's message reached the customer (contact and
	// consent); false for none.
	Delivered bool `json:"delivered"`
	// Converted: a conversion event of the campaign in the window.
	Converted bool `json:"converted"`
	// Revenue is the value of the first conversion (0 for winback).
	Revenue float64 `json:"revenue"`
	// Unsubscribed: the message made the customer unsubscribe from its
	// channel within the window (an unsubscribed event with the decision's
	// decision_id); never without a message.
	Unsubscribed bool `json:"unsubscribed"`
	// Cost of the message and of the offer.
	Cost float64 `json:"cost"`
}

// Decision is one decision point, the arm the policy chose and what came
// of it.
type Decision struct {
	DecisionID string
	CustomerID string
	Campaign   string
	Segment    string
	At         time.Time
	Arm        Arm
	// Outcome is the observed outcome: the potential outcome of Arm.
	Outcome
	// Potential holds the outcome under every arm of the campaign, in the
	// order of DecisionPoint.Arms.
	Potential []Outcome
}

// sinkJob is one call of the sink, run in order by the sink goroutine.
type sinkJob struct {
	customers []features.Customer
	events    []features.Event
	slot      int // output buffer to release after the call; -1: none
	// barrier, when set, is closed once every earlier job is done.
	barrier chan struct{}
}

// Run simulates the world day by day into sink, reporting each day done to
// bar (nil: no progress). A world runs once. The events of the next day are
// computed while the sink consumes the last.
func (w *World) Run(ctx context.Context, sink Sink, bar *progress.Bar) (*Result, error) {
	if w.ran {
		return nil, errors.New("sim: Run: a world runs once; build another with New")
	}
	w.ran = true
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan sinkJob, 4)
	free := make(chan int, 2)
	free <- 0
	free <- 1
	var slots [2][]features.Event
	var sinkErr error
	var sinkDone sync.WaitGroup
	sinkDone.Add(1)
	go func() {
		defer sinkDone.Done()
		for j := range jobs {
			if j.barrier != nil {
				close(j.barrier)
				continue
			}
			if sinkErr == nil {
				var err error
				if j.events != nil {
					err = sink.Events(ctx, j.events)
					if err == nil && bar != nil {
						bar.Count(int64(len(j.events)))
						bar.Step(1)
					}
				} else if len(j.customers) > 0 {
					err = sink.Customers(ctx, j.customers)
				}
				if err != nil {
					sinkErr = err
					cancel(err)
				}
			}
			if j.slot >= 0 {
				free <- j.slot
			}
		}
	}()
	err := w.simulate(ctx, jobs, free, &slots)
	close(jobs)
	sinkDone.Wait()
	if sinkErr != nil {
		return nil, sinkErr
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) {
			return nil, cause
		}
		return nil, err
	}
	return w.result(), nil
}

// simulate runs the days, queueing sink calls on jobs.
func (w *World) simulate(ctx context.Context, jobs chan<- sinkJob, free chan int, slots *[2][]features.Event) error {
	nw := runtime.GOMAXPROCS(0)
	workers := make([]*worker, nw)
	for i := range workers {
		workers[i] = &worker{id: int32(i), w: w, r: newRNG()}
	}
	days := int((w.end - w.start) / dayMs)
	next := 0 // first customer not yet sent to the sink (by signup order)
	var keys []uint64
	var due []dueEp
	for d := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		day0 := w.start + int64(d)*dayMs
		day1 := day0 + dayMs

		// Customers signing up today, and on day 0 everyone before.
		var cs []features.Customer
		for next < len(w.custs) && w.custs[next].signup < day1 {
			cs = append(cs, cloneCustomer(&w.custs[next].rec))
			next++
		}
		if len(cs) > 0 {
			jobs <- sinkJob{customers: cs, slot: -1}
		}

		for _, wk := range workers {
			wk.day0, wk.day1, wk.d = day0, day1, int32(d)
			wk.due = wk.due[:0]
		}
		parallel(workers, len(w.custs), func(wk *worker, i int) { wk.organic(&w.custs[i]) })
		due = due[:0]
		for _, wk := range workers {
			due = append(due, wk.due...)
		}
		if w.cfg.Lockstep {
			// The sink catches up before the policy is asked.
			barrier := make(chan struct{})
			jobs <- sinkJob{barrier: barrier, slot: -1}
			select {
			case <-barrier:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := w.decide(ctx, due); err != nil {
			return err
		}
		for _, wk := range workers {
			wk.out, wk.keys = wk.out[:0], wk.keys[:0]
		}
		parallel(workers, len(w.custs), func(wk *worker, i int) { wk.finish(&w.custs[i]) })

		keys = keys[:0]
		for _, wk := range workers {
			keys = append(keys, wk.keys...)
		}
		slices.Sort(keys)
		var slot int
		select {
		case slot = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		out := slots[slot][:0]
		for _, k := range keys {
			c := &w.custs[(k>>keyIndexBits)&(1<<keyCustBits-1)]
			out = append(out, workers[c.outW].out[int(c.outOff)+int(k&maxDayEvents)])
		}
		slots[slot] = out
		jobs <- sinkJob{events: out, slot: slot}

		cs = nil
		for i := range w.custs {
			if c := &w.custs[i]; c.changed {
				cs = append(cs, cloneCustomer(&c.rec))
				c.changed = false
			}
		}
		if len(cs) > 0 {
			jobs <- sinkJob{customers: cs, slot: -1}
		}
		w.byDay = append(w.byDay, int64(len(out)))
		for _, wk := range workers {
			for t, n := range wk.count {
				w.byType[t] += n
			}
			wk.count = [nTypes]int64{}
		}
	}
	return nil
}

// parallel calls fn for 0 <= i < n on the workers, in chunks.
func parallel(workers []*worker, n int, fn func(wk *worker, i int)) {
	const chunk = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, wk := range workers {
		wg.Go(func() {
			for {
				s := int(next.Add(chunk)) - chunk
				if s >= n {
					return
				}
				for i := s; i < min(s+chunk, n); i++ {
					fn(wk, i)
				}
			}
		})
	}
	wg.Wait()
}

func cloneCustomer(c *features.Customer) features.Customer {
	out := *c
	out.Consents = maps.Clone(c.Consents)
	out.Attributes = maps.Clone(c.Attributes)
	return out
}

// result assembles the Result of a finished run.
func (w *World) result() *Result {
	res := &Result{
		ByType:    make(map[string]int64, nTypes),
		ByDate:    make(map[string]int64, len(w.byDay)),
		Customers: len(w.custs),
		Traits:    make([]Traits, len(w.custs)),
		Records:   make([]features.Customer, len(w.custs)),
	}
	for t, n := range w.byType {
		res.ByType[typeNames[t]] = n
		res.Events += n
	}
	for d, n := range w.byDay {
		res.ByDate[time.UnixMilli(w.start+int64(d)*dayMs).UTC().Format(time.DateOnly)] = n
	}
	var lc Lifecycle
	var stages [nStages]StageStats
	for i := range w.custs {
		c := &w.custs[i]
		res.Traits[i] = w.traits(c)
		res.Records[i] = cloneCustomer(&c.rec)
		if c.churnAt != 0 {
			res.Churned++
		}
		st := &c.stats
		for s := range nStages {
			stages[s].CustomerDays += int64(st.stageDays[s])
			stages[s].ExpectedChurn += st.expectedChurn[s]
			stages[s].Churned += int64(st.churned[s])
		}
		lc.Sessions += int64(st.sessions)
		lc.ExpectedSessions += st.expectedSessions
		lc.Charges += int64(st.charges)
		lc.PaymentFailures += int64(st.failures)
		lc.ExpectedPaymentFailures += st.expectedFailures
		lc.InvoluntaryChurns += int64(st.involuntary)
	}
	for s := range nStages {
		stages[s].Stage = Stages[s]
		lc.Stages = append(lc.Stages, stages[s])
	}
	res.Lifecycle = lc
	res.Decisions = make([]Decision, 0, len(w.decs))
	for i := range w.decs {
		ds := &w.decs[i]
		camp := &w.camps[ds.camp]
		d := Decision{
			DecisionID: ds.id,
			CustomerID: w.custs[ds.cust].id,
			Campaign:   camp.p.Name,
			Segment:    Segments[ds.seg],
			At:         time.UnixMilli(ds.at).UTC(),
			Arm:        camp.arms[ds.arm],
			Outcome:    ds.outcomes[ds.arm],
			Potential:  slices.Clone(ds.outcomes[:len(camp.arms)]),
		}
		res.Decisions = append(res.Decisions, d)
	}
	res.Truth = w.truth(res.Decisions)
	return res
}
