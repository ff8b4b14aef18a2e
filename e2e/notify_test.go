package e2e

import (
	"bytes"
	"encoding/json"
	"github.com/dropcast/dropcast/functions/load"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/notify"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// Paths the hook receiver serves as the Slack and the generic webhook.
const (
	slackPath = "/services/T000/B000/not-a-real-secret"
	hookPath  = "/hooks/dropcast"
)

// hookReceiver is a local webhook that records every request and answers
// with a fixed status.
type hookReceiver struct {
	srv    *httptest.Server
	status int

	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	path        string
	contentType string
	body        []byte
}

func newHookReceiver(t *testing.T, status int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body})
		h.mu.Unlock()
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// configure points the stack's Slack and generic webhooks at the receiver.
func (h *hookReceiver) configure(c *config.Config) {
	c.SlackWebhookURL = h.srv.URL + slackPath
	c.WebhookURL = h.srv.URL + hookPath
}

// requests returns what path has received so far.
func (h *hookReceiver) requests(path string) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, r := range h.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// await waits (up to within) until slack and the generic webhook have each
// received n requests, then lingers for quiet to catch any extra one, and
// returns what each received.
func (h *hookReceiver) await(t *testing.T, n int, within, quiet time.Duration) (slack, hook []hookRequest) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(h.requests(slackPath)) < n || len(h.requests(hookPath)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d Slack and %d webhook requests, want %d each", within, len(h.requests(slackPath)), len(h.requests(hookPath)), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(quiet)
	return h.requests(slackPath), h.requests(hookPath)
}

// hookEvent decodes a generic webhook request.
func hookEvent(t *testing.T, r hookRequest) events.Event {
	t.Helper()
	if r.contentType != "application/json" {
		t.Errorf("webhook content type %q", r.contentType)
	}
	var ev events.Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("webhook body %q: %v", r.body, err)
	}
	return ev
}

