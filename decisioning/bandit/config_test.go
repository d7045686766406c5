package bandit

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := func(f func(*Config)) Config {
		c := Config{Kind: Thompson, Arms: 3, Costs: []float64{0.1, 0, 0}, None: 2, Segments: 2, Epsilon: 0.05, HalfLife: time.Hour}
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"thompson", ok(func(*Config) {}), ""},
		{"linear", ok(func(c *Config) { c.Kind, c.Segments, c.Dim = LinearThompson, 0, 4 }), ""},
		{"linear ignores segments", ok(func(c *Config) { c.Kind, c.Segments, c.Dim = LinearThompson, -3, 4 }), ""},
		{"thompson ignores dim", ok(func(c *Config) { c.Dim = -1 }), ""},
		{"no none arm", ok(func(c *Config) { c.None = -1 }), ""},
		{"one arm", ok(func(c *Config) { c.Arms, c.Costs, c.None = 1, []float64{0}, 0 }), ""},
		{"64 arms", ok(func(c *Config) { c.Arms, c.Costs = 64, make([]float64, 64) }), ""},
		{"no discounting, unit value", ok(func(c *Config) { c.HalfLife, c.UnitValue = 0, true }), ""},
		{"zero kind", ok(func(c *Config) { c.Kind = 0 }), "bandit: Config.Kind: must be Thompson (1) or LinearThompson (2), got 0"},
		{"unknown kind", ok(func(c *Config) { c.Kind = 3 }), "Config.Kind"},
		{"no arms", ok(func(c *Config) { c.Arms, c.Costs = 0, nil }), "bandit: Config.Arms: must be in [1, 64], got 0"},
		{"65 arms", ok(func(c *Config) { c.Arms, c.Costs = 65, make([]float64, 65) }), "Config.Arms: must be in [1, 64], got 65"},
		{"costs short", ok(func(c *Config) { c.Costs = c.Costs[:2] }), "bandit: Config.Costs: must have one entry per arm (3), got 2"},
		{"negative cost", ok(func(c *Config) { c.Costs[1] = -1 }), "bandit: Config.Costs[1]: must be finite and >= 0, got -1"},
		{"NaN cost", ok(func(c *Config) { c.Costs[0] = math.NaN() }), "Config.Costs[0]: must be finite and >= 0, got NaN"},
		{"infinite cost", ok(func(c *Config) { c.Costs[2] = math.Inf(1) }), "Config.Costs[2]: must be finite and >= 0, got +Inf"},
		{"none too large", ok(func(c *Config) { c.None = 3 }), "bandit: Config.None: must be -1 or an arm index in [0, 3), got 3"},
		{"none below -1", ok(func(c *Config) { c.None = -2 }), "Config.None"},
		{"no segments", ok(func(c *Config) { c.Segments = 0 }), "bandit: Config.Segments: must be in [1, 65536] for Thompson, got 0"},
		{"too many segments", ok(func(c *Config) { c.Segments = 1<<16 + 1 }), "Config.Segments"},
		{"linear without dim", ok(func(c *Config) { c.Kind = LinearThompson }), "bandit: Config.Dim: must be in [1, 64] for LinearThompson, got 0"},
		{"linear dim too large", ok(func(c *Config) { c.Kind, c.Dim = LinearThompson, 65 }), "Config.Dim"},
		{"epsilon 1.5", ok(func(c *Config) { c.Epsilon = 1.5 }), "bandit: Config.Epsilon: must be in [0, 1), got 1.5"},
		{"epsilon 1", ok(func(c *Config) { c.Epsilon = 1 }), "Config.Epsilon: must be in [0, 1), got 1"},
		{"negative epsilon", ok(func(c *Config) { c.Epsilon = -0.1 }), "Config.Epsilon"},
		{"NaN epsilon", ok(func(c *Config) { c.Epsilon = math.NaN() }), "Config.Epsilon: must be in [0, 1), got NaN"},
		{"negative half-life", ok(func(c *Config) { c.HalfLife = -time.Second }), "bandit: Config.HalfLife: must be >= 0, got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.want)
			}
			// New validates the same way.
			if _, nerr := New(tc.cfg); (nerr == nil) != (err == nil) {
				t.Fatalf("New() error %v, Validate() error %v", nerr, err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Thompson: "thompson", LinearThompson: "linear_thompson", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
