package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"kairos/features"
)

// activity generates realistic-enough behaviour of one customer: sessions on
// some days, each a login, a few page views over a catalogue, clicks and
// features used, sometimes a cart and a purchase; now and then a message
// delivered and opened. Engagement varies per customer (log-normal), so a
// few customers are very active and most are not.
type activity struct {
	r   *rand.Rand
	seq int
}

func newActivity(seed uint64) *activity {
	return &activity{r: rand.New(rand.NewPCG(seed, 0x6b616972))}
}

// engagement draws a customer's mean sessions per day.
func (a *activity) engagement() float64 {
	return math.Min(6, math.Exp(a.r.NormFloat64()*0.8-0.7))
}

// day appends one day of a customer's events starting at dayStart.
func (a *activity) day(dst []features.Event, customer string, dayStart time.Time, sessionsPerDay float64) []features.Event {
	n := a.poisson(sessionsPerDay)
	for s := 0; s < n; s++ {
		t := dayStart.Add(time.Duration(8+a.r.IntN(14))*time.Hour + time.Duration(a.r.IntN(3600))*time.Second)
		dst = a.session(dst, customer, t)
	}
	if a.r.IntN(4) == 0 { // a campaign message, sometimes opened
		t := dayStart.Add(time.Duration(9+a.r.IntN(10)) * time.Hour)
		dst = append(dst, a.event(customer, "message_delivered", t, "channel", features.String("email")))
		if a.r.IntN(3) == 0 {
			dst = append(dst, a.event(customer, "email_opened", t.Add(time.Duration(a.r.IntN(7200))*time.Second)))
		}
	}
	return dst
}

func (a *activity) session(dst []features.Event, customer string, t time.Time) []features.Event {
	step := func() time.Time { t = t.Add(time.Duration(5+a.r.IntN(90)) * time.Second); return t }
	dst = append(dst, a.event(customer, "session_start", t))
	if a.r.IntN(2) == 0 {
		dst = append(dst, a.event(customer, "login", step()))
	}
	views := 1 + a.r.IntN(8)
	for v := 0; v < views; v++ {
		page := []string{"home", "product", "product", "product", "search", "docs", "pricing"}[a.r.IntN(7)]
		e := a.event(customer, "page_view", step(), "page", features.String(page))
		if page == "product" {
			e.Properties["product_id"] = features.String(fmt.Sprintf("sku-%d", a.r.IntN(500)))
		}
		dst = append(dst, e)
	}
	for c := a.r.IntN(3); c > 0; c-- {
		dst = append(dst, a.event(customer, "click", step()))
	}
	if a.r.IntN(3) == 0 {
		dst = append(dst, a.event(customer, "feature_used", step(), "feature", features.String(fmt.Sprintf("f%d", a.r.IntN(12)))))
	}
	if a.r.IntN(5) == 0 {
		amount := math.Round((10+a.r.ExpFloat64()*40)*100) / 100
		dst = append(dst, a.event(customer, "add_to_cart", step(), "amount", features.Number(amount), "currency", features.String("EUR")))
		if a.r.IntN(3) == 0 {
			dst = append(dst, a.event(customer, "purchase", step(), "amount", features.Number(amount), "currency", features.String("EUR")))
		}
	}
	return dst
}

func (a *activity) event(customer, typ string, t time.Time, kv ...any) features.Event {
	a.seq++
	e := features.Event{ID: fmt.Sprintf("%s-%d", customer, a.seq), CustomerID: customer, Type: typ, Time: t,
		Properties: map[string]features.Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Properties[kv[i].(string)] = kv[i+1].(features.Value)
	}
	return e
}

func (a *activity) poisson(mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= a.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
