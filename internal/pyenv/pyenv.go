// Package pyenv finds the Python that tests run (the archive check, the
// training pipeline, the notebooks, LightGBM's baselines).
package pyenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python returns the path of python3 when it can import every module, and
// otherwise skips t — or fails it under CI=true, where .ci/install-deps
// installs the packages pinned in training/requirements.txt.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	bin, err := exec.LookPath("python3")
	if err == nil && len(modules) > 0 {
		var out []byte
		if out, err = exec.Command(bin, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	}
	if err != nil {
		msg := fmt.Sprintf("python3 with %s is not available (pip install -r training/requirements.txt, or .ci/install-deps): %v",
			strings.Join(modules, ", "), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}
