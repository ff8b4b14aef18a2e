package status

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/run"
)

const stateBucket = "state"

var t0 = time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)

// fixture is a store holding three runs of two pipelines, served by the handler.
type fixture struct {
	h                          *Handler
	ok, running, failed, other *run.Run
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	gcs := gcsemutest.Start(t, stateBucket)
	store := run.NewStore(gcs, stateBucket)

	f := &fixture{
		ok:      succeededRun("purchases", "incoming/20260425-120000.csv", t0.Add(-24*time.Hour)),
		running: runningRun("purchases", "incoming/20260426-120000.csv", t0.Add(-10*time.Second)),
		failed:  failedRun("purchases", "incoming/20260424-120000.csv", t0.Add(-48*time.Hour)),
		other:   succeededRun("returns", "incoming/20260423-080000.csv", t0.Add(-72*time.Hour)),
	}
	for _, r := range []*run.Run{f.ok, f.running, f.failed, f.other} {
		if err := store.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	f.h = New(&app.App{Config: config.Config{Project: "proj"}, Runs: store})
	f.h.now = func() time.Time { return t0 }
	return f
}

func newRun(pipeline, object string, created time.Time) *run.Run {
	src := run.Source{Bucket: "inbox", Object: object, Generation: created.UnixNano()}
	return run.New(run.ID(pipeline, src), pipeline, src, object[9:17], run.Plan, created)
}

func succeededRun(pipeline, object string, created time.Time) *run.Run {
	r := newRun(pipeline, object, created)
	at := created.Add(30 * time.Millisecond)
	for i, st := range r.Steps {
		st.Status, st.Attempts, st.Segments = run.StepDone, 1+2*min(i, 1), 2*min(i, 1)
		st.StartedAt, st.FinishedAt = at, at.Add(time.Duration(200+100*i)*time.Millisecond)
		at = st.FinishedAt.Add(5 * time.Millisecond)
	}
	r.Status, r.FinishedAt, r.Step = run.Succeeded, at, run.Postprocess
	r.Counters = map[string]int64{run.RowsIn: 480, run.RowsClean: 474, run.RowsRejected: 6, run.RowsLoaded: 474, run.RowsPredicted: 474, run.RowsErrored: 0, "rows_custom": 1234567}
	work := "gs://work/" + r.WorkPrefix()
	r.Outputs = map[string]string{
		"clean": work + "clean/", "rejects": work + "rejects/",
		"table":       "proj.sales.purchases$" + r.FileDate,
		"predictions": work + "predictions/out",
		"results":     "gs://results/results/" + pipeline + "/dt=2026-04-25/x.csv",
	}
	r.UpdatedAt = at
	return r
}

func runningRun(pipeline, object string, created time.Time) *run.Run {
	r := newRun(pipeline, object, created)
	pre, load := r.Steps[0], r.Steps[1]
	pre.Status, pre.Attempts, pre.StartedAt, pre.FinishedAt = run.StepDone, 1, created.Add(time.Second), created.Add(3*time.Second)
	load.Status, load.Attempts, load.Segments, load.StartedAt = run.StepRunning, 2, 1, created.Add(4*time.Second)
	load.LastError = "bigquery: backend error"
	r.Step, r.Segment = run.Load, 1
	r.Counters = map[string]int64{run.RowsIn: 100, run.RowsClean: 100, run.RowsRejected: 0}
	return r
}

func failedRun(pipeline, object string, created time.Time) *run.Run {
	r := newRun(pipeline, object, created)
	pre := r.Steps[0]
	msg := `too many rejects: 60 of 100 rows <script>alert("x")</script>`
	pre.Status, pre.Attempts, pre.StartedAt, pre.FinishedAt, pre.Error = run.StepFailed, 1, created, created.Add(time.Second), msg
	r.Status, r.FinishedAt = run.Failed, created.Add(time.Second)
	r.Error = &run.Failure{Step: run.Preprocess, Message: msg, At: r.FinishedAt}
	r.Counters = map[string]int64{run.RowsIn: 100, run.RowsClean: 40, run.RowsRejected: 60}
	r.Outputs = map[string]string{"rejects": "gs://work/" + r.WorkPrefix() + "rejects/"}
	return r
}

// get serves one request to h and returns the status code, headers and body.
func get(t *testing.T, h http.Handler, target string) (int, http.Header, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w.Code, w.Header(), w.Body.String()
}

var runLinkRE = regexp.MustCompile(`<a class="run-link" href="([^"]+)">([^<]+)</a>`)

// listedIDs are the run IDs a list page links to, in order.
func listedIDs(body string) []string {
	var ids []string
	for _, m := range runLinkRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[2])
	}
	return ids
}

