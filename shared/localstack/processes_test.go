package localstack

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/conformance"
)

// fixtureHeaders reads a fixture's "Name: value" lines.
func fixtureHeaders(t *testing.T, b []byte) map[string]string {
	t.Helper()
	h := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("header line %q", sc.Text())
		}
		h[k] = v
	}
	return h
}

// TestConformanceBinaryContentMode: the bridges hand a CloudEvent to a
// function's process as Eventarc does, an HTTP POST in binary content mode
// (fixture eventarc-binary-content-mode), and a non-2xx answer is an error
// (the message is redelivered).
func TestConformanceBinaryContentMode(t *testing.T) {
	f := conformance.Load(t, "eventarc-binary-content-mode")
	want := fixtureHeaders(t, f.MustFile(t, "headers.txt"))
	data := bytes.TrimSpace(f.MustFile(t, "data.json"))

	e := event.New()
	e.SetID(want["ce-id"])
	e.SetSource(want["ce-source"])
	e.SetType(want["ce-type"])
	e.SetSubject(want["ce-subject"])
	tm, err := time.Parse(time.RFC3339Nano, want["ce-time"])
	if err != nil {
		t.Fatal(err)
	}
	e.SetTime(tm)
	if err := e.SetData(want["Content-Type"], data); err != nil {
		t.Fatal(err)
	}

	var got *http.Request
	var body []byte
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, nil
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p := &processes{children: map[string]*child{"ingest": {name: "ingest", target: u}}, transport: &http.Transport{}}

	if err := p.deliver(context.Background(), "ingest", e); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost {
		t.Errorf("method %s, want POST", got.Method)
	}
	for k, v := range want {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s: %q, want %q", k, g, v)
		}
	}
	if !bytes.Equal(body, data) {
		t.Errorf("body %s, want the data alone: %s", body, data)
	}

	status = http.StatusInternalServerError
	if err := p.deliver(context.Background(), "ingest", e); err == nil {
		t.Error("a 500 answer was taken as delivered")
	}
}

// TestChildEnvIsTheWholeConfig: a function process gets every setting of the
// stack's configuration, zero durations included, and reads back the same
// configuration; nothing of the parent's environment leaks in.
func TestChildEnvIsTheWholeConfig(t *testing.T) {
	c := config.Default()
	c.Project, c.InboxBucket, c.StateBucket, c.WorkBucket, c.ResultsBucket = "p", "in", "st", "wk", "res"
	c.Specs, c.TasksQueue, c.StepBaseURL = "gs://st/specs/", "projects/p/locations/l/queues/q", "http://127.0.0.1:1"
	c.SafetyMargin = 0 // not the default 30s
	c.SlackWebhookURL = "http://127.0.0.1:2/hook"
	c.EmulatorIdentity = "load@p.iam.gserviceaccount.com"
	t.Setenv("DROPCAST_POLL_INTERVAL", "17s") // the parent's own environment

	env := map[string]string{}
	for _, kv := range childEnv(c, "load") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["FUNCTION_TARGET"] != "load" {
		t.Errorf("FUNCTION_TARGET %q", env["FUNCTION_TARGET"])
	}
	got, err := config.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("the process reads\n%+v\nthe stack has\n%+v", got, c)
	}
	if os.Getenv("DROPCAST_POLL_INTERVAL") == env["DROPCAST_POLL_INTERVAL"] {
		t.Error("the parent's environment reached the function process")
	}
}
