package pgledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"kairos/decisioning"
	"kairos/ledger"
)

var (
	decisionCols = strings.Join(decisionsTable.cols, ", ")
	rewardCols   = strings.Join(rewardsTable.cols, ", ")
	dispatchCols = strings.Join(dispatchesTable.cols, ", ")
)

// Decision implements ledger.Ledger.
func (s *Store) Decision(ctx context.Context, id string) (decisioning.Decision, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+decisionCols+" FROM decisions WHERE decision_id = $1", id)
	if err != nil {
		return decisioning.Decision{}, wrap("read decision", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDecision)
	if errors.Is(err, pgx.ErrNoRows) {
		return decisioning.Decision{}, fmt.Errorf("pgledger: decision %q: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return decisioning.Decision{}, wrap("read decision", err)
	}
	return d, nil
}

// Decisions implements ledger.Ledger.
func (s *Store) Decisions(ctx context.Context, q ledger.Query) ([]decisioning.Decision, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	where, args := filter(q, "decided_at")
	rows, err := s.pool.Query(ctx, "SELECT "+decisionCols+" FROM decisions"+where+" ORDER BY decided_at, decision_id"+limit(q, &args), args...)
	if err != nil {
		return nil, wrap("read decisions", err)
	}
	ds, err := pgx.CollectRows(rows, scanDecision)
	if err != nil {
		return nil, wrap("read decisions", err)
	}
	return ds, nil
}

// Rewards implements ledger.Ledger.
func (s *Store) Rewards(ctx context.Context, q ledger.Query) ([]decisioning.Reward, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	where, args := filter(q, "closed_at")
	rows, err := s.pool.Query(ctx, "SELECT "+rewardCols+" FROM rewards"+where+" ORDER BY closed_at, decision_id, metric"+limit(q, &args), args...)
	if err != nil {
		return nil, wrap("read rewards", err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (decisioning.Reward, error) {
		var r decisioning.Reward
		var eventAt pgtype.Timestamptz
		err := row.Scan(&r.DecisionID, &r.CustomerID, &r.Campaign, &r.Metric, &r.Converted, &r.Value, &r.EventID, &eventAt, &r.ClosedAt)
		r.EventAt, r.ClosedAt = nullableTime(eventAt), r.ClosedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, wrap("read rewards", err)
	}
	return rs, nil
}

// Dispatches implements ledger.Ledger.
func (s *Store) Dispatches(ctx context.Context, decisionID string) ([]ledger.Dispatch, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+dispatchCols+" FROM dispatches WHERE decision_id = $1 ORDER BY attempt", decisionID)
	if err != nil {
		return nil, wrap("read dispatches", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Dispatch, error) {
		var d ledger.Dispatch
		err := row.Scan(&d.DecisionID, &d.Attempt, &d.Status, &d.Channel, &d.ProviderMessageID, &d.Error, &d.At)
		d.At = d.At.UTC()
		return d, err
	})
	if err != nil {
		return nil, wrap("read dispatches", err)
	}
	return ds, nil
}

// filter returns the WHERE clause of q on the time column col, and its
// arguments. Only the conditions q sets are written, so that each query
// can use the index on (campaign or customer_id, col).
func filter(q ledger.Query, col string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if q.Campaign != "" {
		add("campaign = ?", q.Campaign)
	}
	if q.CustomerID != "" {
		add("customer_id = ?", q.CustomerID)
	}
	if !q.From.IsZero() {
		add(col+" >= ?", q.From)
	}
	if !q.To.IsZero() {
		add(col+" < ?", q.To)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// limit returns the LIMIT clause of q, its argument appended to args (a
// parameter rather than a literal, so that the prepared statements pgx
// caches do not multiply with the limits asked).
func limit(q ledger.Query, args *[]any) string {
	if q.Limit <= 0 {
		return ""
	}
	*args = append(*args, q.Limit)
	return " LIMIT $" + strconv.Itoa(len(*args))
}

// scanDecision reads one row of decisionCols.
func scanDecision(row pgx.CollectableRow) (decisioning.Decision, error) {
	var (
		d                                        decisioning.Decision
		outcome                                  string
		arms, scores, versions, ctxJSON, metrics []byte
		sendAfter, rewardUntil                   pgtype.Timestamptz
	)
	err := row.Scan(
		&d.ID, &d.CustomerID, &d.Campaign, &d.RequestID, &outcome, &d.Channel, &d.Offer,
		&d.ArmIndex, &d.Propensity, &arms, &scores, &d.Reasons, &d.DecidedAt, &sendAfter,
		&versions, &d.FeatureNames, &d.Features, &ctxJSON, &d.ExpectedValue, &d.Segment,
		&d.PolicyContext, &d.RewardEvent, &d.RewardValue, &rewardUntil, &metrics,
	)
	if err != nil {
		return d, err
	}
	bad := func(err error) (decisioning.Decision, error) {
		return d, fmt.Errorf("decision %q: %w", d.ID, err)
	}
	if d.Outcome, err = decisioning.ParseOutcome(outcome); err != nil {
		return bad(err)
	}
	if d.Arms, err = decodeArms(arms); err != nil {
		return bad(err)
	}
	if d.Scores, err = decodeScores(scores); err != nil {
		return bad(err)
	}
	if d.Versions, err = decodeStrings(versions); err != nil {
		return bad(fmt.Errorf("versions: %w", err))
	}
	if d.Context, err = decodeStrings(ctxJSON); err != nil {
		return bad(fmt.Errorf("context: %w", err))
	}
	if d.Metrics, err = decodeMetrics(metrics); err != nil {
		return bad(err)
	}
	d.DecidedAt = d.DecidedAt.UTC()
	d.SendAfter, d.RewardUntil = nullableTime(sendAfter), nullableTime(rewardUntil)
	return d, nil
}

// nullableTime returns t in UTC, the zero time for NULL.
func nullableTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
