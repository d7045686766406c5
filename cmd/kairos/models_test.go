package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kairos/features"
	"kairos/internal/pyenv"
	"kairos/models"
)

// shippedDir copies the shipped models to a directory on disk and returns
// it with the serving churn model.
func shippedDir(t *testing.T) (string, *models.Model) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, models.Shipped()); err != nil {
		t.Fatal(err)
	}
	reg, err := openRegistry(dir, features.Default(), nil, nil)
	if err == nil && reg.Serving(models.Churn) != nil {
		return dir, reg.Serving(models.Churn)
	}
	t.Fatalf("the shipped models do not serve churn: %v", err)
	return "", nil
}

func runModels(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := testEnv(&stdout, &stderr, nil)
	err := runEnv(context.Background(), env, append([]string{"models"}, args...))
	return stdout.String(), err
}

func TestModelsCommands(t *testing.T) {
	dir, churn := shippedDir(t)
	name, v := churn.Manifest.Name, churn.Manifest.Version
	version := filepath.Join(dir, name, v)

	out, err := runModels(t, "status")
	if err != nil || !strings.Contains(out, name) || !strings.Contains(out, models.StateServing) {
		t.Errorf("status of the shipped models: %v\n%s", err, out)
	}
	out, err = runModels(t, "validate", version)
	if err != nil || !strings.HasPrefix(out, "ok: "+name+"/"+v) {
		t.Errorf("validate: %v\n%s", err, out)
	}

	// A broken copy is refused with its rule, and does not serve.
	broken := filepath.Join(dir, name, v+"-broken")
	os.CopyFS(broken, os.DirFS(version))
	text, _ := os.ReadFile(filepath.Join(broken, "model.txt"))
	os.WriteFile(filepath.Join(broken, "model.txt"), text[:len(text)/3], 0o644)
	man, _ := os.ReadFile(filepath.Join(broken, "manifest.json"))
	os.WriteFile(filepath.Join(broken, "manifest.json"), bytes.Replace(man, []byte(`"`+v+`"`), []byte(`"`+v+`-broken"`), 1), 0o644)
	if _, err := runModels(t, "validate", broken); err == nil || !strings.Contains(err.Error(), "refused: parse:") {
		t.Errorf("validate a truncated model: %v", err)
	}
	out, err = runModels(t, "status", "--models", dir, "--json")
	var status []models.Status
	if err != nil || json.Unmarshal([]byte(out), &status) != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, s := range status {
		if s.Version == v+"-broken" && s.State != models.StateRefused {
			t.Errorf("broken version state %s", s.State)
		}
		if s.Version == v && s.Name == name && s.State != models.StateServing {
			t.Errorf("%s/%s state %s, want serving", name, v, s.State)
		}
	}

	// A newer copy serves by itself; promote the older one, then roll back.
	second := filepath.Join(dir, name, v+"-b")
	os.CopyFS(second, os.DirFS(version))
	os.WriteFile(filepath.Join(second, "manifest.json"), bytes.Replace(man, []byte(`"`+v+`"`), []byte(`"`+v+`-b"`), 1), 0o644)
	if out, err := runModels(t, "promote", name, v, "--models", dir); err != nil || !strings.Contains(out, "now serves") {
		t.Fatalf("promote: %v %s", err, out)
	}
	if _, err := runModels(t, "promote", name, v+"-broken", "--models", dir); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("promote a broken version: %v", err)
	}
	if out, err := runModels(t, "rollback", name, "--models", dir); err != nil || !strings.Contains(out, v+"-b now serves") {
		t.Errorf("rollback: %v %s", err, out)
	}
	if _, err := runModels(t, "promote", name, v, "--models", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("promote in a missing directory: %v", err)
	}
	if _, err := runModels(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown subcommand") {
		t.Errorf("unknown subcommand: %v", err)
	}
	if _, err := runModels(t, "validate"); err == nil || !strings.Contains(err.Error(), "takes 1 argument") {
		t.Errorf("validate without a path: %v", err)
	}
}

