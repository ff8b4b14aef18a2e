package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/events"
)

// deliver builds the CloudEvent a function receives from the documented
// binary-mode request: the fixture's headers and body.
func deliver(t *testing.T, headers, body []byte) event.Event {
	t.Helper()
	req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	sc := bufio.NewScanner(bytes.NewReader(headers))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			req.Header.Set(k, v)
		}
	}
	e, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	return *e
}

// The documented messagePublished event carries the run event in
// message.data (base64); Decode returns it, and refuses a payload that is
// not a run event (the documented example's "hello world").
func TestConformanceMessagePublished(t *testing.T) {
	f := conformance.Load(t, "eventarc-pubsub-message-published")
	headers, body := f.MustFile(t, "headers.txt"), f.MustFile(t, "data.json")

	if _, err := Decode(deliver(t, headers, body)); err == nil {
		t.Error("the documented example's payload decoded as a run event")
	}

	want := events.Event{Version: 1, Type: events.RunFailed, Time: time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC),
		RunID: "purchases-20260426-abc", Pipeline: "purchases", Source: "gs://in/incoming/a.csv", Epoch: 2,
		Status: "failed", Step: "load", Error: "boom"}
	payload, _ := json.Marshal(want)
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		t.Fatal(err)
	}
	data["message"].(map[string]any)["data"] = payload // base64, as documented
	body, _ = json.Marshal(data)
	got, err := Decode(deliver(t, headers, body))
	if err != nil {
		t.Fatal(err)
	}
	if got.RunID != want.RunID || got.Type != want.Type || got.Epoch != want.Epoch || got.Error != want.Error || !got.Time.Equal(want.Time) {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
}