func hasRefresh(body string) bool {
	return strings.Contains(body, `<meta http-equiv="refresh" content="5">`)
}

func TestListNewestFirstWithCountsAndErrors(t *testing.T) {
	f := newFixture(t)
	code, hdr, body := get(t, f.h, "/")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", code, hdr.Get("Content-Type"))
	}
	want := []string{f.running.ID, f.ok.ID, f.failed.ID, f.other.ID}
	if got := listedIDs(body); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want newest first %v", got, want)
	}
	for _, s := range []string{
		`<span class="badge running">running</span>`,
		`<span class="badge succeeded">succeeded</span>`,
		`<span class="badge failed">failed</span>`,
		`title="gs://inbox/incoming/20260425-120000.csv">20260425-120000.csv</td>`,
		`<td class="num">480</td><td class="num">474</td>`,
		`<td class="num warn">6</td>`,
		`preprocess: too many rejects: 60 of 100 rows &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
		`<option value="returns">returns</option>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("list page lacks %s", s)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("list page contains an unescaped <script>")
	}
	if !hasRefresh(body) {
		t.Error("a running run is listed but the page does not refresh itself")
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		query   string
		want    []string
		refresh bool
	}{
		{"?status=failed", []string{f.failed.ID}, false},
		{"?status=running", []string{f.running.ID}, true},
		{"?pipeline=returns", []string{f.other.ID}, false},
		{"?pipeline=purchases&status=succeeded", []string{f.ok.ID}, false},
		{"?pipeline=nothing", nil, false},
	} {
		code, _, body := get(t, f.h, "/"+tc.query)
		if code != http.StatusOK {
			t.Errorf("%s: status %d", tc.query, code)
			continue
		}
		if got := listedIDs(body); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: listed %v, want %v", tc.query, got, tc.want)
		}
		if hasRefresh(body) != tc.refresh {
			t.Errorf("%s: refresh %v, want %v", tc.query, hasRefresh(body), tc.refresh)
		}
		if tc.want == nil && !strings.Contains(body, "No runs match these filters") {
			t.Errorf("%s: no empty-state message", tc.query)
		}
	}
	if code, _, _ := get(t, f.h, "/?status=exploded"); code != http.StatusBadRequest {
		t.Errorf("unknown status: %d, want 400", code)
	}
}

func TestRunPageSucceeded(t *testing.T) {
	f := newFixture(t)
	code, _, body := get(t, f.h, "/runs/"+f.ok.ID)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if hasRefresh(body) {
		t.Error("a finished run's page refreshes itself")
	}
	bars := regexp.MustCompile(`<rect class="bar (\w+)" x="([\d.]+)" y="\d+" width="([\d.]+)"`).FindAllStringSubmatch(body, -1)
	if len(bars) != 4 {
		t.Fatalf("%d bars, want one per step:\n%s", len(bars), body)
	}
	prevEnd := 0.0
	for i, b := range bars {
		x, w := atof(t, b[2]), atof(t, b[3])
		if b[1] != "done" || x < chartLabelW || x+w > chartWidth || x < prevEnd-0.1 {
			t.Errorf("bar %d: class %s x %v width %v (previous ended at %v)", i, b[1], x, w, prevEnd)
		}
		prevEnd = x + w
	}
	for _, s := range []string{
		`<span class="badge succeeded" id="run-status">succeeded</span>`,
		`data-step="preprocess" data-status="done"`,
		`data-step="postprocess" data-status="done"`,
		`3 attempts · 2 segments · 400ms`, // load: 200+100*1 ms… see succeededRun
		`<th>rows_rejected</th><td class="num">6</td>`,
		`<tr class="warn"><th>rows_rejected</th>`,
		`<th>rows_custom</th><td class="num">1,234,567</td>`,
		`href="https://console.cloud.google.com/storage/browser/work/runs/` + f.ok.ID + `/e1/clean/"`,
		`href="https://console.cloud.google.com/storage/browser/_details/inbox/incoming/20260425-120000.csv"`,
		`href="https://console.cloud.google.com/bigquery?d=sales&amp;p=proj&amp;page=table&amp;project=proj&amp;t=purchases"`,
		`href="` + f.ok.ID + `.json"`,
		`href="../"`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("run page lacks %s", s)
		}
	}
}

