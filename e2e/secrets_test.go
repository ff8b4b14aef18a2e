package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecretsNeverLeakIntoLogsEventsOrRecords(t *testing.T) {
	t.Parallel()
	const token = "T0KEN-9f8e7d6c5b4a"
	var calls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusInternalServerError) // every error path runs
	}))
	defer hook.Close()
	var logs syncBuffer
	var mu sync.Mutex
	var seen []events.Event
	s := mustStack(t, localstack.Options{
		Log: logging.New(&logs, slog.LevelDebug),
		Configure: func(c *config.Config) {
			c.SlackWebhookURL = hook.URL + "/services/" + token
			c.WebhookURL = hook.URL + "/generic?key=" + token
		},
		OnEvent: func(e events.Event) { mu.Lock(); seen = append(seen, e); mu.Unlock() },
	})
	ok := dropAndWait(t, s, sampleObject(), sample.CSV)
	bad := dropAndWait(t, s, "incoming/20260427-120000.csv", []byte("date,store_id\n"))
	if ok.Status != run.Succeeded || bad.Status != run.Failed {
		t.Fatalf("runs: %s, %s", ok.Status, bad.Status)
	}
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 2*4*2 && time.Now().Before(deadline) { // 2 runs × 4 attempts × 2 webhooks
		time.Sleep(50 * time.Millisecond)
	}
	if calls.Load() == 0 {
		t.Fatal("the webhooks were never called")
	}
	mu.Lock()
	evs, _ := json.Marshal(seen)
	mu.Unlock()
	for what, text := range map[string]string{"logs": logs.String(), "events": string(evs)} {
		if strings.Contains(text, token) {
			t.Errorf("the webhook secret appears in the %s", what)
		}
	}
	for _, r := range []*run.Run{ok, bad} {
		got, err := s.App.Runs.Get(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got)
		if strings.Contains(string(b), token) {
			t.Errorf("the webhook secret appears in run record %s", r.ID)
		}
	}
	if !strings.Contains(logs.String(), `"run_id"`) {
		t.Fatal("no logs were captured: the check above proves nothing")
	}
}
