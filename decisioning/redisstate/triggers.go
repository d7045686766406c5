package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/features/redisstore"
)

// The trigger state of a customer (decisioning.TriggerState):
//
//	k:{<id>}:trig             hash: "j:<campaign>" → "<entered ms>:<until ms>:<followed ms>:<event id>"
//	                          (0: never) of the campaign's journey and the event of its last entry, "f:<name>" → "1" while
//	                          the named condition is true; no expiry (an entry rule of
//	                          once remembers for ever)
//	k:{<id>}:journal          list of JSON decisioning.JournalEntry, oldest first, the
//	                          newest decisioning.MaxJournal kept, expiring JournalTTL after
//	                          the last step
const (
	trigSuffix    = "trig"
	journalSuffix = "journal"
	// JournalTTL is how long a customer's journal is kept after its last
	// step.
	JournalTTL = 90 * 24 * time.Hour
)

var _ decisioning.TriggerState = (*State)(nil)

// fieldCAS sets hash KEYS[1] field ARGV[1] to ARGV[3] (deletes it when
// empty) when its value is still ARGV[2] ("" = absent); 1 when it did.
var fieldCAS = redis.NewScript(`#!lua
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`)

// flagSwap sets (ARGV[2] = "1") or clears field ARGV[1] of hash KEYS[1]
// and returns its previous value, or false.
var flagSwap = redis.NewScript(`#!lua
local was = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[1], '1') else redis.call('HDEL', KEYS[1], ARGV[1]) end
return was
`)

type journeyRec struct {
	entered, until, followed time.Time
	event                    string
}

func parseJourney(s string) (journeyRec, error) {
	var j journeyRec
	if s == "" {
		return j, nil
	}
	parts := strings.SplitN(s, ":", 4)
	if len(parts) == 4 {
		j.event = parts[3]
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return j, fmt.Errorf("redisstate: journey %q: want entered:until:followed:event", s)
	}
	ts := [3]*time.Time{&j.entered, &j.until, &j.followed}
	for i, p := range parts {
		ms, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return j, fmt.Errorf("redisstate: journey %q: %w", s, err)
		}
		if ms != 0 {
			*ts[i] = time.UnixMilli(ms).UTC()
		}
	}
	return j, nil
}

func (j journeyRec) String() string {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return fmt.Sprintf("%d:%d:%d:%s", ms(j.entered), ms(j.until), ms(j.followed), j.event)
}

// updateJourney applies fn to the stored journey with optimistic
// concurrency (fn decides from what it read; the write happens only if
// nothing changed it meanwhile) and returns fn's result.
func (s *State) updateJourney(ctx context.Context, customerID, campaign string, fn func(*journeyRec) (write bool)) error {
	key, field := redisstore.CustomerKey(customerID, trigSuffix), "j:"+campaign
	for range 20 {
		cur, err := s.client.HGet(ctx, key, field).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return s.fail(ctx, "read journey", err)
		}
		j, err := parseJourney(cur)
		if err != nil {
			return err
		}
		if !fn(&j) {
			return nil
		}
		ok, err := fieldCAS.Run(ctx, s.client, []string{key}, field, cur, j.String()).Int()
		if err != nil {
			return s.fail(ctx, "write journey", err)
		}
		if ok == 1 {
			return nil
		}
	}
	return fmt.Errorf("redisstate: journey of %s in %s: too much contention", customerID, campaign)
}

// Enter implements decisioning.TriggerState.
func (s *State) Enter(ctx context.Context, customerID, campaign, eventID string, at, until time.Time, rule decisioning.EntryRule) (decisioning.Entry, error) {
	var e decisioning.Entry
	err := s.updateJourney(ctx, customerID, campaign, func(j *journeyRec) bool {
		e = decisioning.Entry{}
		if j.event == eventID && eventID != "" {
			e.Entered = true // the same entry again
			return false
		}
		if e.Reason = decisioning.EntryRefusal(j.entered, j.until, j.followed, at, until, rule); e.Reason != "" {
			return false
		}
		e.Entered = true
		j.event, j.entered, j.until = eventID, at, until
		return true
	})
	return e, err
}

// Follow implements decisioning.TriggerState.
func (s *State) Follow(ctx context.Context, customerID, campaign string, at time.Time) error {
	return s.updateJourney(ctx, customerID, campaign, func(j *journeyRec) bool {
		if at.After(j.followed) {
			j.followed = at
		}
		if !at.Before(j.entered) && at.Before(j.until) {
			j.until = time.Time{} // the follow-up ends the journey in progress
		}
		return true
	})
}

// Followed implements decisioning.TriggerState.
func (s *State) Followed(ctx context.Context, customerID, campaign string, since, until time.Time) (bool, error) {
	var j journeyRec
	err := s.updateJourney(ctx, customerID, campaign, func(r *journeyRec) bool { j = *r; return false })
	return !j.followed.IsZero() && !j.followed.Before(since) && j.followed.Before(until), err
}

// SetFlag implements decisioning.TriggerState: one script.
func (s *State) SetFlag(ctx context.Context, customerID, name string, value bool) (bool, error) {
	v := "0"
	if value {
		v = "1"
	}
	was, err := flagSwap.Run(ctx, s.client, []string{redisstore.CustomerKey(customerID, trigSuffix)}, "f:"+name, v).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, s.fail(ctx, "set flag", err)
	}
	return was == "1", nil
}

// AppendJournal implements decisioning.TriggerState: one pipeline.
func (s *State) AppendJournal(ctx context.Context, customerID string, es []decisioning.JournalEntry) error {
	if len(es) == 0 {
		return nil
	}
	vals := make([]any, len(es))
	for i := range es {
		b, err := json.Marshal(&es[i])
		if err != nil {
			return fmt.Errorf("redisstate: journal: %w", err)
		}
		vals[i] = b
	}
	key := redisstore.CustomerKey(customerID, journalSuffix)
	pipe := s.client.TxPipeline()
	pipe.RPush(ctx, key, vals...)
	pipe.LTrim(ctx, key, -decisioning.MaxJournal, -1)
	pipe.Expire(ctx, key, JournalTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return s.fail(ctx, "append journal", err)
	}
	return nil
}

// Journal implements decisioning.TriggerState.
func (s *State) Journal(ctx context.Context, customerID string) ([]decisioning.JournalEntry, error) {
	raws, err := s.client.LRange(ctx, redisstore.CustomerKey(customerID, journalSuffix), 0, -1).Result()
	if err != nil {
		return nil, s.fail(ctx, "read journal", err)
	}
	out := make([]decisioning.JournalEntry, 0, len(raws))
	for _, r := range raws {
		var e decisioning.JournalEntry
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("redisstate: journal of %s: %w", customerID, err)
		}
		out = append(out, e)
	}
	return out, nil
}
