package testproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFreePortAndLogTail(t *testing.T) {
	if p, err := FreePort(); err != nil || p <= 0 {
		t.Fatalf("FreePort = %d, %v", p, err)
	}
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("early\n"+strings.Repeat("x", 5000)+"late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := LogTail(path, 0)
	if len(got) != 4096 || !strings.HasSuffix(got, "late\n") {
		t.Errorf("LogTail kept %d bytes ending %q", len(got), got[len(got)-5:])
	}
	if got := LogTail(path, 5006); got != "late\n" {
		t.Errorf("LogTail after offset = %q", got)
	}
	if got := LogTail(filepath.Join(t.TempDir(), "none"), 0); !strings.HasPrefix(got, "(no log") {
		t.Errorf("missing log: %q", got)
	}
}
