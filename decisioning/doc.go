// Package decisioning decides, for one customer at one decision point,
// whether a campaign sends a message and which arm (channel × offer) — or
// deliberately sends nothing — and records why.
//
// It owns Engine.Decide, the campaign configuration (ParseConfig and the
// documented built-in campaigns.yaml), the holdouts (Bucket, Share), the
// eligibility rules (consent, reachability, frequency caps, cooldowns,
// quiet hours) and the Decision record. It declares the small interfaces
// it consumes (the customer state, the scorer, the policy store), which
// adapters in other packages implement: it must not import Redis, pgx,
// leaves or gRPC.
//
// # A decision, step by step
//
//  1. Read the customer's features and record in one store round trip,
//     and score them with the model registry (churn, propensity, next best
//     action).
//  2. Global control group, then the campaign's holdout. Each layer hashes
//     (salt, customer id) into one of Buckets (10,000) buckets — see Bucket
//     for the exact formula, reproducible in Python — and holds the buckets
//     below its Share. Membership is sticky (the same on every instance and
//     after every restart); raising a percentage keeps every existing
//     member and only adds; the layers are independent because each has
//     its own salt (ParseConfig refuses a salt used twice). A customer in
//     either layer still goes through the policy, and the arm that would
//     have been sent is recorded (intent to treat) with outcome
//     GLOBAL_CONTROL or HOLDOUT; nothing is sent.
//  3. Eligibility, per arm: the channel must have the customer's consent
//     and reach them (no email address, no email arm), and they must not
//     have unsubscribed from it; the frequency caps — global, per channel
//     and per campaign, over rolling windows counting the messages sent
//     and the shadow sends of held-out decisions (Decision.Counts) — and
//     the campaign's cooldown must allow one more
//     message. An arm that fails is removed with its reason; when none is
//     left the outcome is SUPPRESSED. Quiet hours do not remove an arm: a
//     send that falls in them gets send_after, the next allowed time in
//     the customer's own time zone (QuietHours.NextAllowed, which handles
//     the wrap past midnight and daylight-saving changes).
//  4. The campaign's policy (a bandit: Thompson sampling, or linear
//     Thompson sampling on a context of scores and features) picks among
//     the remaining arms and reports the probability of each.
//  5. Record the decision (the ledger) and, for SEND, queue it for
//     dispatch.
//
// # Campaign configuration
//
// A configuration (--campaigns FILE; campaigns.yaml when none) holds the
// global rules — control group, caps, quiet hours, default time zone,
// model fallback — and the campaigns: arms, holdout, reward (conversion
// event, attribution window, value), policy, cooldown and caps. ParseConfig
// refuses a file with any error, naming the file, line, field and rule;
// Config.Version, the first 12 hex digits of the file's SHA-256, goes into
// every decision.
package decisioning
