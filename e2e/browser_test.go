package e2e

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/status"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// screenshotFile is where DROPCAST_UPDATE_SCREENSHOT=1 writes the run page's picture.
const screenshotFile = "testdata/status-page.png"

// browser is headless Chromium, driven from the command line.
type browser struct {
	path, profile string
}

// chromium finds Chromium; without it the test is skipped, except in CI
// (CI set), where its absence is a failure.
func chromium(t *testing.T) *browser {
	t.Helper()
	for _, p := range []string{os.Getenv("DROPCAST_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return &browser{path: path, profile: t.TempDir()}
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("no Chromium (apt-get install -y chromium); required when CI is set")
	}
	t.Fatal("CI: Chromium not found at /usr/bin/chromium (apt-get install -y chromium)")
	return nil
}

// run runs Chromium headless with extra arguments and returns its stdout.
func (b *browser) run(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + b.profile,
	}
	cmd := exec.CommandContext(ctx, b.path, append(base, args...)...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// dom is the page at u as Chromium built it.
func (b *browser) dom(t *testing.T, u string) string {
	t.Helper()
	return string(b.run(t, "--dump-dom", u))
}

// TestStatusPageInABrowser runs the sample (and a file that fails) through
// the local stack, serves the status function on loopback under /status/ as
// the local stack does, and checks in Chromium what a person sees: the list,
// the link to the run, the run page's status, steps, counts and timeline
// bars, and a screenshot that shows the bars.
func TestStatusPageInABrowser(t *testing.T) {
	b := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := localstack.Start(ctx, localstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	okID, err := s.Drop(ctx, "incoming/"+sample.FileName, sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	badID, err := s.Drop(ctx, "incoming/20260301-090000.csv", []byte("date,store_id,item_id,category,price,quantity,promo,note\n2026-03-01,0,x,y,-1,0,z,\n"))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]run.Status{okID: run.Succeeded, badID: run.Failed} {
		if r, err := s.Wait(ctx, id, nil); err != nil || r.Status != want {
			t.Fatalf("run %s: %v %v, want %s", id, r, err, want)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/status/", status.New(s.App))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	listURL := srv.URL + "/status/"
	list := b.dom(t, listURL)
	for _, want := range []string{
		`<span class="badge succeeded">succeeded</span>`,
		`<span class="badge failed">failed</span>`,
		`title="gs://dropcast-inbox/incoming/20260426-120000.csv">20260426-120000.csv</td>`,
		`<td class="num">480</td><td class="num">474</td>`,
		`preprocess: incoming/20260301-090000.csv`, // the failed run's reason

	} {
		if !strings.Contains(list, want) {
			t.Errorf("list page lacks %s", want)
		}
	}
	m := regexp.MustCompile(`<a class="run-link" href="([^"]+)">` + regexp.QuoteMeta(okID) + `</a>`).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("list page has no link to %s:\n%s", okID, list)
	}
	base, _ := url.Parse(listURL)
	ref, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	runURL := base.ResolveReference(ref).String()
	if runURL != srv.URL+"/status/runs/"+okID {
		t.Errorf("run link resolves to %s", runURL)
	}

	page := b.dom(t, runURL)
	for _, want := range []string{
		`<span class="badge succeeded" id="run-status">succeeded</span> ` + okID,
		`<th>rows_in</th><td class="num">480</td>`,
		`<th>rows_clean</th><td class="num">474</td>`,
		`<tr class="warn"><th>rows_rejected</th><td class="num">6</td>`,
		`<th>rows_predicted</th><td class="num">474</td>`,
		`gs://dropcast-work/runs/` + okID + `/e1/clean/`,
		`dropcast-local.sales.purchases$20260426`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	for _, step := range run.Plan {
		if !strings.Contains(page, `data-step="`+step+`" data-status="done"`) {
			t.Errorf("run page's timeline has no finished %s", step)
		}
	}
	if n := strings.Count(page, `<rect class="bar done"`); n != len(run.Plan) {
		t.Errorf("%d timeline bars, want %d", n, len(run.Plan))
	}
	if strings.Contains(page, `http-equiv="refresh"`) {
		t.Error("a finished run's page refreshes itself")
	}

	shot := filepath.Join(t.TempDir(), "status-page.png")
	if os.Getenv("DROPCAST_UPDATE_SCREENSHOT") == "1" {
		shot, _ = filepath.Abs(screenshotFile)
		if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.run(t, "--screenshot="+shot, "--window-size=1200,800", runURL)
	checkScreenshot(t, shot)
}

// checkScreenshot checks that the picture is the window's size and shows
// the timeline's green bars on the page's white.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(1200, 800) {
		t.Errorf("screenshot is %v, want 1200x800", got)
	}
	var green, white int
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			switch {
			case near(r, 0x18) && near(g, 0x80) && near(b, 0x38): // the done bars and badges
				green++
			case r > 0xf0 && g > 0xf0 && b > 0xf0:
				white++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	if green < 2000 || white < total/2 {
		t.Errorf("screenshot does not look like the run page: %d green pixels, %d of %d white", green, white, total)
	}
}

func near(v, want uint32) bool { return v+8 >= want && v <= want+8 }
