package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/decisioning"
	"kairos/features"
)

// Decide asks the engine for a decision.
func (s *Server) Decide(ctx context.Context, req *kairosv1.DecideRequest) (*kairosv1.DecideResponse, error) {
	if s.engine == nil {
		return nil, s.status(ctx, errNoEngine)
	}
	d, err := s.engine.Decide(ctx, decisioning.Request{
		CustomerID: req.GetCustomerId(), Campaigns: req.GetCampaigns(),
		RequestID: req.GetRequestId(), Context: req.GetContext(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	// The feature vector stays out of the hot path's response (it is most
	// of its size); ExplainDecision returns it.
	return &kairosv1.DecideResponse{Decision: DecisionToProto(d, false)}, nil
}

// ExplainDecision returns a recorded decision from the ledger.
func (s *Server) ExplainDecision(ctx context.Context, req *kairosv1.ExplainDecisionRequest) (*kairosv1.Decision, error) {
	if s.ledger == nil {
		return nil, s.status(ctx, errNoEngine)
	}
	id := req.GetDecisionId()
	if !decisioning.ValidID(id) {
		return nil, s.status(ctx, &features.FieldError{Field: "decision_id", Rule: "must be a decision id as Decide returns it: 26 characters of 0-9 and a-z"})
	}
	d, err := s.ledger.Decision(ctx, id)
	if err != nil {
		return nil, s.status(ctx, fmt.Errorf("server: explain %q: %w", id, err))
	}
	out := DecisionToProto(&d, true)
	if d.Sends() {
		xs, err := s.ledger.Dispatches(ctx, id)
		if err != nil {
			return nil, s.status(ctx, fmt.Errorf("server: explain %q: dispatch attempts: %w", id, err))
		}
		for _, x := range xs {
			out.Dispatches = append(out.Dispatches, &kairosv1.DispatchAttempt{
				Attempt: int32(x.Attempt), Status: x.Status, Channel: x.Channel,
				ProviderMessageId: x.ProviderMessageID, Error: x.Error, At: timestamppb.New(x.At),
			})
		}
	}
	return out, nil
}

// DecisionToProto maps a decision to the API, with its feature vector when
// withFeatures is set.
func DecisionToProto(d *decisioning.Decision, withFeatures bool) *kairosv1.Decision {
	out := &kairosv1.Decision{
		DecisionId: d.ID, CustomerId: d.CustomerID, Campaign: d.Campaign,
		Outcome: kairosv1.Outcome(d.Outcome), Channel: d.Channel, Offer: d.Offer,
		Propensity: d.Propensity, Reasons: d.Reasons, Versions: d.Versions,
		Scores: &kairosv1.Scores{
			Churn: d.Scores.Churn, Propensity: d.Scores.Propensity, NextBestAction: d.Scores.NextBestAction,
		},
		DecidedAt: timestamppb.New(d.DecidedAt),
		Arms:      make([]*kairosv1.ArmProbability, len(d.Arms)),
	}
	if !d.SendAfter.IsZero() {
		out.SendAfter = timestamppb.New(d.SendAfter)
	}
	for i, a := range d.Arms {
		out.Arms[i] = &kairosv1.ArmProbability{Channel: a.Channel, Offer: a.Offer, Probability: a.Probability}
	}
	if withFeatures {
		out.Features = make([]*kairosv1.Feature, len(d.FeatureNames))
		for i, n := range d.FeatureNames {
			out.Features[i] = &kairosv1.Feature{Name: n, Value: d.Features[i]}
		}
	}
	return out
}
