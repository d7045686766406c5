package bandit

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzStateJSON decodes arbitrary bytes as a State: decoding must fail
// cleanly or give a state that re-encodes to itself and decides without
// error or panic.
func FuzzStateJSON(f *testing.F) {
	for i, cfg := range []Config{thompsonConfig(), linearConfig()} {
		s := learned(f, cfg, uint64(i), 30)
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"config":{"kind":2,"arms":1,"costs":[0],"none":-1,"dim":1},"gram":[0,0,0,-5],"moment":[0,0],"value_sum":[0],"value_weight":[0]}`))
	f.Add([]byte(`{"config":{"kind":1,"arms":1,"costs":[0],"none":0,"segments":1},"updates":3,"successes":[1.5],"failures":[1.5],"value_sum":[0],"value_weight":[0]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		enc, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
		var again State
		if err := json.Unmarshal(enc, &again); err != nil || !reflect.DeepEqual(&s, &again) {
			t.Fatalf("a decoded state does not round-trip: %v", err)
		}
		p := s.Policy(s.Config)
		if _, err := p.Probabilities(nil, 0, make([]float64, s.Config.Dim), 1); err != nil && p.err == nil {
			t.Fatalf("Probabilities on a valid policy: %v", err)
		}
		o := randomObservation(rand.New(rand.NewPCG(1, 1)), s.Config)
		if s.Config.Kind == Thompson {
			o.Segment = 0
		}
		if err := s.Update(o); err == nil {
			if _, err := json.Marshal(&s); err != nil {
				t.Fatalf("encoding an updated state: %v", err)
			}
		}
	})
}
