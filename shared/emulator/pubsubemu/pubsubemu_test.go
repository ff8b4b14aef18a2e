package pubsubemu

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// The bridge delivers each message as Eventarc would, and redelivers a
// message whose function failed (at-least-once).
func TestBridgeDeliversAndRedeliversOnFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, "t", "sub", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	got := make(chan event.Event, 1)
	go s.Bridge(ctx, "sub", func(_ context.Context, e event.Event) error {
		if calls.Add(1) == 1 {
			return context.DeadlineExceeded // the first delivery fails: expect another
		}
		select {
		case got <- e:
		default:
		}
		return nil
	})
	pub := s.Client().Publisher("t")
	defer pub.Stop()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("hello"), Attributes: map[string]string{"eventType": "OBJECT_FINALIZE"}}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	var e event.Event
	select {
	case e = <-got:
	case <-ctx.Done():
		t.Fatalf("no redelivery after a failed delivery (%d calls)", calls.Load())
	}
	if e.Type() != "google.cloud.pubsub.topic.v1.messagePublished" || e.Source() != "//pubsub.googleapis.com/projects/p/topics/t" {
		t.Fatalf("event %s from %s", e.Type(), e.Source())
	}
	var d messagePublishedData
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		t.Fatal(err)
	}
	if string(d.Message.Data) != "hello" || d.Message.Attributes["eventType"] != "OBJECT_FINALIZE" || d.Message.MessageID == "" {
		t.Fatalf("message %+v", d.Message)
	}
}
