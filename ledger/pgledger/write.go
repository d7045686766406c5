package pgledger

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kairos/decisioning"
	"kairos/ledger"
)

// chunkSize bounds the records of one write transaction.
const chunkSize = 5000

// table describes how a batch is copied into one of the tables.
type table struct {
	name   string
	temp   string // the per-transaction staging table
	cols   []string
	create string
	insert string
}

func newTable(name, key string, cols ...string) *table {
	list := strings.Join(cols, ", ")
	temp := "kairos_" + name + "_in"
	return &table{
		name: name,
		temp: temp,
		cols: cols,
		// LIKE copies the columns and their types and NOT NULLs.
		create: "CREATE TEMP TABLE " + temp + " (LIKE " + name + ") ON COMMIT DROP",
		// Ordered by key: concurrent writers lock rows in one order.
		insert: "INSERT INTO " + name + " (" + list + ") SELECT " + list + " FROM " + temp +
			" ORDER BY " + key + " ON CONFLICT (" + key + ") DO NOTHING",
	}
}

var (
	decisionsTable = newTable("decisions", "decision_id",
		"decision_id", "customer_id", "campaign", "request_id", "outcome", "channel", "offer",
		"arm_index", "propensity", "arms", "scores", "reasons", "decided_at", "send_after",
		"versions", "feature_names", "features", "context", "expected_value", "segment",
		"policy_context", "reward_event", "reward_value", "reward_until", "metrics")
	rewardsTable = newTable("rewards", "decision_id, metric",
		"decision_id", "customer_id", "campaign", "metric", "converted", "value", "event_id", "event_at", "closed_at")
	dispatchesTable = newTable("dispatches", "decision_id, attempt",
		"decision_id", "attempt", "status", "channel", "provider_message_id", "error", "at")
)

// WriteDecisions implements ledger.Ledger.
func (s *Store) WriteDecisions(ctx context.Context, ds []decisioning.Decision) error {
	for i := range ds {
		if err := ledger.ValidateDecision(&ds[i]); err != nil {
			return err
		}
	}
	ds = firsts(ds, func(d *decisioning.Decision) string { return d.ID })
	for c := range slices.Chunk(ds, chunkSize) {
		err := s.copyIn(ctx, decisionsTable, len(c), func(i int) ([]any, error) {
			d := &c[i]
			return []any{
				d.ID, d.CustomerID, d.Campaign, d.RequestID, d.Outcome.String(), d.Channel, d.Offer,
				int32(d.ArmIndex), d.Propensity, orNull(encodeArms(d.Arms)), encodeScores(&d.Scores),
				orNull(d.Reasons), d.DecidedAt, timeOrNull(d.SendAfter),
				orNull(encodeStrings(d.Versions)), orNull(d.FeatureNames), orNull(d.Features),
				orNull(encodeStrings(d.Context)), d.ExpectedValue, int32(d.Segment),
				orNull(d.PolicyContext), d.RewardEvent, d.RewardValue, timeOrNull(d.RewardUntil),
				orNull(encodeMetrics(d.Metrics)),
			}, nil
		})
		if err != nil {
			return wrap("write decisions", err)
		}
	}
	return nil
}

// WriteRewards implements ledger.Ledger.
func (s *Store) WriteRewards(ctx context.Context, rs []decisioning.Reward) error {
	for i := range rs {
		if err := ledger.ValidateReward(&rs[i]); err != nil {
			return err
		}
	}
	type key struct{ id, metric string }
	rs = firsts(rs, func(r *decisioning.Reward) key { return key{r.DecisionID, r.Metric} })
	for c := range slices.Chunk(rs, chunkSize) {
		err := s.copyIn(ctx, rewardsTable, len(c), func(i int) ([]any, error) {
			r := &c[i]
			return []any{
				r.DecisionID, r.CustomerID, r.Campaign, r.Metric, r.Converted, r.Value, r.EventID,
				timeOrNull(r.EventAt), r.ClosedAt,
			}, nil
		})
		if err != nil {
			return wrap("write rewards", err)
		}
	}
	return nil
}

// WriteDispatches implements ledger.Ledger.
func (s *Store) WriteDispatches(ctx context.Context, ds []ledger.Dispatch) error {
	for i := range ds {
		if err := ledger.ValidateDispatch(&ds[i]); err != nil {
			return err
		}
	}
	type key struct {
		id      string
		attempt int
	}
	ds = firsts(ds, func(d *ledger.Dispatch) key { return key{d.DecisionID, d.Attempt} })
	for c := range slices.Chunk(ds, chunkSize) {
		err := s.copyIn(ctx, dispatchesTable, len(c), func(i int) ([]any, error) {
			d := &c[i]
			return []any{d.DecisionID, int32(d.Attempt), d.Status, d.Channel, d.ProviderMessageID, d.Error, d.At}, nil
		})
		if err != nil {
			return wrap("write dispatches", err)
		}
	}
	return nil
}

// copyIn writes n rows to t in one transaction: COPY into a temporary
// table, then insert what is new.
func (s *Store) copyIn(ctx context.Context, t *table, n int, row func(i int) ([]any, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, t.create); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.temp}, t.cols, pgx.CopyFromSlice(n, row)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, t.insert); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// rollbackTimeout bounds a rollback, which must not wait for a database
// that does not answer.
const rollbackTimeout = 5 * time.Second

// rollback ends tx if it is still open (after Commit it does nothing),
// even when ctx has ended.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// firsts returns s without the records whose key an earlier one has; s
// itself when there are none.
func firsts[T any, K comparable](s []T, key func(*T) K) []T {
	seen := make(map[K]struct{}, len(s))
	var out []T
	for i := range s {
		k := key(&s[i])
		if _, dup := seen[k]; dup {
			if out == nil {
				out = slices.Clone(s[:i])
			}
			continue
		}
		seen[k] = struct{}{}
		if out != nil {
			out = append(out, s[i])
		}
	}
	if out == nil {
		return s
	}
	return out
}

// orNull returns v, or an untyped nil (SQL NULL) for a nil slice.
func orNull[T any](v []T) any {
	if v == nil {
		return nil
	}
	return v
}

// timeOrNull returns t, or nil (SQL NULL) for the zero time.
func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