// slackText is every text of a Slack Block Kit message, joined.
func slackText(t *testing.T, r hookRequest) string {
	t.Helper()
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string                  `json:"type"`
			Text   *struct{ Text string }  `json:"text"`
			Fields []struct{ Text string } `json:"fields"`
			Elems  []struct{ Text string } `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(r.body, &msg); err != nil {
		t.Fatalf("slack body %q: %v", r.body, err)
	}
	if msg.Text == "" || len(msg.Blocks) == 0 {
		t.Fatalf("slack message without text or blocks: %s", r.body)
	}
	parts := []string{msg.Text}
	for _, b := range msg.Blocks {
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range b.Fields {
			parts = append(parts, f.Text)
		}
		for _, e := range b.Elems {
			parts = append(parts, e.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestNotifySuccessOnce(t *testing.T) {
	t.Parallel()
	h := newHookReceiver(t, http.StatusOK)
	s := mustStack(t, localstack.Options{Configure: h.configure})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	slack, hook := h.await(t, 1, 10*time.Second, 500*time.Millisecond)
	if len(slack) != 1 || len(hook) != 1 {
		t.Fatalf("%d Slack and %d webhook notifications, want one each", len(slack), len(hook))
	}
	ev := hookEvent(t, hook[0])
	if ev.Type != events.RunSucceeded || ev.RunID != r.ID || ev.Pipeline != "purchases" || ev.Status != string(run.Succeeded) {
		t.Errorf("webhook event %+v", ev)
	}
	if ev.Counters[run.RowsResults] != sampleClean || ev.Outputs["results"] != r.Outputs["results"] || ev.DurationMS <= 0 {
		t.Errorf("webhook event counters %v outputs %v duration %d", ev.Counters, ev.Outputs, ev.DurationMS)
	}
	text := slackText(t, slack[0])
	for _, want := range []string{
		"succeeded", sampleObject(), "purchases", r.ID,
		"rows_results: 474",                  // counts
		s.Config.StatusURL + "/runs/" + r.ID, // link to the run's page
		r.Outputs["results"],                 // where the results are
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack message does not say %q:\n%s", want, text)
		}
	}
}

func TestNotifyFailureOnceNamingStepAndReason(t *testing.T) {
	t.Parallel()
	// 40 more rows with a category the spec does not allow: 46 of 480 rejected.
	overThreshold := bytes.Replace(sample.CSV, []byte(",grocery,"), []byte(",groceries,"), 40)
	cases := []struct {
		name   string
		data   []byte
		fault  func(*localstack.Stack)
		step   string
		reason string
	}{
		{"rejects over threshold", overThreshold, func(*localstack.Stack) {}, run.Preprocess, "over reject_threshold.max_ratio 0.05"},
		{"load job fails", sample.CSV, func(s *localstack.Stack) { s.BQ.SetFaults(bqemu.Faults{FailJobs: 1 + load.MaxJobRetries}) }, run.Load, "backendError"},
		{"prediction job fails", sample.CSV, func(s *localstack.Stack) { s.Vertex.SetFaults(vertexemu.Faults{FailJobs: 1}) }, run.Predict, "injected failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHookReceiver(t, http.StatusOK)
			s := mustStack(t, localstack.Options{Configure: h.configure})
			c.fault(s)
			r := dropAndWait(t, s, sampleObject(), c.data)
			if r.Status != run.Failed || r.Error == nil || r.Error.Step != c.step {
				t.Fatalf("run %s: %s %+v, want failed in %s", r.ID, r.Status, r.Error, c.step)
			}
			slack, hook := h.await(t, 1, 10*time.Second, 500*time.Millisecond)
			if len(slack) != 1 || len(hook) != 1 {
				t.Fatalf("%d Slack and %d webhook notifications, want one each", len(slack), len(hook))
			}
			ev := hookEvent(t, hook[0])
			if ev.Type != events.RunFailed || ev.RunID != r.ID || ev.Step != c.step || !strings.Contains(ev.Error, c.reason) {
				t.Errorf("webhook event: type %s step %q error %q, want run.failed in %s saying %q", ev.Type, ev.Step, ev.Error, c.step, c.reason)
			}
			text := slackText(t, slack[0])
			for _, want := range []string{"failed", "Failed in " + c.step, c.reason, sampleObject()} {
				if !strings.Contains(text, want) {
					t.Errorf("Slack message does not say %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestNotifyWebhookDownDoesNotChangeTheRun(t *testing.T) {
	t.Parallel()
	h := newHookReceiver(t, http.StatusInternalServerError)
	s := mustStack(t, localstack.Options{Configure: h.configure})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	// Each webhook is tried notify.Attempts times (backoff 0.2+0.4+0.8 s), then dropped.
	slack, hook := h.await(t, notify.Attempts, 15*time.Second, 2*time.Second)
	if len(slack) != notify.Attempts || len(hook) != notify.Attempts {
		t.Fatalf("%d Slack and %d webhook requests, want %d each (bounded retries)", len(slack), len(hook), notify.Attempts)
	}
	for _, req := range hook {
		if ev := hookEvent(t, req); ev.Type != events.RunSucceeded || ev.RunID != r.ID {
			t.Errorf("retried a different event: %+v", ev)
		}
	}
	after, err := s.App.Runs.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != run.Succeeded || after.Error != nil {
		t.Errorf("after the webhook failed the run is %s %+v", after.Status, after.Error)
	}
}

func TestNotifySwitchesPerPipeline(t *testing.T) {
	t.Parallel()
	h := newHookReceiver(t, http.StatusOK)
	quietOnSuccess := append(bytes.Clone(sample.Spec), "\nnotify:\n  on_success: false\n"...)
	s := mustStack(t, localstack.Options{Configure: h.configure, Specs: map[string][]byte{sample.SpecName: quietOnSuccess}})
	ok := dropAndWait(t, s, sampleObject(), sample.CSV)
	if ok.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", ok.ID, ok.Status, ok.Error)
	}
	// A failing run after the successful one. Its event is published seconds
	// after the success event, and the receiver lingers a second after its
	// notification, so a success notification would have arrived by then.
	bad := bytes.Replace(sample.CSV, []byte(",grocery,"), []byte(",groceries,"), 40)
	failed := dropAndWait(t, s, "incoming/20260427-120000.csv", bad)
	if failed.Status != run.Failed {
		t.Fatalf("run %s: %s, want failed", failed.ID, failed.Status)
	}
	slack, hook := h.await(t, 1, 10*time.Second, time.Second)
	if len(slack) != 1 || len(hook) != 1 {
		t.Fatalf("%d Slack and %d webhook notifications, want one each (the failure)", len(slack), len(hook))
	}
	if ev := hookEvent(t, hook[0]); ev.Type != events.RunFailed || ev.RunID != failed.ID {
		t.Errorf("notified %s for %s, want only run.failed for %s", ev.Type, ev.RunID, failed.ID)
	}
}