func TestRunPageRunningAndFailed(t *testing.T) {
	f := newFixture(t)
	_, _, body := get(t, f.h, "/runs/"+f.running.ID)
	if !hasRefresh(body) {
		t.Error("a running run's page does not refresh itself")
	}
	for _, s := range []string{
		`<rect class="bar running"`,
		`2 attempts · 1 segment · 6s so far`,
		`data-step="predict" data-status="pending"`,
		`bigquery: backend error`,
		`next: load segment 1`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("running run page lacks %s", s)
		}
	}
	if n := strings.Count(body, `<rect class="bar`); n != 2 {
		t.Errorf("%d bars for a run with 2 started steps", n)
	}

	_, _, body = get(t, f.h, "/runs/"+f.failed.ID)
	for _, s := range []string{
		`<h2>Failed in preprocess</h2>`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
		`<rect class="bar failed"`,
		`<tr class="warn"><th>rows_rejected</th><td class="num">60</td>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("failed run page lacks %s", s)
		}
	}
	if strings.Contains(body, "<script>") || hasRefresh(body) {
		t.Error("failed run page: unescaped script or refresh")
	}
}

func TestRunJSON(t *testing.T) {
	f := newFixture(t)
	code, hdr, body := get(t, f.h, "/runs/"+f.failed.ID+".json")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", code, hdr.Get("Content-Type"))
	}
	var r run.Run
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != f.failed.ID || r.Status != run.Failed || r.Counters[run.RowsRejected] != 60 || r.Error == nil || r.Error.Step != run.Preprocess {
		t.Errorf("record %+v", r)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/runs/purchases-nothing-0123456789", http.StatusNotFound},
		{"/runs/purchases-nothing-0123456789.json", http.StatusNotFound},
		{"/runs/..%2f..%2fsecrets", http.StatusNotFound},
		{"/favicon.ico", http.StatusNotFound},
	} {
		if code, _, _ := get(t, f.h, tc.target); code != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.target, code, tc.code)
		}
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d", w.Code)
	}
}

// TestMountedUnderPrefix follows the pages' own links on a server that
// mounts the handler at /status/ without stripping the prefix, as the local
// stack does, and at the root, as the function's own URL does.
func TestMountedUnderPrefix(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/status/", f.h)
	mux.Handle("/status", f.h)
	for _, tc := range []struct {
		name string
		h    http.Handler
		list string
	}{{"prefix", mux, "/status"}, {"root", f.h, "/"}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			// /status redirects to /status/, where relative links work.
			list := fetch(t, srv.URL+tc.list+"?status=succeeded")
			if list.url.Path != strings.TrimSuffix(tc.list, "/")+"/" || list.url.RawQuery != "status=succeeded" {
				t.Errorf("list served at %s", list.url)
			}
			m := runLinkRE.FindStringSubmatch(list.body)
			if m == nil {
				t.Fatalf("no run link on %s", list.url)
			}
			page := fetch(t, resolve(t, list.url, m[1]).String())
			if !strings.Contains(page.body, `id="run-status">succeeded</span> `+f.ok.ID) {
				t.Fatalf("link %s led to %s, not the run page", m[1], page.url)
			}
			rec := fetch(t, resolve(t, page.url, f.ok.ID+".json").String())
			if !strings.Contains(rec.body, `"id": "`+f.ok.ID+`"`) {
				t.Errorf("JSON link from %s: %s", page.url, rec.body)
			}
			back := fetch(t, resolve(t, page.url, "../").String())
			if len(listedIDs(back.body)) != 4 {
				t.Errorf("back link %s lists %v", back.url, listedIDs(back.body))
			}
		})
	}
}

type fetched struct {
	url  *url.URL
	body string
}

func fetch(t *testing.T, u string) fetched {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return fetched{resp.Request.URL, string(b)}
}

func resolve(t *testing.T, base *url.URL, ref string) *url.URL {
	t.Helper()
	r, err := url.Parse(strings.ReplaceAll(ref, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(r)
}

func TestListIsCapped(t *testing.T) {
	h := &Handler{now: func() time.Time { return t0 }}
	var runs []*run.Run
	for i := range MaxListed + 1 {
		runs = append(runs, succeededRun("p", "incoming/20260425-120000.csv", t0.Add(-time.Duration(i)*time.Minute)))
	}
	p := h.listPage(run.Filter{}, runs, nil, t0)
	if len(p.Rows) != MaxListed || !p.Capped {
		t.Errorf("%d rows, capped %v; want %d, true", len(p.Rows), p.Capped, MaxListed)
	}
}

func TestChartGeometry(t *testing.T) {
	r := newRun("p", "incoming/20260425-120000.csv", t0)
	pre, load := r.Steps[0], r.Steps[1]
	pre.Status, pre.Attempts, pre.StartedAt, pre.FinishedAt = run.StepDone, 1, t0, t0.Add(time.Microsecond)
	load.Status, load.Attempts, load.StartedAt, load.FinishedAt = run.StepDone, 1, t0.Add(5*time.Second), t0.Add(10*time.Second)
	r.Status, r.FinishedAt = run.Succeeded, t0.Add(10*time.Second)
	c := newChart(r, t0.Add(time.Hour))
	plotW := float64(chartWidth - chartLabelW - chartRight)
	if b := c.Bars[0]; !b.Drawn || atof(t, b.X) != chartLabelW || atof(t, b.W) != 2 {
		t.Errorf("a 1µs step at the start: x %s w %s, want %d and the 2-unit minimum", b.X, b.W, chartLabelW)
	}
	if b := c.Bars[1]; atof(t, b.X) != chartLabelW+plotW/2 || atof(t, b.W) != plotW/2 || !b.Inside {
		t.Errorf("second half: x %s w %s inside %v", b.X, b.W, b.Inside)
	}
	if b := c.Bars[2]; b.Drawn || b.Label != "pending" {
		t.Errorf("pending step drawn %v label %q", b.Drawn, b.Label)
	}
	if c.Ticks[4].Label != "+10s" || c.Ticks[2].Label != "+5s" {
		t.Errorf("ticks %+v", c.Ticks)
	}
}

func TestConsoleURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gs://b/runs/x/e1/clean/", "https://console.cloud.google.com/storage/browser/b/runs/x/e1/clean/"},
		{"gs://b/a dir/f#1.csv", "https://console.cloud.google.com/storage/browser/_details/b/a%20dir/f%231.csv"},
		{"gs://b", "https://console.cloud.google.com/storage/browser/b/"},
		{"proj-1.sales.purchases$20260426", "https://console.cloud.google.com/bigquery?d=sales&p=proj-1&page=table&project=proj-1&t=purchases"},
		{"sales.purchases", "https://console.cloud.google.com/bigquery?d=sales&p=dflt&page=table&project=dflt&t=purchases"},
		{"projects/p/locations/us-central1/batchPredictionJobs/123", "https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/123?project=p"},
		{"javascript:alert(1)", ""},
		{"", ""},
	} {
		if got := ConsoleURL(tc.in, "dflt"); got != tc.want {
			t.Errorf("ConsoleURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := fmtInt(in); got != want {
			t.Errorf("fmtInt(%d) = %q", in, got)
		}
	}
	for in, want := range map[time.Duration]string{1234567 * time.Microsecond: "1.2s", 217 * time.Millisecond: "217ms", 90 * time.Minute: "1h30m0s"} {
		if got := fmtDuration(in); got != want {
			t.Errorf("fmtDuration(%s) = %q", in, got)
		}
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}
