package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChannelsExampleValidates(t *testing.T) {
	var out strings.Builder
	if err := channelsCmd(t.Context(), testEnv(&out, nil, nil), []string{"example"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "channels.yaml")
	if err := os.WriteFile(file, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example's secrets come from the environment: without them it
	// is refused, naming each variable.
	err := channelsCmd(t.Context(), testEnv(nil, nil, nil), []string{"validate", file})
	if err == nil || !strings.Contains(err.Error(), "KAIROS_SMTP_PASSWORD") || !strings.Contains(err.Error(), "KAIROS_WEBHOOK_SECRET") {
		t.Fatalf("validate without secrets: %v, want errors naming the variables", err)
	}
	env := map[string]string{"KAIROS_SMTP_PASSWORD": "p", "KAIROS_FCM_TOKEN": "t", "KAIROS_TWILIO_AUTH_TOKEN": "a",
		"KAIROS_WEBHOOK_SECRET": strings.Repeat("x", 32)}
	out.Reset()
	if err := channelsCmd(t.Context(), testEnv(&out, nil, env), []string{"validate", file}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "ok: ") || !strings.Contains(got, "email=smtp") || !strings.Contains(got, "webhook=http") {
		t.Errorf("validate: %q", got)
	}
}

func TestChannelsPreview(t *testing.T) {
	var out strings.Builder
	err := channelsCmd(t.Context(), testEnv(&out, nil, nil), []string{"preview", "--campaign", "cart_recovery", "--offer", "discount_10", "--channel", "email"})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"To:          ada@example.com", "--- Subject ---", "--- HTML ---", "CART10", "/t/c/", "/t/u/"} {
		if !strings.Contains(got, want) {
			t.Errorf("preview lacks %q:\n%s", want, got)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--campaign", "nope", "--offer", "x", "--channel", "email"}, "the campaigns are cart_recovery, upgrade_prompt"},
		{[]string{"--campaign", "cart_recovery", "--offer", "reminder", "--channel", "inapp"}, "--offer reminder --channel push"},
		{[]string{"--campaign", "cart_recovery", "--offer", "reminder", "--channel", "email", "--customer", "c1"}, "--customer needs --redis"},
		{[]string{"--campaign", "cart_recovery"}, "are required"},
	} {
		err := channelsCmd(t.Context(), testEnv(nil, nil, nil), append([]string{"preview"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("preview %q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestChannelsStatus(t *testing.T) {
	inst := startServe(t)
	var out strings.Builder
	if err := channelsCmd(t.Context(), testEnv(&out, nil, nil), []string{"status", "--admin", "http://" + inst.httpAddr}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"Dispatch queue: 0 ready, 0 in flight, 0 scheduled", "email", "outbox", "inapp", "inbox", "Dead letters: 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	err := channelsCmd(t.Context(), testEnv(nil, nil, nil), []string{"status", "--admin", "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "is kairos serve running") {
		t.Errorf("status of nothing: %v, want a hint", err)
	}
}
