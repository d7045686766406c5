package measurement

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// The browser tests open the report page in headless Chromium (Debian
// package chromium): it must render without console messages — the page
// runs no script, so any message is an error: a blocked or failed load, a
// Content-Security-Policy violation, a script that should not be there —
// show its charts, and give a screenshot. The screenshot goes to the
// test's temporary directory and, when KAIROS_SCREENSHOT_DIR is set, is
// copied there.

const chromiumMissing = "page_browser_test: chromium not installed; run `make test` (.ci/install-deps installs it) or `apt-get install chromium`"

// chromiumTimeout bounds one run of the browser.
const chromiumTimeout = 90 * time.Second

// chromium returns the browser's path. It skips the test when no
// Chromium is installed, unless CI is "true", where that fails it (as
// internal/redistest does with Redis).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(chromiumMissing)
	}
	t.Skip(chromiumMissing)
	return ""
}

// runChromium runs headless Chromium with args and the page URL last and
// returns its standard output and error.
func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), chromiumTimeout)
	defer cancel()
	base := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=1",
		"--user-data-dir=" + t.TempDir(), "--no-first-run", "--hide-scrollbars",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(errb.String(), 4000))
	}
	return out.String(), errb.String()
}

// consoleErrors returns Chromium's log lines of console messages that are
// errors of the page at origin: any message the page logged (it runs no
// script, so only errors can be logged), and any uncaught exception or
// console error wherever it comes from. Chromium logs console messages as
// "INFO:CONSOLE…] "text", source: URL (line)".
func consoleErrors(stderr, origin string) []string {
	var bad []string
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, "CONSOLE") {
			continue
		}
		if strings.Contains(line, "source: "+origin) || strings.Contains(line, "Uncaught") || strings.Contains(line, "ERROR") {
			bad = append(bad, line)
		}
	}
	return bad
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// checkScreenshot decodes the PNG at path and checks its size and that it
// is not blank: a rendered report has text, charts and many colours.
func checkScreenshot(t *testing.T, path string, width, height int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(b) < 50_000 {
		t.Errorf("screenshot %s is %d bytes: too small for a rendered report", path, len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if got := img.Bounds().Size(); got != (image.Point{width, height}) {
		t.Errorf("screenshot is %v, want %dx%d", got, width, height)
	}
	colors := map[[3]uint32]bool{}
	nonWhite := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 4 {
		for x := r.Min.X; x < r.Max.X; x += 4 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			colors[[3]uint32{cr >> 12, cg >> 12, cb >> 12}] = true
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				nonWhite++
			}
		}
	}
	if len(colors) < 12 || nonWhite < 2000 {
		t.Errorf("screenshot looks blank: %d colours, %d non-white samples", len(colors), nonWhite)
	}
	t.Logf("screenshot %s: %d bytes, %v, %d colours, %d non-white samples", path, len(b), img.Bounds().Size(), len(colors), nonWhite)
}

// keepScreenshot copies a screenshot to KAIROS_SCREENSHOT_DIR when set.
func keepScreenshot(t *testing.T, path string) {
	t.Helper()
	dir := os.Getenv("KAIROS_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("KAIROS_SCREENSHOT_DIR: %v", err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatalf("KAIROS_SCREENSHOT_DIR: %v", err)
	}
	t.Logf("screenshot copied to %s", dst)
}

