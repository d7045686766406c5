-- 0002: metric windows (campaign metrics such as unsubscribes and churn).
-- A decision lists the metric windows it opened beside its reward window;
-- each closed metric window is a row of rewards under its metric's name, so
-- a reward is keyed by (decision_id, metric). Rows written before keep
-- metric '' (the reward window) and metrics NULL (no metric windows).

ALTER TABLE rewards ADD COLUMN metric text NOT NULL DEFAULT '';
ALTER TABLE rewards DROP CONSTRAINT rewards_pkey;
ALTER TABLE rewards ADD CONSTRAINT rewards_pkey PRIMARY KEY (decision_id, metric);
COMMENT ON COLUMN rewards.metric IS 'The metric whose window the row closed (kairos decisioning.Reward.Metric); '''' for the decision''s reward window, the one its policy learns from.';

ALTER TABLE decisions ADD COLUMN metrics jsonb;  -- [{name, event, until}]; NULL: none
COMMENT ON COLUMN decisions.metrics IS 'The metric windows the decision opened (kairos decisioning.Decision.Metrics): [{"name", "event", "until"}], until an RFC 3339 UTC time with microseconds.';
