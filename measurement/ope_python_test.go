package measurement_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kairos/internal/pyenv"
	"kairos/measurement"
)

// obpManifest is what training/python/check_ope.py writes: the logged data
// of obp's Open Bandit Dataset sample, the candidate policies, and obp's
// estimates of them.
type obpManifest struct {
	Versions   map[string]string `json:"versions"`
	NBootstrap int               `json:"n_bootstrap"`
	Alpha      float64           `json:"alpha"`
	Datasets   []struct {
		Name        string    `json:"name"`
		NActions    int       `json:"n_actions"`
		Action      []int     `json:"action"`
		PScore      []float64 `json:"pscore"`
		Reward      []float64 `json:"reward"`
		RewardModel string    `json:"reward_model"`
		Policies    []struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
			Arm  int    `json:"arm"`
			File string `json:"file"`
			OBP  struct {
				IPS, SNIPS, DM, DR float64
				CI                 map[string][2]float64
			} `json:"obp"`
		} `json:"policies"`
	} `json:"datasets"`
}

// TestOPEMatchesOBP runs training/python/check_ope.py, which estimates
// candidate policies on obp's Open Bandit Dataset sample with the Open
// Bandit Pipeline (obp 0.5.7), and requires the Go estimators to give the
// same IPS, SNIPS, DM and DR within 1e-9 on the same logged data, policies
// and reward-model predictions. The bootstrap intervals, drawn from other
// random streams, are compared loosely (IPS, DM and DR resample the same
// per-round terms; obp's SNIPS interval does not renormalise per resample,
// Kairos's does, so it is only logged).
func TestOPEMatchesOBP(t *testing.T) {
	script, err := filepath.Abs("../training/python/check_ope.py")
	if err != nil {
		t.Fatal(err)
	}
	// Importing check_ope imports obp as the script does (with its torch
	// stand-in), so the skip names what is missing.
	path := filepath.Dir(script)
	if old := os.Getenv("PYTHONPATH"); old != "" {
		path += string(os.PathListSeparator) + old
	}
	t.Setenv("PYTHONPATH", path)
	t.Setenv("PYTHONDONTWRITEBYTECODE", "1")
	py := pyenv.Python(t, "check_ope")

	dir := t.TempDir()
	out, err := exec.Command(py, script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("check_ope.py: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ope.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m obpManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	t.Logf("versions: %v", m.Versions)
	if len(m.Datasets) != 2 {
		t.Fatalf("check_ope.py wrote %d datasets, want 2", len(m.Datasets))
	}

	const tol = 1e-9
	worst := 0.0
	for _, ds := range m.Datasets {
		d := measurement.Logged{Arms: ds.NActions, Actions: ds.Action, Propensities: ds.PScore, Rewards: ds.Reward}
		n := d.Len()
		q := readMatrix(t, filepath.Join(dir, ds.RewardModel), n, ds.NActions)
		for _, p := range ds.Policies {
			name := ds.Name + " " + p.Name
			var pi measurement.Policy
			switch p.Kind {
			case "uniform":
				pi = measurement.UniformPolicy(n, ds.NActions)
			case "fixed":
				pi, err = measurement.FixedArmPolicy(n, ds.NActions, p.Arm)
			case "matrix":
				pi = readMatrix(t, filepath.Join(dir, p.File), n, ds.NActions)
			case "logged":
				pi, err = measurement.LoggedPolicy(d, readMatrix(t, filepath.Join(dir, p.File), n, ds.NActions))
			default:
				t.Fatalf("%s: unknown policy kind %q", name, p.Kind)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ev, err := measurement.Evaluate(d, pi, measurement.EvalOptions{RewardModel: q, Bootstrap: m.NBootstrap, Level: 1 - m.Alpha, Seed: 1})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			gots := map[string]measurement.Estimate{"ips": ev.IPS, "snips": ev.SNIPS, "dm": *ev.DM, "dr": *ev.DR}
			wants := map[string]float64{"ips": p.OBP.IPS, "snips": p.OBP.SNIPS, "dm": p.OBP.DM, "dr": p.OBP.DR}
			var line strings.Builder
			for _, est := range []string{"ips", "snips", "dm", "dr"} {
				got, want := gots[est], wants[est]
				diff := math.Abs(got.Value - want)
				worst = max(worst, diff)
				if !(diff <= tol) {
					t.Errorf("%s %s: Go %.17g, obp %.17g (difference %.3g > %g)", name, est, got.Value, want, diff, tol)
				}
				ci := p.OBP.CI[est]
				fmt.Fprintf(&line, "  %s %.6g|%.6g [%.4g, %.4g]|[%.4g, %.4g]", strings.ToUpper(est), got.Value, want, got.CI.Lo, got.CI.Hi, ci[0], ci[1])
				// Two bootstrap runs of B = 1000 agree to a few percent of
				// the interval's width; 25% catches a wrong interval.
				if width := ci[1] - ci[0]; est != "snips" && (math.Abs(got.CI.Lo-ci[0]) > 0.25*width+1e-12 || math.Abs(got.CI.Hi-ci[1]) > 0.25*width+1e-12) {
					t.Errorf("%s %s: Go interval [%v, %v], obp's [%v, %v]: further apart than 25%% of obp's width", name, est, got.CI.Lo, got.CI.Hi, ci[0], ci[1])
				}
			}
			t.Logf("%-24s Go|obp%s  ESS %.0f, max weight %.4g, warnings %q", name, line.String(), ev.ESS, ev.MaxWeight, ev.Warnings)
		}
	}
	t.Logf("largest difference of a point estimate from obp's: %.3g", worst)
}

// readMatrix reads an n×k matrix of little-endian float64, row-major.
func readMatrix(t *testing.T, path string, n, k int) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8*n*k {
		t.Fatalf("%s has %d bytes, want %d×%d float64", path, len(b), n, k)
	}
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, k)
		for j := range m[i] {
			m[i][j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*(i*k+j):]))
		}
	}
	return m
}
