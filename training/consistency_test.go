package training_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
	"kairos/internal/server"
	"kairos/training"
)

// randomHistory returns events of n customers over days days from start:
// every standard type the default features read, with their properties.
func randomHistory(seed uint64, n, days int, start time.Time) []features.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	types := []string{"page_view", "page_view", "login", "session_start", "feature_used", "add_to_cart",
		"purchase", "payment_failed", "subscription_started", "email_opened", "message_delivered", "click"}
	var evs []features.Event
	for c := range n {
		id := fmt.Sprintf("c%03d", c)
		first := r.IntN(days * 24 * 60) // minutes
		count := 5 + r.IntN(60)
		for i := range count {
			at := start.Add(time.Duration(first+r.IntN(days*24*60-first)) * time.Minute).Add(time.Duration(r.IntN(60_000)) * time.Millisecond)
			typ := types[r.IntN(len(types))]
			props := []any{}
			switch typ {
			case "page_view":
				props = append(props, "page", []string{"home", "pricing", "product"}[r.IntN(3)], "product_id", fmt.Sprintf("p%d", r.IntN(80)))
			case "purchase", "add_to_cart":
				props = append(props, "amount", float64(r.IntN(20000))/100, "category", []string{"books", "toys", "garden"}[r.IntN(3)])
			case "feature_used":
				props = append(props, "feature", fmt.Sprintf("f%d", r.IntN(12)))
			case "subscription_started":
				props = append(props, "plan_price", []float64{9.99, 19.99, 49}[r.IntN(3)])
			}
			evs = append(evs, ev(fmt.Sprintf("%s-%d", id, i), id, typ, at, props...))
		}
	}
	slices.SortStableFunc(evs, func(a, b features.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// TestExportMatchesLiveServer streams events through a live server (on the
// embedded store and on Redis) as they happen, reads GetProfile at each
// snapshot time, and requires the exported vector to be the same.
func TestExportMatchesLiveServer(t *testing.T) {
	// The history lies in the (real) future: Redis expires tile buckets by
	// its own clock, so a past history would be gone before it is read.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	evs := randomHistory(3, 25, 12, start)
	// Snapshots at times that are not tile-aligned, so the sawtooth edges
	// of every granularity are exercised.
	opts := training.Options{Set: features.Default(), From: start.Add(26*time.Hour + 17*time.Minute + 3*time.Second),
		To: start.Add(12 * 24 * time.Hour), Every: 7*time.Hour + 41*time.Minute}
	_, rows := export(t, training.NewMemorySource(evs), opts)
	want := map[string]row{}
	for _, r := range rows {
		want[r.key()] = r
	}

	stores := map[string]func(t *testing.T, set *features.Set) features.Store{
		"memstore": func(t *testing.T, set *features.Set) features.Store { return memstore.New(set, memstore.Options{}) },
		"redisstore": func(t *testing.T, set *features.Set) features.Store {
			return redisstore.New(redistest.Start(t).Client(t), set, redisstore.Options{})
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			var clock atomic.Int64
			client := startServer(t, open(t, opts.Set), opts.Set, func() time.Time { return time.UnixMilli(clock.Load()).UTC() })
			ctx := context.Background()
			seen := map[string]bool{}
			compared := 0
			next := 0
			snap := opts.From
			check := func(at time.Time) {
				clock.Store(at.UnixMilli())
				for _, id := range slices.Sorted(maps.Keys(seen)) {
					p, err := client.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: id})
					if err != nil {
						t.Fatal(err)
					}
					w, ok := want[id+"@"+at.Format(time.RFC3339)]
					if !ok {
						t.Fatalf("export has no row for %s at %s", id, at)
					}
					for _, f := range p.Features {
						ev, gv := w.feats[f.Name], f.Value
						if !(ev == gv || math.IsNaN(ev) && math.IsNaN(gv)) {
							t.Errorf("%s at %s: %s: export %v, GetProfile %v", id, at, f.Name, ev, gv)
						}
					}
					compared++
				}
			}
			for next < len(evs) || !snap.After(opts.To) {
				if !snap.After(opts.To) && (next == len(evs) || snap.Before(evs[next].Time)) {
					check(snap)
					snap = snap.Add(opts.Every)
					continue
				}
				e := evs[next]
				next++
				clock.Store(e.Time.UnixMilli())
				resp, err := client.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{server.EventToProto(e)}})
				if err != nil || resp.Accepted != 1 {
					t.Fatalf("Track %s: %v %v", e.ID, resp, err)
				}
				seen[e.CustomerID] = true
			}
			if compared != len(rows) {
				t.Errorf("compared %d profiles, the export has %d rows", compared, len(rows))
			}
			t.Logf("%d events, %d profiles equal to the exported rows", len(evs), compared)
		})
	}
}

// startServer serves the Kairos API on store over loopback and returns a
// client.
func startServer(t *testing.T, store features.Store, set *features.Set, now func() time.Time) kairosv1.KairosClient {
	t.Helper()
	srv := server.New(server.Options{Store: store, Set: set, Now: now})
	gs := srv.GRPC()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kairosv1.NewKairosClient(conn)
}
