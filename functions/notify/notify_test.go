package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/events"
)

const secretPath = "/services/T0001/B0001/s3cr3t-t0k3n"

// hookServer answers every request with the next of codes (the last repeats)
// and counts requests.
func hookServer(t *testing.T, codes ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.WriteHeader(codes[min(i, len(codes)-1)])
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// noSecret fails when err mentions the webhook's address in any form.
func noSecret(t *testing.T, err error, url string) {
	t.Helper()
	for _, s := range []string{url, secretPath, "s3cr3t", strings.TrimPrefix(url, "http://")} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q reveals %q", err, s)
		}
	}
}

func TestPostGivesUpOnServerErrorsWithoutRevealingTheURL(t *testing.T) {
	srv, n := hookServer(t, http.StatusInternalServerError)
	url := srv.URL + secretPath
	err := post(context.Background(), srv.Client(), url, []byte(`{}`), time.Millisecond)
	if err == nil {
		t.Fatal("post to a failing webhook succeeded")
	}
	if int(n.Load()) != Attempts {
		t.Errorf("%d requests, want %d", n.Load(), Attempts)
	}
	if !strings.Contains(err.Error(), "answered 500") || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("error %q does not say what happened", err)
	}
	noSecret(t, err, url)
}

func TestPostRetriesRateLimitsUntilAccepted(t *testing.T) {
	srv, n := hookServer(t, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusOK)
	if err := post(context.Background(), srv.Client(), srv.URL+secretPath, []byte(`{}`), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3", n.Load())
	}
}

func TestPostDoesNotRetryClientErrors(t *testing.T) {
	srv, n := hookServer(t, http.StatusNotFound)
	url := srv.URL + secretPath
	err := post(context.Background(), srv.Client(), url, []byte(`{}`), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "answered 404") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
	noSecret(t, err, url)
}

func TestPostUnreachableOrInvalidWebhookHidesTheURL(t *testing.T) {
	srv, _ := hookServer(t, http.StatusOK)
	closed := srv.URL + secretPath
	srv.Close()
	err := post(context.Background(), http.DefaultClient, closed, []byte(`{}`), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("closed server: err = %v", err)
	}
	noSecret(t, err, closed)

	invalid := "http://[::1" + secretPath
	err = post(context.Background(), http.DefaultClient, invalid, []byte(`{}`), time.Millisecond)
	if err == nil {
		t.Fatal("invalid URL: no error")
	}
	noSecret(t, err, invalid)
}

func TestPostStopsWhenCancelled(t *testing.T) {
	srv, n := hookServer(t, http.StatusServiceUnavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := post(ctx, srv.Client(), srv.URL+secretPath, []byte(`{}`), time.Hour)
	if err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want the context's", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1 before the backoff", n.Load())
	}
}

// texts is every mrkdwn text of a message.
func texts(t *testing.T, msg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Text   string
		Blocks []struct {
			Text     *struct{ Text string }
			Fields   []struct{ Text string }
			Elements []struct{ Text string }
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := []string{m.Text}
	for _, bl := range m.Blocks {
		if bl.Text != nil {
			out = append(out, bl.Text.Text)
		}
		for _, f := range bl.Fields {
			out = append(out, f.Text)
		}
		for _, e := range bl.Elements {
			out = append(out, e.Text)
		}
	}
	return strings.Join(out, "\n")
}

func TestSlackMessageForAFailure(t *testing.T) {
	ev := events.Event{
		Type: events.RunFailed, RunID: "purchases-20260426-120000-abc", Pipeline: "purchases",
		Source: "gs://inbox/incoming/<!channel>&.csv", Status: "failed", Step: "load", Attempts: 3,
		Error:    "BigQuery job x failed: " + strings.Repeat("é", MaxReason),
		Counters: map[string]int64{"rows_in": 480, "rows_clean": 474}, Record: "gs://state/runs/purchases-20260426-120000-abc.json",
	}
	got := texts(t, SlackMessage(ev, "https://status.example/"))
	for _, want := range []string{
		":x: dropcast run failed", "&lt;!channel&gt;&amp;.csv", "*Pipeline*\npurchases", "*Status*\nfailed",
		"*Failed in load* after 3 attempts", "BigQuery job x failed", "…(truncated)",
		"rows_clean: 474\nrows_in: 480", "<https://status.example/runs/purchases-20260426-120000-abc|Run status>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<!channel>") {
		t.Error("a file name injected a mention")
	}
	if !strings.Contains(got, "é …(truncated)") || len(got) > 3*MaxReason {
		t.Errorf("the reason is not cut on a character boundary near %d bytes (message %d bytes)", MaxReason, len(got))
	}
}

func TestSlackMessageForASuccessLinksResultsAndRecord(t *testing.T) {
	ev := events.Event{
		Type: events.RunSucceeded, RunID: "r1", Pipeline: "purchases", Source: "gs://inbox/incoming/a.csv", Status: "succeeded",
		DurationMS: 12345, Outputs: map[string]string{"results": "gs://results/r/dt=2026-04-26/a.csv", "results_table": "p.d.t$20260426"},
		Record: "gs://state/runs/r1.json",
	}
	got := texts(t, SlackMessage(ev, ""))
	for _, want := range []string{
		":white_check_mark: dropcast run succeeded: gs://inbox/incoming/a.csv", "*Duration*\n12.345s",
		"`gs://results/r/dt=2026-04-26/a.csv`", "`p.d.t$20260426`", "<gs://state/runs/r1.json|Run record>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Failed in") {
		t.Errorf("a success names a failure:\n%s", got)
	}
}

func TestDecode(t *testing.T) {
	in := events.Event{Type: events.RunFailed, RunID: "r1", Epoch: 2, Step: "predict", Error: "boom"}
	data, _ := json.Marshal(in)
	e := event.New()
	if err := e.SetData("application/json", map[string]any{"message": map[string]any{"data": data}}); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != in.Type || got.RunID != in.RunID || got.Epoch != 2 || got.Step != "predict" || got.Error != "boom" {
		t.Errorf("decoded %+v", got)
	}
	bad := event.New()
	if err := bad.SetData("application/json", map[string]any{"message": map[string]any{"data": []byte(`{"type":"run.failed"}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bad); err == nil {
		t.Error("an event without run_id decoded")
	}
}
