package features

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidateEvent(t *testing.T) {
	set := Default()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	good := func() Event {
		return Event{ID: "e1", CustomerID: "c1", Type: "purchase", Time: now.Add(-time.Hour),
			Properties: map[string]Value{"amount": Number(12.5), "currency": String("EUR")}}
	}
	for _, tc := range []struct {
		name      string
		mutate    func(*Event)
		field     string
		ruleMatch string
	}{
		{"valid", func(*Event) {}, "", ""},
		{"missing id", func(e *Event) { e.ID = "" }, "event_id", "required"},
		{"long id", func(e *Event) { e.ID = strings.Repeat("x", 129) }, "event_id", "at most 128"},
		{"missing customer", func(e *Event) { e.CustomerID = "" }, "customer_id", "required"},
		{"long customer", func(e *Event) { e.CustomerID = strings.Repeat("x", 129) }, "customer_id", "at most 128 bytes"},
		{"128-byte customer", func(e *Event) { e.CustomerID = strings.Repeat("x", 128) }, "", ""},
		{"bad utf8 customer", func(e *Event) { e.CustomerID = "\xff" }, "customer_id", "UTF-8"},
		{"NUL in customer", func(e *Event) { e.CustomerID = "a\x00b" }, "customer_id", "NUL"},
		{"NUL in event id", func(e *Event) { e.ID = "e\x00" }, "event_id", "NUL"},
		{"unknown type", func(e *Event) { e.Type = "teleported" }, "type", "unknown event type"},
		{"missing type", func(e *Event) { e.Type = "" }, "type", "required"},
		{"future", func(e *Event) { e.Time = now.Add(6 * time.Minute) }, "timestamp", "future"},
		{"near future ok", func(e *Event) { e.Time = now.Add(4 * time.Minute) }, "", ""},
		{"ancient", func(e *Event) { e.Time = time.Unix(0, 0) }, "timestamp", "2000"},
		{"too many properties", func(e *Event) {
			for i := 0; i < 65; i++ {
				e.Properties[strings.Repeat("k", i+1)] = Bool(true)
			}
		}, "properties", "at most 64"},
		{"long key", func(e *Event) { e.Properties[strings.Repeat("k", 65)] = Bool(true) }, "properties", "at most 64 bytes"},
		{"empty key", func(e *Event) { e.Properties[""] = Bool(true) }, "properties", "empty"},
		{"long string", func(e *Event) { e.Properties["note"] = String(strings.Repeat("s", 1025)) }, "properties.note", "1024"},
		{"1 KiB string ok", func(e *Event) { e.Properties["note"] = String(strings.Repeat("s", 1024)) }, "", ""},
		{"NaN", func(e *Event) { e.Properties["x"] = Number(math.NaN()) }, "properties.x", "finite"},
		{"Inf", func(e *Event) { e.Properties["x"] = Number(math.Inf(1)) }, "properties.x", "finite"},
		{"string amount", func(e *Event) { e.Properties["amount"] = String("12") }, "properties.amount", "finite number"},
		{"bad currency", func(e *Event) { e.Properties["currency"] = String("euro") }, "properties.currency", "ISO 4217"},
		{"no kind", func(e *Event) { e.Properties["x"] = Value{} }, "properties.x", "string, number or bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			tc.mutate(&e)
			err := set.ValidateEvent(&e, now)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid event rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error on %s", tc.field)
			}
			if err.Field != tc.field || !strings.Contains(err.Rule, tc.ruleMatch) {
				t.Fatalf("got %q, want field %q and a rule mentioning %q", err.Error(), tc.field, tc.ruleMatch)
			}
		})
	}
}

func TestValidateEventFillsTime(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	e := Event{ID: "e", CustomerID: "c", Type: "login"}
	if err := Default().ValidateEvent(&e, now); err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(now) {
		t.Fatalf("missing time became %v, want the server time %v", e.Time, now)
	}
}

