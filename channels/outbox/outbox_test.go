package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/outbox"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock returns a clock that advances a second per reading.
func clock() func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func msg(id, channel string) *channels.Message {
	return &channels.Message{ID: id, CustomerID: "c-" + id, Campaign: "cart_recovery", Offer: "reminder",
		Channel: channel, To: "ann@example.com", Subject: "Still thinking?", Text: "Your cart misses you.",
		Data: map[string]string{"k": "v"}}
}

func TestDedupe(t *testing.T) {
	var log bytes.Buffer
	o := outbox.New(outbox.Options{Log: &log, Now: clock()})
	ctx := context.Background()
	r1, err := o.Send(ctx, msg("d1", "email"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Send(ctx, msg("d2", "email")); err != nil {
		t.Fatal(err)
	}
	again := msg("d1", "email")
	again.Text = "changed"
	r3, err := o.Send(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ProviderID != "outbox-1" || r3 != r1 {
		t.Errorf("receipts: first %+v, repeat %+v; want outbox-1 twice", r1, r3)
	}
	if o.Len() != 2 {
		t.Errorf("Len = %d, want 2", o.Len())
	}
	if n := strings.Count(log.String(), "\n"); n != 2 {
		t.Errorf("the log has %d lines, want 2 (a repeat is not logged)", n)
	}
	got := o.Messages("", 0)
	if got[1].Message.Text != "Your cart misses you." {
		t.Errorf("the repeat replaced the kept message: %+v", got[1].Message)
	}
}

func TestEmptyID(t *testing.T) {
	o := outbox.New(outbox.Options{})
	_, err := o.Send(context.Background(), msg("", "email"))
	if channels.ErrorKind(err) != channels.Invalid {
		t.Fatalf("Send without an id = %v, want an Invalid error", err)
	}
}

func TestRing(t *testing.T) {
	o := outbox.New(outbox.Options{Keep: 3, Now: clock()})
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		ch := "email"
		if i%2 == 0 {
			ch = "sms"
		}
		if _, err := o.Send(ctx, msg(fmt.Sprint("d", i), ch)); err != nil {
			t.Fatal(err)
		}
	}
	if o.Len() != 3 {
		t.Fatalf("Len = %d, want 3", o.Len())
	}
	ids := func(es []outbox.Entry) []string {
		var s []string
		for _, e := range es {
			s = append(s, e.Message.ID+"="+e.ProviderID)
		}
		return s
	}
	for _, tt := range []struct {
		channel string
		limit   int
		want    []string
	}{
		{"", 0, []string{"d5=outbox-5", "d4=outbox-4", "d3=outbox-3"}},
		{"", 2, []string{"d5=outbox-5", "d4=outbox-4"}},
		{"", 10, []string{"d5=outbox-5", "d4=outbox-4", "d3=outbox-3"}},
		{"email", 0, []string{"d5=outbox-5", "d3=outbox-3"}},
		{"sms", 5, []string{"d4=outbox-4"}},
		{"push", 0, nil},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.channel, tt.limit), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(o.Messages(tt.channel, tt.limit))); diff != "" {
				t.Errorf("Messages (-want +got):\n%s", diff)
			}
		})
	}
	// d1 was evicted: it is accepted again, under a new id.
	r, err := o.Send(ctx, msg("d1", "email"))
	if err != nil || r.ProviderID != "outbox-6" {
		t.Errorf("Send(evicted d1) = %+v, %v; want outbox-6", r, err)
	}
	// d5 is kept: still deduplicated.
	if r, _ := o.Send(ctx, msg("d5", "email")); r.ProviderID != "outbox-5" {
		t.Errorf("Send(kept d5) = %+v; want outbox-5", r)
	}
}

func TestEntriesAreCopies(t *testing.T) {
	o := outbox.New(outbox.Options{})
	m := msg("d1", "email")
	if _, err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	m.Data["k"] = "changed by the sender"
	o.Messages("", 1)[0].Message.Data["k"] = "changed by a reader"
	if got := o.Messages("", 1)[0].Message.Data["k"]; got != "v" {
		t.Errorf("kept data = %q, want v", got)
	}
}