// TestModelsScoreCSV: scoring the golden inputs as a CSV prints LightGBM's
// golden outputs, one tab-separated line per row.
func TestModelsScoreCSV(t *testing.T) {
	dir, churn := shippedDir(t)
	reg, _ := openRegistry(dir, features.Default(), nil, nil)
	for _, task := range models.Tasks {
		m := reg.Serving(task)
		var b strings.Builder
		b.WriteString("extra_column," + strings.Join(m.Manifest.Features, ",") + "\n")
		for _, in := range m.Manifest.Golden.Inputs {
			b.WriteString("ignored")
			for _, v := range in {
				b.WriteByte(',')
				if v != nil {
					b.WriteString(v.(json.Number).String())
				}
			}
			b.WriteByte('\n')
		}
		csvPath := filepath.Join(t.TempDir(), "rows.csv")
		os.WriteFile(csvPath, []byte(b.String()), 0o644)
		out, err := runModels(t, "score", filepath.Join(dir, m.Dir), "--csv", csvPath)
		if err != nil {
			t.Fatalf("%s: score: %v", task, err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(m.Manifest.Golden.Outputs) {
			t.Fatalf("%s: %d lines for %d rows", task, len(lines), len(m.Manifest.Golden.Outputs))
		}
		for i, line := range lines {
			fields := strings.Split(line, "\t")
			for k, want := range m.Manifest.Golden.Outputs[i] {
				got, err := strconv.ParseFloat(fields[k], 64)
				if err != nil || math.Abs(got-want) > models.GoldenTolerance {
					t.Fatalf("%s row %d output %d: %q, LightGBM %v", task, i, k, fields[k], want)
				}
			}
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("a,b\n1,2\n"), 0o644)
	if _, err := runModels(t, "score", filepath.Join(dir, churn.Dir), "--csv", bad); err == nil || !strings.Contains(err.Error(), "no column") {
		t.Errorf("score a CSV without the features: %v", err)
	}
	os.WriteFile(bad, []byte(strings.Join(churn.Manifest.Features, ",")+","+churn.Manifest.Features[0]+"\n"), 0o644)
	if _, err := runModels(t, "score", filepath.Join(dir, churn.Dir), "--csv", bad); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("score a CSV with a repeated column: %v", err)
	}
	os.WriteFile(bad, []byte(strings.Join(churn.Manifest.Features, ",")+"\n"+strings.Repeat("x,", len(churn.Manifest.Features)-1)+"x\n"), 0o644)
	if _, err := runModels(t, "score", filepath.Join(dir, churn.Dir), "--csv", bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("score a CSV with text: %v", err)
	}
}

// TestServeModels: serve watches --models; a promoted version serves
// without a restart, and the model metrics are on /metrics.
func TestServeModels(t *testing.T) {
	dir, churn := shippedDir(t)
	inst := startServe(t, "--models", dir)
	if !strings.Contains(inst.logs.String(), "model serving") {
		t.Errorf("serve logs no serving model:\n%s", inst.logs)
	}
	name, v := churn.Manifest.Name, churn.Manifest.Version
	second := filepath.Join(dir, name, v+"-b")
	os.CopyFS(second, os.DirFS(filepath.Join(dir, name, v)))
	man, _ := os.ReadFile(filepath.Join(second, "manifest.json"))
	os.WriteFile(filepath.Join(second, "manifest.json"), bytes.Replace(man, []byte(`"`+v+`"`), []byte(`"`+v+`-b"`), 1), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + inst.httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(body.String(), `kairos_model_versions{model="`+name+`",state="serving",version="`+v+`-b"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new version does not serve within 5s; metrics:\n%s", grepLines(body.String(), "kairos_model"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	env := testEnv(&bytes.Buffer{}, &bytes.Buffer{}, nil)
	err := runEnv(context.Background(), env, []string{"serve", "--models", filepath.Join(dir, "missing"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "--models") {
		t.Errorf("serve with a missing model directory: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestBenchScore(t *testing.T) {
	pyenv.Python(t, "lightgbm", "pandas")
	var stdout, stderr bytes.Buffer
	env := testEnv(&stdout, &stderr, nil)
	if err := runEnv(context.Background(), env, []string{"bench", "score", "--duration", "200ms", "--json"}); err != nil {
		t.Fatalf("bench score: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r scoreBenchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if len(r.Models) != 3 || r.P50ns <= 0 || r.P99ns < r.P50ns || r.RowsPerSec <= 0 || r.BaselineRowsPerSec <= 0 || r.Ratio <= 0 {
		t.Errorf("implausible result %+v", r)
	}
	if r.AllocsPerScore != 0 {
		t.Errorf("scoring allocates %v times per customer", r.AllocsPerScore)
	}
}
