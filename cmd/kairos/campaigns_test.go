package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCampaignsCommand(t *testing.T) {
	ctx := t.Context()
	var example bytes.Buffer
	if err := runEnv(ctx, testEnv(&example, nil, nil), []string{"campaigns", "example"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "campaigns.yaml")
	if err := os.WriteFile(good, example.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runEnv(ctx, testEnv(&out, nil, nil), []string{"campaigns", "validate", good}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "ok: "+good) || !strings.Contains(out.String(), "cart_recovery") || !strings.Contains(out.String(), "purchase within 3d") ||
		!strings.Contains(out.String(), "unsubscribe=unsubscribed/7d churn_30d=subscription_cancelled/30d") {
		t.Errorf("validate output:\n%s", out.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, bytes.Replace(example.Bytes(), []byte("kind: thompson"), []byte("kind: ucb"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runEnv(ctx, testEnv(nil, nil, nil), []string{"campaigns", "validate", bad})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:") || !strings.Contains(err.Error(), `unknown policy "ucb"`) {
		t.Errorf("validate of a bad file: %v", err)
	}
}