func TestBrowserReportPage(t *testing.T) {
	bin := chromium(t)
	src := newFakeSource()
	// The clock of the segment charts: they end on the day after their
	// last change.
	srv := httptest.NewServer(newHandler(src, nil, func() time.Time { return segmentsToday }))
	defer srv.Close()
	pageURL := srv.URL + campaignPath(hostileName) + "?from=2026-03-01&to=2026-03-30"
	dir := t.TempDir()

	// The top of the page as a reader first sees it, then all of it.
	for _, shot := range []struct {
		file          string
		width, height int
	}{
		{"report-page.png", 1280, 2000},
		{"report-page-full.png", 1280, 6000},
	} {
		path := filepath.Join(dir, shot.file)
		_, stderr := runChromium(t, bin, "--screenshot="+path, "--window-size=1280,"+strconv.Itoa(shot.height), pageURL)
		if bad := consoleErrors(stderr, srv.URL); len(bad) > 0 {
			t.Errorf("console errors rendering %s:\n%s", pageURL, strings.Join(bad, "\n"))
		}
		checkScreenshot(t, path, shot.width, shot.height)
		keepScreenshot(t, path)
	}

	// The DOM the browser built has the banner, the charts (as SVG) and no
	// script.
	dom, stderr := runChromium(t, bin, "--dump-dom", "--window-size=1280,2000", pageURL)
	if bad := consoleErrors(stderr, srv.URL); len(bad) > 0 {
		t.Errorf("console errors dumping the DOM:\n%s", strings.Join(bad, "\n"))
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("the dumped DOM: %v", err)
	}
	if n := len(find(doc, byTag("svg"))); n != 5 {
		t.Errorf("the DOM has %d charts, want 5", n)
	}
	if len(find(doc, byTag("script"))) > 0 {
		t.Errorf("the DOM has a script element: the campaign name ran as markup")
	}
	if b := find(doc, byClass("banner")); len(b) != 1 || !strings.Contains(textOf(b[0]), "cannot be trusted until the cause is found") {
		t.Errorf("the DOM has no SRM banner")
	}
	if h1 := find(doc, byTag("h1")); len(h1) != 1 || textOf(h1[0]) != hostileName {
		t.Errorf("the DOM's heading is not the campaign name")
	}
	for _, id := range []string{"metric-conversion", "metric-revenue", "per-customer", "cohorts", "cumulative", "allocation", "cuped", "attribution", "ope"} {
		if len(find(doc, byID(id))) != 1 {
			t.Errorf("the DOM has no #%s", id)
		}
	}

	// The index renders cleanly too, with its live segments (the fake
	// source's, one under a hostile condition): a table and one chart
	// each.
	path := filepath.Join(dir, "report-index.png")
	_, stderr = runChromium(t, bin, "--screenshot="+path, "--window-size=1280,1400", srv.URL+"/reports")
	if bad := consoleErrors(stderr, srv.URL); len(bad) > 0 {
		t.Errorf("console errors rendering the index:\n%s", strings.Join(bad, "\n"))
	}
	checkScreenshot(t, path, 1280, 1400)
	keepScreenshot(t, path)
	dom, stderr = runChromium(t, bin, "--dump-dom", "--window-size=1280,1400", srv.URL+"/reports")
	if bad := consoleErrors(stderr, srv.URL); len(bad) > 0 {
		t.Errorf("console errors dumping the index's DOM:\n%s", strings.Join(bad, "\n"))
	}
	doc, err = html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("the dumped DOM of the index: %v", err)
	}
	if len(find(doc, byTag("script"))) > 0 {
		t.Errorf("the index's DOM has a script element: a name or condition ran as markup")
	}
	sec := find(doc, byID("segments"))
	if len(sec) != 1 {
		t.Fatalf("the index's DOM has no #segments")
	}
	if n := len(find(sec[0], byTag("svg"))); n != len(src.segs) {
		t.Errorf("the index's DOM has %d segment charts, want %d", n, len(src.segs))
	}
	if !strings.Contains(textOf(sec[0]), hostileCondition) {
		t.Errorf("the index's DOM does not show the hostile condition as text")
	}
}

// TestBrowserCatchesConsoleErrors shows that consoleErrors sees what it
// must: an uncaught exception and loads the page's policy blocks.
func TestBrowserCatchesConsoleErrors(t *testing.T) {
	bin := chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/csp" {
			w.Header().Set("Content-Security-Policy", pageCSP)
			w.Write([]byte(`<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>t</title></head><body><img src="/x.png" alt=""><script>1</script></body></html>`))
			return
		}
		w.Write([]byte(`<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>t</title></head><body><script>undefinedFunction()</script></body></html>`))
	}))
	defer srv.Close()
	_, stderr := runChromium(t, bin, "--dump-dom", srv.URL+"/throws")
	if bad := consoleErrors(stderr, srv.URL); len(bad) == 0 || !strings.Contains(strings.Join(bad, "\n"), "Uncaught") {
		t.Errorf("an uncaught exception went unseen: %q", bad)
	}
	_, stderr = runChromium(t, bin, "--dump-dom", srv.URL+"/csp")
	if bad := consoleErrors(stderr, srv.URL); len(bad) < 2 {
		t.Errorf("the blocked image and script went unseen: %q", bad)
	}
}
