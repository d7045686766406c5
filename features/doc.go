// Package features owns the event model and its validation, the feature
// definitions, the tiled window aggregation, and the Store and EventLog
// interfaces that the stores implement. It is pure: it must not import
// Redis, pgx or gRPC (stores live in features/redisstore and
// features/memstore).
//
// # Events
//
// An event is (event_id, customer_id, type, timestamp, properties). Set.ValidateEvent
// enforces the contract of ARCHITECTURE.md: ids of 1–128 bytes, a known type
// (StandardTypes or the definitions' custom_events), a time no more than
// MaxFutureSkew ahead of the server (missing: the server's time), at most 64
// properties with keys of at most 64 bytes, string values of at most 1 KiB,
// finite numbers, a numeric amount and an ISO 4217 currency. The event id is
// the idempotency key per customer: a store remembers an accepted id for the
// rest of its arrival week and all of the next (DedupWeek; the dedup horizon
// is 7 to 14 days) and reports a repeat within that time as a Duplicate that
// changes nothing.
//
// # Features
//
// A feature is (event type or "*", optional property filter, aggregation,
// window), or the ratio of two features; see defaults.yaml for the built-in
// set and Parse for the file format. With no event in its window, count, sum
// and distinct are 0; min, max, last, since_last, since_first and a ratio
// with a zero denominator are NaN.
//
// # The tile rule (sawtooth windows)
//
// Windowed count, sum, min, max, distinct and since_first are kept per tile:
// a fixed interval of event time aligned to the Unix epoch. A window of
// length W is tiled by the largest size that keeps at least twelve tiles in
// it (five below one hour):
//
//	window W          tile size T   tiles per stored bucket
//	5m  <= W < 1h     1 minute      10
//	1h  <= W < 12h    5 minutes     12
//	12h <= W < 12d    1 hour        24
//	12d <= W <= 90d   1 day         30
//
// and W must be a whole number of tiles. Read at time now, the window holds
// every tile whose start is at or after the start of the tile containing
// now-W; that is, it covers the events with time in
//
//	[floor((now-W)/T)*T, now]
//
// which is W plus (now-W) mod T (plus events up to MaxFutureSkew ahead of
// now, which are accepted and counted). So the window is never short, and at its
// old edge it may include at most one tile of extra history: the worst-case
// error is the events of T-1ms before now-W, at most W/12 of extra time for
// W >= 1h and W/5 below. since_last and last keep the newest event time and
// value for the lifetime and compare it with the same window start, so every
// aggregation of a window agrees on its edge. The online stores and offline
// replays (training exports) compute the same values because both use Plan,
// Apply and Compute of this package.
//
// Lifetime aggregations are kept in one per-customer hash (the meta hash).
// Tiles are grouped in buckets (one Redis hash each) that expire as a whole
// once their newest tile has left the longest window of their size, so the
// memory of a customer is bounded by the definitions, not by their history.
// An event from before the start of the longest window (Set.Longest, its
// start placed by the tile rule) is late: it is
// accepted into the event log but updates no feature.
//
// # Distinct counts
//
// distinct keeps, per tile, the KMVSize smallest 64-bit hashes of the
// values (a k-minimum-values sketch). The count is exact while a window
// holds fewer than KMVSize distinct values; above that it is estimated as
// (k-1)/U(k), with a relative standard error of about 1/sqrt(k-2) ≈ 12.7%.
package features
