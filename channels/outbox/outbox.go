// Package outbox is the transport of a Kairos without providers — the
// embedded default configuration and the demo: it accepts every message,
// keeps the last ones in memory for people to look at (the admin server
// shows them), and optionally appends each to a log of JSON lines.
//
// It is idempotent: a message whose id (the decision id) it still keeps
// is not taken again, and the repeat gets the first receipt. The window
// of that deduplication is the Keep most recent messages, which is far
// longer than the dispatcher's retry of an interrupted attempt.
//
// It owns that memory and nothing else. It imports only the standard
// library and kairos/channels, and must not import the decisioning
// packages.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"sync"
	"time"

	"kairos/channels"
)

// DefaultKeep is the number of messages kept when Options.Keep is 0.
const DefaultKeep = 1000

// Options configure an Outbox.
type Options struct {
	// Keep is how many messages are kept, the oldest going first;
	// DefaultKeep when 0 or negative.
	Keep int
	// Log, when set, receives every accepted message as one line of JSON
	// (see Send). Writes are serialised, one Write per line.
	Log io.Writer
	// Now is the clock of Entry.At; time.Now when nil.
	Now func() time.Time
}

// Entry is one accepted message. Its JSON form is a line of the log (see
// Send).
type Entry struct {
	// At is when the outbox accepted the message.
	At      time.Time
	Message channels.Message
	// ProviderID is the receipt's: "outbox-<n>", n counting from 1.
	ProviderID string
}

// Outbox is a channels.Transport that keeps messages in memory. It is
// safe for concurrent use.
type Outbox struct {
	log  io.Writer
	now  func() time.Time
	mu   sync.Mutex
	ring []Entry // oldest at next when full
	next int     // where the next entry goes
	full bool
	ids  map[string]string // kept message id → ProviderID
	seq  int64
}

var _ channels.Transport = (*Outbox)(nil)

// New returns an empty Outbox.
func New(opts Options) *Outbox {
	keep := opts.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Outbox{log: opts.Log, now: now, ring: make([]Entry, keep), ids: make(map[string]string, keep)}
}

// line is the JSON form of an Entry.
type line struct {
	At             time.Time         `json:"at"`
	ProviderID     string            `json:"provider_id"`
	ID             string            `json:"id"`
	CustomerID     string            `json:"customer_id"`
	Campaign       string            `json:"campaign"`
	Offer          string            `json:"offer"`
	Channel        string            `json:"channel"`
	To             string            `json:"to"`
	Subject        string            `json:"subject,omitempty"`
	Title          string            `json:"title,omitempty"`
	Text           string            `json:"text,omitempty"`
	HTML           string            `json:"html,omitempty"`
	Data           map[string]string `json:"data,omitempty"`
	UnsubscribeURL string            `json:"unsubscribe_url,omitempty"`
}

// Send accepts m, keeping a copy, and returns its receipt; a message
// whose id is already kept is not taken again and gets its first receipt.
//
// With a Log, the accepted message is first written as one line:
//
//	{"at":"2026-03-01T12:00:00Z","provider_id":"outbox-1","id":"d1",
//	 "customer_id":"c1","campaign":"cart_recovery","offer":"reminder",
//	 "channel":"email","to":"ann@example.com","subject":"…","text":"…",
//	 "html":"…","data":{…},"unsubscribe_url":"…"}
//
// (empty subject, title, text, html, data and unsubscribe_url are left
// out). When that write fails the message is not kept and the error is
// Transient. So is an ended ctx. A message without an id is Invalid: it
// could not be deduplicated.
func (o *Outbox) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	if m == nil || m.ID == "" {
		return channels.Receipt{}, &channels.Error{Kind: channels.Invalid, Code: "no_id",
			Err: errors.New("outbox: the message has no id")}
	}
	if err := ctx.Err(); err != nil {
		return channels.Receipt{}, &channels.Error{Kind: channels.Transient, Err: fmt.Errorf("outbox: message %q: %w", m.ID, err)}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if id, ok := o.ids[m.ID]; ok {
		return channels.Receipt{ProviderID: id}, nil
	}
	e := Entry{At: o.now(), Message: *m, ProviderID: "outbox-" + strconv.FormatInt(o.seq+1, 10)}
	e.Message.Data = maps.Clone(m.Data)
	if o.log != nil {
		if err := o.write(&e); err != nil {
			return channels.Receipt{}, &channels.Error{Kind: channels.Transient, Err: fmt.Errorf("outbox: message %q: write the log: %w", m.ID, err)}
		}
	}
	o.seq++
	if o.full {
		delete(o.ids, o.ring[o.next].Message.ID)
	}
	o.ring[o.next] = e
	o.ids[m.ID] = e.ProviderID
	if o.next++; o.next == len(o.ring) {
		o.next, o.full = 0, true
	}
	return channels.Receipt{ProviderID: e.ProviderID}, nil
}

// write appends e to the log as one line.
func (o *Outbox) write(e *Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = o.log.Write(append(b, '\n'))
	return err
}

// MarshalJSON implements json.Marshaler: the form of a log line.
func (e Entry) MarshalJSON() ([]byte, error) {
	m := &e.Message
	return json.Marshal(line{
		At: e.At, ProviderID: e.ProviderID, ID: m.ID, CustomerID: m.CustomerID, Campaign: m.Campaign,
		Offer: m.Offer, Channel: m.Channel, To: m.To, Subject: m.Subject, Title: m.Title, Text: m.Text,
		HTML: m.HTML, Data: m.Data, UnsubscribeURL: m.UnsubscribeURL,
	})
}

// UnmarshalJSON implements json.Unmarshaler: it reads a log line.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*e = Entry{At: l.At, ProviderID: l.ProviderID, Message: channels.Message{
		ID: l.ID, CustomerID: l.CustomerID, Campaign: l.Campaign, Offer: l.Offer, Channel: l.Channel,
		To: l.To, Subject: l.Subject, Title: l.Title, Text: l.Text, HTML: l.HTML, Data: l.Data,
		UnsubscribeURL: l.UnsubscribeURL,
	}}
	return nil
}

// Messages returns up to limit kept messages of channel ("" for every
// channel), newest first; every kept one when limit is 0 or negative.
// The entries are copies.
func (o *Outbox) Messages(channel string, limit int) []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.lenLocked()
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Entry, 0, min(limit, 64))
	for i := 1; i <= n && len(out) < limit; i++ {
		e := o.ring[(o.next-i+len(o.ring))%len(o.ring)]
		if channel != "" && e.Message.Channel != channel {
			continue
		}
		e.Message.Data = maps.Clone(e.Message.Data)
		out = append(out, e)
	}
	return out
}

// Len returns the number of messages kept.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lenLocked()
}

func (o *Outbox) lenLocked() int {
	if o.full {
		return len(o.ring)
	}
	return o.next
}