func TestLogLine(t *testing.T) {
	var log bytes.Buffer
	o := outbox.New(outbox.Options{Log: &log, Now: clock()})
	m := msg("d1", "email")
	m.UnsubscribeURL = "https://t.example.com/t/u/x"
	if _, err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Send(context.Background(), &channels.Message{ID: "d2", CustomerID: "c2", Channel: "inapp", To: "c2"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("log = %q, want 2 lines", log.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("line 1 %q: %v", lines[0], err)
	}
	want := map[string]any{
		"at": "2026-03-01T12:00:01Z", "provider_id": "outbox-1", "id": "d1", "customer_id": "c-d1",
		"campaign": "cart_recovery", "offer": "reminder", "channel": "email", "to": "ann@example.com",
		"subject": "Still thinking?", "text": "Your cart misses you.", "data": map[string]any{"k": "v"},
		"unsubscribe_url": "https://t.example.com/t/u/x",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line 1 (-want +got):\n%s", diff)
	}
	const want2 = `{"at":"2026-03-01T12:00:02Z","provider_id":"outbox-2","id":"d2","customer_id":"c2","campaign":"","offer":"","channel":"inapp","to":"c2"}`
	if lines[1] != want2 {
		t.Errorf("line 2 =\n%s\nwant\n%s", lines[1], want2)
	}
}

// An Entry's JSON (what the admin server answers) is a log line, and reads
// back.
func TestEntryJSON(t *testing.T) {
	var log bytes.Buffer
	o := outbox.New(outbox.Options{Log: &log, Now: clock()})
	m := msg("d1", "push")
	m.Title, m.HTML, m.UnsubscribeURL = "T", "<p>h</p>", "https://u"
	if _, err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	e := o.Messages("", 1)[0]
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(b)+"\n" != log.String() {
		t.Errorf("JSON %s\nlog  %s", b, log.String())
	}
	var back outbox.Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// failing fails every write while on.
type failing struct {
	on bool
	bytes.Buffer
}

func (f *failing) Write(p []byte) (int, error) {
	if f.on {
		return 0, errors.New("disk full")
	}
	return f.Buffer.Write(p)
}

func TestLogFailure(t *testing.T) {
	w := &failing{on: true}
	o := outbox.New(outbox.Options{Log: w})
	_, err := o.Send(context.Background(), msg("d1", "email"))
	if channels.ErrorKind(err) != channels.Transient || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Send with a failing log = %v, want a Transient error saying why", err)
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after a failed write, want 0", o.Len())
	}
	w.on = false
	r, err := o.Send(context.Background(), msg("d1", "email"))
	if err != nil || r.ProviderID != "outbox-1" {
		t.Fatalf("retry = %+v, %v; want outbox-1 (the failed attempt took no number)", r, err)
	}
	if o.Len() != 1 || strings.Count(w.String(), "\n") != 1 {
		t.Errorf("after the retry: Len %d, log %q; want 1 message, 1 line", o.Len(), w.String())
	}
}

func TestCancelled(t *testing.T) {
	o := outbox.New(outbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Send(ctx, msg("d1", "email"))
	if channels.ErrorKind(err) != channels.Transient || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send(cancelled) = %v, want a Transient error wrapping context.Canceled", err)
	}
	if o.Len() != 0 {
		t.Errorf("Len = %d, want 0", o.Len())
	}
}

func TestConcurrent(t *testing.T) {
	var log bytes.Buffer
	o := outbox.New(outbox.Options{Keep: 100, Log: &log})
	const senders, each = 8, 50
	ctx := context.Background()
	var wg sync.WaitGroup
	receipts := make([][]string, senders)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				// Every sender sends the same ids: each is accepted once.
				r, err := o.Send(ctx, msg(fmt.Sprint("d", i), "email"))
				if err != nil {
					t.Error(err)
					return
				}
				receipts[s] = append(receipts[s], r.ProviderID)
				o.Messages("email", 5)
				o.Len()
			}
		})
	}
	wg.Wait()
	for s := 1; s < senders; s++ {
		if diff := cmp.Diff(receipts[0], receipts[s]); diff != "" {
			t.Errorf("sender %d got other receipts than sender 0 (-0 +%d):\n%s", s, s, diff)
		}
	}
	if o.Len() != each {
		t.Errorf("Len = %d, want %d", o.Len(), each)
	}
	if n := strings.Count(log.String(), "\n"); n != each {
		t.Errorf("the log has %d lines, want %d", n, each)
	}
}

func Example() {
	o := outbox.New(outbox.Options{})
	ctx := context.Background()
	m := &channels.Message{ID: "d1", CustomerID: "c1", Channel: "email", To: "ann@example.com", Subject: "Hello"}
	r, _ := o.Send(ctx, m)
	again, _ := o.Send(ctx, m) // the same decision id: deduplicated
	fmt.Println(r.ProviderID, again.ProviderID, o.Len())
	for _, e := range o.Messages("email", 10) {
		fmt.Println(e.Message.To, e.Message.Subject)
	}
	// Output:
	// outbox-1 outbox-1 1
	// ann@example.com Hello
}