func TestCustomEventTypes(t *testing.T) {
	set, err := Parse([]byte("custom_events: [trial_extended]\nfeatures:\n  - {name: trials, event: trial_extended, agg: count}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := Event{ID: "e", CustomerID: "c", Type: "trial_extended"}
	if err := set.ValidateEvent(&e, time.Now()); err != nil {
		t.Fatalf("declared custom type rejected: %v", err)
	}
	e.Type = "other"
	if err := set.ValidateEvent(&e, time.Now()); err == nil {
		t.Fatal("undeclared custom type accepted")
	}
}

func TestValidateCustomer(t *testing.T) {
	for _, tc := range []struct {
		c     Customer
		field string
	}{
		{Customer{ID: "c", Email: "ada@example.com", Phone: "+14155550123", Timezone: "America/New_York"}, ""},
		{Customer{ID: ""}, "customer.customer_id"},
		{Customer{ID: "c", Email: "not an email"}, "customer.email"},
		{Customer{ID: "c", Email: "Ada <ada@example.com>"}, "customer.email"},
		{Customer{ID: "c", Phone: "4155550123"}, "customer.phone"},
		{Customer{ID: "c", Phone: "+1415555O123"}, "customer.phone"},
		{Customer{ID: "c", Timezone: "Mars/Olympus"}, "customer.timezone"},
		{Customer{ID: "c", Timezone: "Local"}, "customer.timezone"},
		{Customer{ID: "c", Consents: map[string]bool{"": true}}, "customer.consents"},
		{Customer{ID: "c", Attributes: map[string]string{"k": strings.Repeat("v", 1025)}}, "customer.attributes.k"},
	} {
		err := ValidateCustomer(&tc.c)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v rejected: %v", tc.c, err)
		case tc.field != "" && (err == nil || err.Field != tc.field):
			t.Errorf("%+v: got %v, want an error on %s", tc.c, err, tc.field)
		}
	}
}

func TestLogRecordRoundTrip(t *testing.T) {
	e := Event{ID: "e\"1", CustomerID: "ü{c}", Type: "purchase", Time: time.UnixMilli(1764331200123).UTC(),
		Properties: map[string]Value{"amount": Number(-12.25), "currency": String("EUR"), "gift": Bool(false), "q": String("a\nb\a\x01\u2028\\\"\U000e0001")}}
	at := time.UnixMilli(1764331200999).UTC()
	got, gotAt, err := DecodeLogRecord(AppendLogRecord(nil, &e, at))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.CustomerID != e.CustomerID || got.Type != e.Type || !got.Time.Equal(e.Time) || !gotAt.Equal(at) || len(got.Properties) != 4 {
		t.Fatalf("round trip: got %+v at %v", got, gotAt)
	}
	for k, v := range e.Properties {
		if got.Properties[k] != v {
			t.Errorf("property %s: got %+v, want %+v", k, got.Properties[k], v)
		}
	}
}

func FuzzValidateEvent(f *testing.F) {
	f.Add("e1", "c1", "purchase", int64(1764331200000), "amount", 12.5, "currency", "EUR")
	f.Add("", "", "", int64(0), "", math.NaN(), "", "")
	f.Add("e", "c", "page_view", int64(4102444800000), "page", 0.0, "k", "\xff")
	set := Default()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id, cid, typ string, ms int64, k1 string, n float64, k2, s string) {
		e := Event{ID: id, CustomerID: cid, Type: typ, Time: time.UnixMilli(ms),
			Properties: map[string]Value{k1: Number(n), k2: String(s)}}
		err := set.ValidateEvent(&e, now)
		if err != nil {
			if err.Field == "" || err.Rule == "" {
				t.Fatalf("error without field or rule: %#v", err)
			}
			return
		}
		// An accepted event satisfies the contract, can be planned and
		// survives the event log encoding.
		if id == "" || len(cid) > MaxIDBytes || e.Time.After(now.Add(MaxFutureSkew)) {
			t.Fatalf("accepted an invalid event: %+v", e)
		}
		_ = set.Plan(nil, &e, now)
		got, _, derr := DecodeLogEntry(AppendLogRecord(nil, &e, now))
		if derr != nil || len(got) != 1 || got[0].ID != e.ID || got[0].CustomerID != e.CustomerID || got[0].Properties[k2] != e.Properties[k2] {
			t.Fatalf("log round trip of an accepted event: %v, %+v", derr, got)
		}
	})
}

func FuzzDecodeLogEntry(f *testing.F) {
	e := Event{ID: "e", CustomerID: "c", Type: "click", Time: time.UnixMilli(1), Properties: map[string]Value{"a": Number(1)}}
	rec := AppendLogRecord(nil, &e, time.UnixMilli(2))
	f.Add(rec)
	f.Add(append(append(append([]byte{}, rec...), '\n'), rec...))
	f.Add([]byte(`{"id":"x","cid":"y","type":"z","props":{"a":null}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		events, _, err := DecodeLogEntry(b)
		if err != nil {
			return
		}
		for _, e := range events {
			if e.ID == "" || e.CustomerID == "" || e.Type == "" {
				t.Fatalf("decoded a record without id, cid or type: %+v", e)
			}
			for k, v := range e.Properties {
				if v.Kind == 0 {
					t.Fatalf("property %q decoded without a kind", k)
				}
			}
		}
	})
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"7d", 7 * 24 * time.Hour, "7d"}, {"24h", 24 * time.Hour, "1d"}, {"36h", 36 * time.Hour, "36h"},
		{"1h30m", 90 * time.Minute, "1h30m"}, {"90s", 90 * time.Second, "1m30s"}, {"0", 0, "0"},
	} {
		d, err := ParseDuration(tc.in)
		if err != nil || d != tc.want || FormatDuration(d) != tc.out {
			t.Errorf("%q: %v, %v, formatted %q; want %v, %q", tc.in, d, err, FormatDuration(d), tc.want, tc.out)
		}
	}
	for _, bad := range []string{"", "-1h", "7days", "1.5d", "-2d", "99999999999999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
