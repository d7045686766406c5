package sim

import (
	"math"
	"math/rand/v2"
)

// Random streams. Every random number of the world comes from a PCG seeded
// by (Seed, stream, key...), so that what one customer, day or decision
// draws never shifts what another draws: the world is the same whatever the
// order or parallelism of the computation.
const (
	streamTraits  = 1 // per customer: latent traits and contact details
	streamDay     = 2 // per customer and day: organic behaviour
	streamEpisode = 3 // per customer and episode: potential outcomes
	streamSignups = 4 // signup times
	streamPolicy  = 5 // Randomized
	streamCatalog = 6 // product prices
)

// splitmix is the SplitMix64 finaliser.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a seed, a stream and a key into 64 bits.
func mix(seed, stream, key uint64) uint64 {
	return splitmix(splitmix(seed^splitmix(stream)) ^ key)
}

// hashString is FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// rng is a reseedable generator.
type rng struct {
	pcg rand.PCG
	*rand.Rand
}

func newRNG() *rng {
	r := &rng{}
	r.Rand = rand.New(&r.pcg)
	return r
}

// seed restarts r on the stream of (seed, stream, a, b).
func (r *rng) seed(seed, stream, a, b uint64) *rng {
	r.pcg.Seed(mix(seed, stream, a), mix(seed, stream^0xa5a5, b))
	return r
}

// poisson draws a Poisson variate (Knuth; the means here are small).
func (r *rng) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l || k >= 1000 {
			return k
		}
		k++
	}
}

// truncExp returns an exponential variate of the given mean conditioned on
// being below limit, by inversion of u.
func truncExp(u, mean, limit float64) float64 {
	if limit <= 0 {
		return 0
	}
	f := 1 - math.Exp(-limit/mean)
	x := -mean * math.Log(1-u*f)
	return min(max(x, 0), limit)
}
