package models

import (
	"math"

	"kairos/features"
)

// Scores is what Registry.Score computes for one customer. Reuse one
// Scores across calls: its slices are kept, so scoring allocates nothing.
type Scores struct {
	// Churn and Propensity are probabilities; NaN when no model serves
	// the task.
	Churn, Propensity float64
	// NBA holds the next-best-action class probabilities, in Classes
	// order; empty when no model serves it.
	NBA     []float64
	Classes []string
	// Versions names the model that produced each task's score
	// ("name@version", "" when none), in Tasks order.
	Versions [3]string
	// Shadow holds the outputs of the shadow versions: recorded for
	// comparison, never used to decide.
	Shadow []ShadowScore

	row, out []float64
}

// ShadowScore is the output of one shadow version.
type ShadowScore struct {
	Model   string // name@version
	Task    Task
	Outputs []float64
}

// Score scores one customer's feature vector (as the registry's feature set
// computes it; NaN = missing) with the serving model of every task and
// every shadow version. It is safe for concurrent use with reloads: it
// reads one consistent set of models.
func (r *Registry) Score(vec features.Vector, s *Scores) {
	sv := r.cur.Load()
	s.Churn, s.Propensity = math.NaN(), math.NaN()
	s.NBA, s.Classes = s.NBA[:0], nil
	for t, m := range sv.byTask {
		if m == nil {
			s.Versions[t] = ""
			continue
		}
		s.Versions[t] = m.idString
		out := s.predict(m, vec.Values)
		switch Tasks[t] {
		case Churn:
			s.Churn = out[0]
		case Propensity:
			s.Propensity = out[0]
		case NBA:
			s.NBA = append(s.NBA, out...)
			s.Classes = m.Manifest.Classes
		}
	}
	s.Shadow = s.Shadow[:0]
	for _, m := range sv.shadows {
		out := s.predict(m, vec.Values)
		if len(s.Shadow) < cap(s.Shadow) {
			s.Shadow = s.Shadow[:len(s.Shadow)+1]
		} else {
			s.Shadow = append(s.Shadow, ShadowScore{})
		}
		sh := &s.Shadow[len(s.Shadow)-1]
		sh.Model, sh.Task = m.idString, m.Manifest.Task
		sh.Outputs = append(sh.Outputs[:0], out...)
	}
}

// predict gathers the model's inputs from the vector and scores them into
// s.out, which it returns.
func (s *Scores) predict(m *Model, values []float64) []float64 {
	n := len(m.index)
	if cap(s.row) < n {
		s.row = make([]float64, n)
	}
	row := s.row[:n]
	for i, j := range m.index {
		row[i] = values[j]
	}
	for i, codes := range m.numCats {
		if code, ok := codes[row[i]]; ok {
			row[i] = code
		} else {
			row[i] = math.NaN() // an unseen category is missing, as in LightGBM
		}
	}
	k := m.NumOutputs()
	if cap(s.out) < k {
		s.out = make([]float64, k)
	}
	out := s.out[:k]
	m.predict(row, out)
	return out
}
