package decisioning

import (
	"encoding/json"
	"math"
	"strconv"
)

// JSON cannot hold NaN (a missing feature or an unavailable score), so
// Decision, Scores and Window write NaN and ±Inf as null and read null as
// NaN; every other number round-trips exactly.

// jsonFloats is a []float64 whose NaNs are JSON nulls.
type jsonFloats []float64

func (fs jsonFloats) MarshalJSON() ([]byte, error) {
	if fs == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(fs)*8)
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, f)
	}
	return append(b, ']'), nil
}

func (fs *jsonFloats) UnmarshalJSON(b []byte) error {
	var ps []*float64
	if err := json.Unmarshal(b, &ps); err != nil {
		return err
	}
	if ps == nil {
		*fs = nil
		return nil
	}
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	*fs = out
	return nil
}

// jsonFloat is a float64 whose NaN is a JSON null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) { return appendFloat(nil, float64(f)), nil }

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var p *float64
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = jsonFloat(math.NaN())
	if p != nil {
		*f = jsonFloat(*p)
	}
	return nil
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

type scoresJSON struct {
	Churn          jsonFloat          `json:"churn"`
	Propensity     jsonFloat          `json:"propensity"`
	NextBestAction map[string]float64 `json:"next_best_action,omitempty"`
}

// MarshalJSON writes a NaN score as null.
func (s Scores) MarshalJSON() ([]byte, error) {
	return json.Marshal(scoresJSON{jsonFloat(s.Churn), jsonFloat(s.Propensity), s.NextBestAction})
}

// UnmarshalJSON reads a null score as NaN.
func (s *Scores) UnmarshalJSON(b []byte) error {
	var j scoresJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Scores{float64(j.Churn), float64(j.Propensity), j.NextBestAction}
	return nil
}

// decisionAlias has Decision's fields without its methods.
type decisionAlias Decision

type decisionJSON struct {
	*decisionAlias
	Features      jsonFloats `json:"features,omitempty"`
	PolicyContext jsonFloats `json:"policy_context,omitempty"`
}

// MarshalJSON writes NaN features and context values as null.
func (d Decision) MarshalJSON() ([]byte, error) {
	return json.Marshal(decisionJSON{(*decisionAlias)(&d), d.Features, d.PolicyContext})
}

// UnmarshalJSON reads null features and context values as NaN.
func (d *Decision) UnmarshalJSON(b []byte) error {
	j := decisionJSON{decisionAlias: (*decisionAlias)(d)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	d.Features, d.PolicyContext = j.Features, j.PolicyContext
	return nil
}

type windowAlias Window

type windowJSON struct {
	*windowAlias
	PolicyContext jsonFloats `json:"policy_context,omitempty"`
}

// MarshalJSON writes NaN context values as null.
func (w Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowJSON{(*windowAlias)(&w), w.PolicyContext})
}

// UnmarshalJSON reads null context values as NaN.
func (w *Window) UnmarshalJSON(b []byte) error {
	j := windowJSON{windowAlias: (*windowAlias)(w)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	w.PolicyContext = j.PolicyContext
	return nil
}
