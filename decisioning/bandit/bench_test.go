package bandit

import (
	"math/rand/v2"
	"testing"
)

// benchConfig is a campaign of five arms, the last "none".
func benchConfig(kind Kind) Config {
	return Config{Kind: kind, Arms: 5, Costs: []float64{0.01, 0.002, 0.1, 0.04, 0}, None: 4, Segments: 3, Dim: 4, Epsilon: 0.05, UnitValue: true}
}

// benchState learns from 5,000 observations in which arm a converts with
// probability 0.1 + 0.03a + 0.02x₀, chosen mostly greedily, so that the
// arms' posteriors have different widths, as in production.
func benchState(b *testing.B, kind Kind) *State {
	cfg := benchConfig(kind)
	s := mustNew(b, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range 5000 {
		arm := 3
		if rng.IntN(4) == 0 {
			arm = rng.IntN(5)
		}
		x := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.Float64(), float64(rng.IntN(2))}
		conv := rng.Float64() < 0.1+0.03*float64(arm)+0.02*x[0]
		if err := s.Update(Observation{Arm: arm, Segment: k % 3, Context: x, Converted: conv}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkChooseThompson(b *testing.B) {
	s := benchState(b, Thompson)
	p := s.Policy(s.Config)
	dst := make([]float64, 5)
	p.Choose(dst, 1, nil, 0b11111, 0.5) // fill the cache
	b.ReportAllocs()
	u := 0.0
	for b.Loop() {
		if _, _, _, err := p.Choose(dst, 1, nil, 0b11111, u); err != nil {
			b.Fatal(err)
		}
		if u += 0.0137; u >= 1 {
			u -= 1
		}
	}
}

// BenchmarkThompsonMonteCarlo is the cost of a cache miss: the first
// decision of a segment and eligible set after a refresh.
func BenchmarkThompsonMonteCarlo(b *testing.B) {
	s := benchState(b, Thompson)
	p := s.Policy(s.Config)
	b.ReportAllocs()
	for b.Loop() {
		p.monteCarlo(1, 0b11111)
	}
}

func BenchmarkChooseLinear(b *testing.B) {
	s := benchState(b, LinearThompson)
	p := s.Policy(s.Config)
	dst := make([]float64, 5)
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([][]float64, 64)
	for i := range xs {
		xs[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.Float64(), float64(rng.IntN(2))}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, _, err := p.Choose(dst, 0, xs[i%len(xs)], 0b11111, rng.Float64()); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPolicy(b *testing.B) {
	for _, kind := range []Kind{Thompson, LinearThompson} {
		s := benchState(b, kind)
		b.Run(kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Policy(s.Config)
			}
		})
	}
}

func BenchmarkUpdateLinear(b *testing.B) {
	s := benchState(b, LinearThompson)
	o := Observation{Arm: 2, Context: []float64{0.1, 0.2, 0.3, 1}, Converted: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(o); err != nil {
			b.Fatal(err)
		}
	}
}
