package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
)

// explainStep is one line of a customer's timeline: a trigger step from
// the journal, a decision from the ledger, or a delivery attempt.
type explainStep struct {
	At       time.Time `json:"at"`
	Campaign string    `json:"campaign,omitempty"`
	// Kind is a decisioning.Journal* kind, "decision" or "dispatch".
	Kind       string `json:"kind"`
	Detail     string `json:"detail"`
	EventID    string `json:"event_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// explainLimit bounds the decisions a timeline reads from the ledger (the
// newest).
const explainLimit = 1000

// timeline builds a customer's timeline, oldest first: the trigger
// journal (when the store keeps one), the decisions recorded in the
// ledger with their reasons, and each decision's delivery attempts;
// campaign, when not empty, keeps that campaign's steps only.
func timeline(ctx context.Context, l ledger.Ledger, ts decisioning.TriggerState, customerID, campaign string) ([]explainStep, error) {
	var steps []explainStep
	if ts != nil {
		js, err := ts.Journal(ctx, customerID)
		if err != nil {
			return nil, fmt.Errorf("read the trigger journal: %w", err)
		}
		for _, j := range js {
			steps = append(steps, explainStep{At: j.At, Campaign: j.Campaign, Kind: j.Kind, Detail: j.Detail, EventID: j.EventID, DecisionID: j.DecisionID})
		}
	}
	ds, err := l.Decisions(ctx, ledger.Query{CustomerID: customerID, Campaign: campaign})
	if err != nil {
		return nil, fmt.Errorf("read the decisions: %w", err)
	}
	if len(ds) > explainLimit {
		ds = ds[len(ds)-explainLimit:]
	}
	for i := range ds {
		d := &ds[i]
		detail := fmt.Sprintf("%s %s, reasons %s", d.Outcome, decisioning.ArmKey(d.Channel, d.Offer), strings.Join(d.Reasons, ", "))
		if t := d.Context["trigger"]; t != "" {
			detail += fmt.Sprintf("; triggered (%s, event %s)", t, d.Context["trigger_event"])
		} else if d.RequestID != "" {
			detail += "; asked by the app (request " + d.RequestID + ")"
		}
		if d.ArmIndex >= 0 && d.Propensity > 0 {
			detail += fmt.Sprintf("; policy chose it with probability %.3f", d.Propensity)
		}
		if !d.SendAfter.IsZero() {
			detail += "; quiet hours: send after " + d.SendAfter.UTC().Format(time.RFC3339)
		}
		steps = append(steps, explainStep{At: d.DecidedAt, Campaign: d.Campaign, Kind: "decision", Detail: detail, DecisionID: d.ID})
		if d.Outcome != decisioning.Send {
			continue
		}
		as, err := l.Dispatches(ctx, d.ID)
		if err != nil {
			return nil, fmt.Errorf("read the delivery attempts of %s: %w", d.ID, err)
		}
		for _, a := range as {
			detail := fmt.Sprintf("attempt %d on %s: %s", a.Attempt, a.Channel, a.Status)
			if a.Error != "" {
				detail += " (" + a.Error + ")"
			}
			steps = append(steps, explainStep{At: a.At, Campaign: d.Campaign, Kind: "dispatch", Detail: detail, DecisionID: d.ID})
		}
	}
	if campaign != "" {
		steps = slices.DeleteFunc(steps, func(s explainStep) bool { return s.Campaign != "" && s.Campaign != campaign })
	}
	slices.SortStableFunc(steps, func(a, b explainStep) int { return a.At.Compare(b.At) })
	return steps, nil
}

// explainHandler serves GET /explain?customer=ID[&campaign=NAME]: the
// customer's timeline as JSON.
func explainHandler(l ledger.Ledger, ts decisioning.TriggerState, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "explain: use GET /explain?customer=ID[&campaign=NAME]", http.StatusMethodNotAllowed)
			return
		}
		cid := r.URL.Query().Get("customer")
		if cid == "" || len(cid) > 128 {
			http.Error(w, "explain: the query parameter customer is required: a customer id of 1-128 bytes", http.StatusBadRequest)
			return
		}
		steps, err := timeline(r.Context(), l, ts, cid, r.URL.Query().Get("campaign"))
		if err != nil {
			logger.Error("explain", "customer", cid, "err", err)
			http.Error(w, "explain: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, struct {
			Customer string        `json:"customer"`
			Steps    []explainStep `json:"steps"`
		}{cid, append([]explainStep{}, steps...)})
	})
}

// explain runs `kairos explain`: a customer's timeline from a running
// serve's admin endpoint.
func explain(ctx context.Context, env environment, args []string) error {
	var customer, campaign, admin string
	var asJSON bool
	fs := flagSet("explain", "Why did (or didn't) this customer get that message? Lists, oldest first, the trigger\n"+
		"evaluations, timers set and cancelled, decisions with their reasons (holdout, caps, quiet hours,\n"+
		"consent, the policy's choice) and delivery attempts of a customer, from a running kairos serve.", env)
	fs.StringVar(&customer, "customer", "", "the customer `id` (required)")
	fs.StringVar(&campaign, "campaign", "", "only this `campaign`'s steps")
	fs.StringVar(&admin, "admin", "http://127.0.0.1:7401", "admin `URL` of a running kairos serve")
	fs.BoolVar(&asJSON, "json", false, "print the timeline as JSON")
	if err := parseFlags(fs, env, "explain", args); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	if customer == "" {
		return errors.New("explain: --customer is required (the customer id whose timeline to show)")
	}
	u, err := url.Parse(strings.TrimRight(admin, "/") + "/explain")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("explain: --admin %q is not an http(s) URL such as http://127.0.0.1:7401", admin)
	}
	q := url.Values{"customer": {customer}}
	if campaign != "" {
		q.Set("campaign", campaign)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("explain: ask %s: %w (is kairos serve running there? --admin names another)", admin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("explain: read the answer of %s: %w", admin, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("explain: %s answered %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	if asJSON {
		_, err := env.stdout.Write(body)
		return err
	}
	var tl struct {
		Customer string        `json:"customer"`
		Steps    []explainStep `json:"steps"`
	}
	if err := json.Unmarshal(body, &tl); err != nil {
		return fmt.Errorf("explain: %s did not answer a timeline: %w", u, err)
	}
	writeTimeline(env.stdout, tl.Customer, campaign, tl.Steps)
	return nil
}

// writeTimeline prints a timeline as an aligned table.
func writeTimeline(w io.Writer, customer, campaign string, steps []explainStep) {
	scope := ""
	if campaign != "" {
		scope = " in campaign " + campaign
	}
	if len(steps) == 0 {
		fmt.Fprintf(w, "no trigger step, decision or delivery attempt of customer %s%s is recorded\n", customer, scope)
		return
	}
	fmt.Fprintf(w, "customer %s%s: %d steps, oldest first\n", customer, scope, len(steps))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCAMPAIGN\tSTEP\tDETAIL")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.At.UTC().Format("2006-01-02 15:04:05.000"), s.Campaign, strings.ReplaceAll(s.Kind, "_", " "), s.Detail)
	}
	tw.Flush()
}
