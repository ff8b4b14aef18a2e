package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/spec"
)

// notifyApp is notify's App on a Cloud Storage emulator behind a fault
// proxy, posting to hook.
func notifyApp(t *testing.T, hook string) (*app.App, *faultproxy.Proxy) {
	t.Helper()
	gcs, proxy := gcsemutest.StartBehindProxy(t, faultproxy.Faults{}, "state")
	a := &app.App{
		Config:  config.Config{StateBucket: "state", WebhookURL: hook},
		Clients: &platform.Clients{Storage: gcs},
		Specs:   spec.NewSource(gcs, "gs://state/specs/", time.Minute),
		Log:     slog.New(slog.DiscardHandler),
	}
	return a, proxy
}

// published is run event ev as the messagePublished CloudEvent of message id.
func published(t *testing.T, id string, ev events.Event) event.Event {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	e := event.New()
	e.SetID(id)
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/events")
	if err := e.SetData("application/json", map[string]any{"message": map[string]any{"data": data, "messageId": id}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// Item 4 of issue 14: the marker's write lands but its answer is lost; the
// client's retry meets the marker. The outcome must still be sent, and a
// redelivery of the event must not send it again.
func TestLostMarkerReplyStillNotifies(t *testing.T) {
	srv, n := hookServer(t, http.StatusOK)
	a, proxy := notifyApp(t, srv.URL+"/hook")
	ev := events.Event{Version: events.Version, Type: events.RunSucceeded, RunID: "p-20260426-0123456789abcdef", Pipeline: "p", Epoch: 1, Status: "succeeded", Time: time.Now()}
	proxy.LoseNextWrites(1)
	if err := Handle(context.Background(), a, published(t, "m1", ev)); err != nil {
		t.Fatal(err)
	}
	if proxy.Stats().LostResponses != 1 {
		t.Fatalf("%d answers lost, want 1", proxy.Stats().LostResponses)
	}
	if n.Load() != 1 {
		t.Fatalf("the webhook got %d posts, want 1", n.Load())
	}
	// Pub/Sub redelivers the message, and the kernel published the outcome
	// a second time (its record write failed): both are absorbed.
	for _, id := range []string{"m1", "m2"} {
		if err := Handle(context.Background(), a, published(t, id, ev)); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("duplicates reached the webhook: %d posts, want 1", n.Load())
	}
}

// Item 4: a webhook that fails (or an instance that dies before it posts)
// leaves no marker, so the next delivery of the outcome is posted.
func TestFailedPostLeavesTheOutcomeToTheNextDelivery(t *testing.T) {
	srv, n := hookServer(t, http.StatusBadGateway, http.StatusBadGateway, http.StatusBadGateway, http.StatusBadGateway, http.StatusOK)
	a, _ := notifyApp(t, srv.URL+"/hook")
	ev := events.Event{Version: events.Version, Type: events.RunFailed, RunID: "p-20260426-0123456789abcdef", Pipeline: "p", Epoch: 2, Status: "failed", Step: "load", Time: time.Now()}
	Handle(context.Background(), a, published(t, "m1", ev))
	if n.Load() != Attempts {
		t.Fatalf("%d posts, want %d", n.Load(), Attempts)
	}
	Handle(context.Background(), a, published(t, "m2", ev))
	if n.Load() != Attempts+1 {
		t.Fatalf("the second delivery was absorbed as a duplicate of an outcome never posted (%d posts)", n.Load())
	}
	Handle(context.Background(), a, published(t, "m3", ev))
	if n.Load() != Attempts+1 {
		t.Fatalf("a posted outcome was posted again (%d posts)", n.Load())
	}
}
