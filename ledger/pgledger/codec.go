package pgledger

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"kairos/decisioning"
	"kairos/features"
	"kairos/ledger"
)

// The jsonb columns are written by hand-made encoders (faster than
// encoding/json's reflection, and in control of non-finite numbers) and
// read with encoding/json through jsonFloat.

// appendFloat appends f as a JSON value: a number when finite and not
// negative zero, else PostgreSQL's spelling of it as a string ("NaN",
// "Infinity", "-Infinity", "-0"), which jsonb's numeric numbers could not
// keep.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	case f == 0 && math.Signbit(f):
		return append(b, `"-0"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// encodeArms returns the arms as jsonb, nil (NULL) for nil arms.
func encodeArms(arms []decisioning.ArmProbability) []byte {
	if arms == nil {
		return nil
	}
	b := make([]byte, 0, 2+64*len(arms))
	b = append(b, '[')
	for i, a := range arms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = features.AppendJSONString(b, a.Channel)
		b = append(b, `,"offer":`...)
		b = features.AppendJSONString(b, a.Offer)
		b = append(b, `,"probability":`...)
		b = appendFloat(b, a.Probability)
		b = append(b, '}')
	}
	return append(b, ']')
}

// encodeScores returns the scores as jsonb; next_best_action is absent
// when nil, {} when empty.
func encodeScores(s *decisioning.Scores) []byte {
	b := make([]byte, 0, 64+32*len(s.NextBestAction))
	b = append(b, `{"churn":`...)
	b = appendFloat(b, s.Churn)
	b = append(b, `,"propensity":`...)
	b = appendFloat(b, s.Propensity)
	if s.NextBestAction != nil {
		b = append(b, `,"next_best_action":{`...)
		first := true
		for k, v := range s.NextBestAction {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = features.AppendJSONString(b, k)
			b = append(b, ':')
			b = appendFloat(b, v)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// encodeStrings returns a string map as jsonb, nil (NULL) for a nil map.
func encodeStrings(m map[string]string) []byte {
	if m == nil {
		return nil
	}
	b := make([]byte, 0, 2+32*len(m))
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = features.AppendJSONString(b, k)
		b = append(b, ':')
		b = features.AppendJSONString(b, v)
	}
	return append(b, '}')
}

// jsonFloat reads what appendFloat writes: a number, or a string that
// strconv.ParseFloat reads ("NaN", "Infinity", "-Infinity", "-0").
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("pgledger: number %q in jsonb: %w", s, err)
		}
		*f = jsonFloat(v)
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("pgledger: number %s in jsonb: %w", b, err)
	}
	*f = jsonFloat(v)
	return nil
}

type jsonArm struct {
	Channel     string    `json:"channel"`
	Offer       string    `json:"offer"`
	Probability jsonFloat `json:"probability"`
}

type jsonScores struct {
	Churn          jsonFloat             `json:"churn"`
	Propensity     jsonFloat             `json:"propensity"`
	NextBestAction *map[string]jsonFloat `json:"next_best_action"`
}

// decodeArms is the inverse of encodeArms.
func decodeArms(b []byte) ([]decisioning.ArmProbability, error) {
	if b == nil {
		return nil, nil
	}
	var js []jsonArm
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("arms: %w", err)
	}
	arms := make([]decisioning.ArmProbability, len(js))
	for i, a := range js {
		arms[i] = decisioning.ArmProbability{Channel: a.Channel, Offer: a.Offer, Probability: float64(a.Probability)}
	}
	return arms, nil
}

// decodeScores is the inverse of encodeScores.
func decodeScores(b []byte) (decisioning.Scores, error) {
	var js jsonScores
	if err := json.Unmarshal(b, &js); err != nil {
		return decisioning.Scores{}, fmt.Errorf("scores: %w", err)
	}
	s := decisioning.Scores{Churn: float64(js.Churn), Propensity: float64(js.Propensity)}
	if js.NextBestAction != nil {
		s.NextBestAction = make(map[string]float64, len(*js.NextBestAction))
		for k, v := range *js.NextBestAction {
			s.NextBestAction[k] = float64(v)
		}
	}
	return s, nil
}

// decodeStrings is the inverse of encodeStrings.
func decodeStrings(b []byte) (map[string]string, error) {
	if b == nil {
		return nil, nil
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// metricTime is the format of a metric window's end in jsonb: RFC 3339 in
// UTC with the microseconds the ledger keeps.
const metricTime = "2006-01-02T15:04:05.000000Z07:00"

// encodeMetrics returns the metric windows as jsonb, nil (NULL) for nil:
// [{"name", "event", "until"}], until as the ledger keeps it (null when
// zero).
func encodeMetrics(ms []decisioning.MetricWindow) []byte {
	if ms == nil {
		return nil
	}
	b := make([]byte, 0, 2+96*len(ms))
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = features.AppendJSONString(b, m.Name)
		b = append(b, `,"event":`...)
		b = features.AppendJSONString(b, m.Event)
		b = append(b, `,"until":`...)
		if m.Until.IsZero() {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = ledger.Time(m.Until).AppendFormat(b, metricTime)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// decodeMetrics is the inverse of encodeMetrics.
func decodeMetrics(b []byte) ([]decisioning.MetricWindow, error) {
	if b == nil {
		return nil, nil
	}
	var js []struct {
		Name  string     `json:"name"`
		Event string     `json:"event"`
		Until *time.Time `json:"until"`
	}
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ms := make([]decisioning.MetricWindow, len(js))
	for i, m := range js {
		ms[i] = decisioning.MetricWindow{Name: m.Name, Event: m.Event}
		if m.Until != nil {
			ms[i].Until = m.Until.UTC()
		}
	}
	return ms, nil
}
