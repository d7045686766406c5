package features

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on one event. They are part of the public contract (see the proto).
const (
	MaxIDBytes          = 128
	MaxProperties       = 64
	MaxPropertyKeyBytes = 64
	MaxStringBytes      = 1024
	MaxBatch            = 1000
	// MaxFutureSkew is how far in the future an event time may lie.
	MaxFutureSkew = 5 * time.Minute
)

// minEventTime is the earliest event time accepted: older timestamps are
// almost always a client sending a zero or a seconds/milliseconds mix-up.
var minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// StandardTypes are the event types every deployment knows. Others must be
// declared as custom_events in the feature definitions.
var StandardTypes = []string{
	"page_view", "click", "feature_used", "session_start", "scroll", "login",
	"add_to_cart", "purchase", "subscription_started", "payment_failed",
	"subscription_cancelled", "email_opened", "email_clicked", "push_clicked",
	"sms_replied", "inapp_interaction", "message_delivered", "unsubscribed",
	"message_bounced", "segment_entered", "segment_exited",
}

// Kind is the type of a property value.
type Kind uint8

// The property value kinds.
const (
	KindString Kind = iota + 1
	KindNumber
	KindBool
)

// Value is one property value: a string, a finite number or a bool. A Value
// without a Kind (e.g. a JSON null) is rejected by Set.ValidateEvent.
type Value struct {
	Kind Kind
	Str  string
	Num  float64
	Bool bool
}

// String returns v as a property filter compares it: strings as they are,
// numbers in shortest form, bools as true/false.
func (v Value) String() string {
	switch v.Kind {
	case KindString:
		return v.Str
	case KindNumber:
		return formatFloat(v.Num)
	case KindBool:
		if v.Bool {
			return "true"
		}
		return "false"
	}
	return ""
}

// Float returns v as a number: numbers as they are, bools as 0 or 1. ok is
// false for strings.
func (v Value) Float() (f float64, ok bool) {
	switch v.Kind {
	case KindNumber:
		return v.Num, true
	case KindBool:
		if v.Bool {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// String, Number and Bool build property values.
func String(s string) Value  { return Value{Kind: KindString, Str: s} }
func Number(f float64) Value { return Value{Kind: KindNumber, Num: f} }
func Bool(b bool) Value      { return Value{Kind: KindBool, Bool: b} }

// Event is one behavioural event of one customer.
type Event struct {
	ID         string
	CustomerID string
	Type       string
	// Time is the event time. The zero time means "now" to Validate.
	Time       time.Time
	Properties map[string]Value
}

// FieldError says which field of an input broke which rule.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidateCustomerID checks the customer id contract: 1–128 bytes of UTF-8
// without NUL (ids reach the decision ledger, whose text cannot hold NUL).
func ValidateCustomerID(field, id string) *FieldError {
	return validateID(field, id)
}

// validateID checks an identifier: 1–128 bytes of UTF-8 without NUL.
func validateID(field, id string) *FieldError {
	if id == "" {
		return &FieldError{field, "is required"}
	}
	if len(id) > MaxIDBytes {
		return &FieldError{field, fmt.Sprintf("must be at most %d bytes, got %d", MaxIDBytes, len(id))}
	}
	if !utf8.ValidString(id) {
		return &FieldError{field, "must be valid UTF-8"}
	}
	if strings.IndexByte(id, 0) >= 0 {
		return &FieldError{field, "must not contain NUL bytes"}
	}
	return nil
}

// ValidateEvent checks e against the event contract and the event types s
// knows, filling a missing time with now. It reports the first rule broken.
func (s *Set) ValidateEvent(e *Event, now time.Time) *FieldError {
	if err := validateID("event_id", e.ID); err != nil {
		return err
	}
	if err := ValidateCustomerID("customer_id", e.CustomerID); err != nil {
		return err
	}
	if e.Type == "" {
		return &FieldError{"type", "is required"}
	}
	if !s.KnownType(e.Type) {
		return &FieldError{"type", fmt.Sprintf("unknown event type %q: use a standard type or declare it in custom_events", truncate(e.Type, 64))}
	}
	if e.Time.IsZero() {
		e.Time = now
	} else if e.Time.After(now.Add(MaxFutureSkew)) {
		return &FieldError{"timestamp", fmt.Sprintf("must not be more than %s in the future (server time %s)", MaxFutureSkew, now.UTC().Format(time.RFC3339))}
	} else if e.Time.Before(minEventTime) {
		return &FieldError{"timestamp", "must not be before 2000-01-01T00:00:00Z"}
	}
	if len(e.Properties) > MaxProperties {
		return &FieldError{"properties", fmt.Sprintf("must have at most %d entries, got %d", MaxProperties, len(e.Properties))}
	}
	for k, v := range e.Properties {
		if err := validateProperty(k, v); err != nil {
			return err
		}
	}
	return nil
}

func validateProperty(k string, v Value) *FieldError {
	if k == "" {
		return &FieldError{"properties", "keys must not be empty"}
	}
	if len(k) > MaxPropertyKeyBytes {
		return &FieldError{"properties", fmt.Sprintf("key %q… must be at most %d bytes", truncate(k, 32), MaxPropertyKeyBytes)}
	}
	if !utf8.ValidString(k) {
		return &FieldError{"properties", "keys must be valid UTF-8"}
	}
	field := "properties." + k
	switch v.Kind {
	case KindString:
		if len(v.Str) > MaxStringBytes {
			return &FieldError{field, fmt.Sprintf("string values must be at most %d bytes, got %d", MaxStringBytes, len(v.Str))}
		}
		if !utf8.ValidString(v.Str) {
			return &FieldError{field, "string values must be valid UTF-8"}
		}
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return &FieldError{field, "numbers must be finite"}
		}
	case KindBool:
	default:
		return &FieldError{field, "must be a string, number or bool"}
	}
	switch k {
	case "amount":
		if v.Kind != KindNumber {
			return &FieldError{field, "must be a finite number"}
		}
	case "currency":
		if v.Kind != KindString || !isCurrencyCode(v.Str) {
			return &FieldError{field, "must be a three-letter ISO 4217 code such as EUR"}
		}
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// CompareEvents orders events by time, then customer id, then event id: the
// order in which the archive returns a day and the simulator emits one.
func CompareEvents(a, b Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.CustomerID, b.CustomerID); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
