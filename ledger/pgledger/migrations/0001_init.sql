-- 0001: the ledger's tables. Kept by package kairos/ledger/pgledger; never
-- edit a migration that has shipped, add the next one instead.

-- Every decision, holdouts and suppressions included: measurement needs them.
CREATE TABLE decisions (
    decision_id    text PRIMARY KEY,
    customer_id    text NOT NULL,
    campaign       text NOT NULL,
    request_id     text NOT NULL,              -- '' when the caller gave none
    outcome        text NOT NULL CHECK (outcome IN ('SEND', 'HOLDOUT', 'GLOBAL_CONTROL', 'SUPPRESSED', 'NO_ACTION')),
    channel        text NOT NULL,              -- chosen arm, also for holdouts; '' when none
    offer          text NOT NULL,
    arm_index      integer NOT NULL,           -- -1 when no arm was chosen
    propensity     double precision NOT NULL,
    arms           jsonb,                      -- [{channel, offer, probability}]
    scores         jsonb NOT NULL,             -- {churn, propensity, next_best_action: {class: p}}
    reasons        text[],
    decided_at     timestamptz NOT NULL,
    send_after     timestamptz,                -- NULL: at once
    versions       jsonb,                      -- {churn, propensity, nba, policy, campaigns}
    feature_names  text[],
    features       double precision[],         -- NaN: missing
    context        jsonb,                      -- the caller's request context
    expected_value double precision NOT NULL,
    segment        integer NOT NULL,
    policy_context double precision[],
    reward_event   text NOT NULL,              -- '' without a reward window
    reward_value   text NOT NULL,
    reward_until   timestamptz
);
CREATE INDEX decisions_campaign_decided_at ON decisions (campaign, decided_at);
CREATE INDEX decisions_customer_decided_at ON decisions (customer_id, decided_at);
COMMENT ON TABLE decisions IS 'One row per decision (kairos decisioning.Decision). Numbers inside jsonb that are not finite are the strings "NaN", "Infinity", "-Infinity" (and negative zero "-0"), which ->> and ::float8 read back.';

-- Closed reward windows, one per decision with a chosen arm.
CREATE TABLE rewards (
    decision_id text PRIMARY KEY,
    customer_id text NOT NULL,
    campaign    text NOT NULL,
    converted   boolean NOT NULL,
    value       double precision NOT NULL,
    event_id    text NOT NULL,                 -- '' when not converted
    event_at    timestamptz,
    closed_at   timestamptz NOT NULL
);
CREATE INDEX rewards_campaign_closed_at ON rewards (campaign, closed_at);
CREATE INDEX rewards_customer_closed_at ON rewards (customer_id, closed_at);

-- Dispatch attempts of decisions that send, one row per attempt.
CREATE TABLE dispatches (
    decision_id         text NOT NULL,
    attempt             integer NOT NULL CHECK (attempt >= 0),
    status              text NOT NULL,
    channel             text NOT NULL,
    provider_message_id text NOT NULL,
    error               text NOT NULL,
    at                  timestamptz NOT NULL,
    PRIMARY KEY (decision_id, attempt)
);
CREATE INDEX dispatches_status_at ON dispatches (status, at);
