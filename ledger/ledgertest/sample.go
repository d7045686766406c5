package ledgertest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"kairos/decisioning"
)

// SampleFeatures is the number of features of a Sample decision.
const SampleFeatures = 40

var (
	sampleCampaigns = []string{"winback", "onboarding", "upsell_annual"}
	sampleArms      = []decisioning.ArmProbability{
		{Channel: decisioning.ChannelEmail, Offer: "discount_10"},
		{Channel: decisioning.ChannelPush, Offer: "discount_10"},
		{Channel: decisioning.ChannelSMS, Offer: "free_month"},
		{Channel: decisioning.ChannelNone},
	}
	sampleFeatureNames = func() []string {
		names := make([]string, SampleFeatures)
		for i := range names {
			names[i] = fmt.Sprintf("feature_%02d_events_7d", i)
		}
		return names
	}()
)

// Sample returns n realistic decisions, the same for the same seed: a
// few campaigns and many customers, every outcome, four arms with their
// probabilities, scores (NaN now and then), reasons, versions, request
// context, SampleFeatures features of which some are missing (NaN), a
// policy context vector, and a reward window with two metric windows.
// Their times are a millisecond apart from 2026-03-01, with
// sub-microsecond parts, in UTC.
func Sample(n int, seed uint64) []decisioning.Decision {
	r := rand.New(rand.NewPCG(seed, 0x6b6169726f73))
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	out := make([]decisioning.Decision, n)
	for i := range out {
		at := base.Add(time.Duration(i)*time.Millisecond + time.Duration(r.IntN(1000)))
		d := decisioning.Decision{
			ID:         fmt.Sprintf("dec-%x-%08d", seed, i),
			CustomerID: fmt.Sprintf("cust-%06d", r.IntN(max(n/2, 1))),
			Campaign:   sampleCampaigns[r.IntN(len(sampleCampaigns))],
			RequestID:  fmt.Sprintf("req-%x-%d", seed, i/2),
			Outcome:    decisioning.Outcome(1 + r.IntN(5)),
			ArmIndex:   -1,
			Scores: decisioning.Scores{
				Churn:      r.Float64(),
				Propensity: r.Float64(),
				NextBestAction: map[string]float64{
					"email": r.Float64() / 2, "push": r.Float64() / 4, "none": r.Float64() / 4,
				},
			},
			DecidedAt: at,
			Versions: map[string]string{
				"churn": "churn-2026-02-20", "propensity": "prop-2026-02-18", "nba": "nba-2026-02-11",
				"policy": "thompson-v3", "campaigns": "a1b2c3d4e5f6",
			},
			FeatureNames:  slices.Clone(sampleFeatureNames),
			Features:      make([]float64, SampleFeatures),
			Context:       map[string]string{"platform": "ios", "screen": "home"},
			Segment:       r.IntN(12),
			PolicyContext: make([]float64, 8),
		}
		if r.IntN(20) == 0 {
			d.Scores.Churn = math.NaN()
		}
		for j := range d.Features {
			if r.IntN(8) == 0 {
				d.Features[j] = math.NaN()
			} else {
				d.Features[j] = math.Round(r.ExpFloat64()*100) / 10
			}
		}
		for j := range d.PolicyContext {
			d.PolicyContext[j] = r.NormFloat64()
		}
		switch d.Outcome {
		case decisioning.Suppressed:
			d.Reasons = []string{"cap:sms:1/7d", "cooldown:email"}
		case decisioning.NoAction:
			d.Channel = decisioning.ChannelNone
			d.ArmIndex = len(sampleArms) - 1
			d.Reasons = []string{"policy:none"}
		default:
			arm := r.IntN(len(sampleArms) - 1)
			d.ArmIndex = arm
			d.Channel, d.Offer = sampleArms[arm].Channel, sampleArms[arm].Offer
			d.Reasons = []string{"eligible", "policy:thompson"}
			if d.Outcome == decisioning.Holdout {
				d.Reasons = append([]string{"holdout"}, d.Reasons...)
			}
			d.RewardEvent, d.RewardValue = "purchase", "amount"
			d.RewardUntil = at.Add(7 * 24 * time.Hour)
			d.Metrics = []decisioning.MetricWindow{
				{Name: "unsubscribe", Event: "unsubscribed", Until: at.Add(7 * 24 * time.Hour)},
				{Name: "churn_30d", Event: "subscription_cancelled", Until: at.Add(30 * 24 * time.Hour)},
			}
			if d.Outcome == decisioning.Send && r.IntN(4) == 0 {
				d.SendAfter = at.Add(9 * time.Hour)
				d.Reasons = append(d.Reasons, "quiet_hours")
			}
		}
		if d.ArmIndex >= 0 {
			d.Arms = make([]decisioning.ArmProbability, len(sampleArms))
			total := 0.0
			for j := range d.Arms {
				d.Arms[j] = sampleArms[j]
				d.Arms[j].Probability = r.Float64()
				total += d.Arms[j].Probability
			}
			for j := range d.Arms {
				d.Arms[j].Probability /= total
			}
			d.Propensity = d.Arms[d.ArmIndex].Probability
			d.ExpectedValue = r.Float64() * 3
		}
		out[i] = d
	}
	return out
}
