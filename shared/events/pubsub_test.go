package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
)

func TestPublishCarriesSchemaAndFilterAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTopic(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, "events", "sub", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p := NewPubSub(s.Client(), "events", slog.New(slog.DiscardHandler))
	defer p.Stop()
	p.Publish(ctx, Event{Type: RunFailed, RunID: "r1", Pipeline: "purchases", Status: "failed", Step: "load", Error: "boom"})

	got := make(chan *pubsub.Message, 1)
	rctx, stop := context.WithCancel(ctx)
	go s.Client().Subscriber("sub").Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
		default:
		}
	})
	defer stop()
	select {
	case m := <-got:
		var e Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Version != Version || e.RunID != "r1" || e.Step != "load" || e.Error != "boom" {
			t.Fatalf("event %+v", e)
		}
		if m.Attributes["type"] != RunFailed || m.Attributes["pipeline"] != "purchases" || m.Attributes["status"] != "failed" {
			t.Fatalf("attributes %v", m.Attributes)
		}
	case <-ctx.Done():
		t.Fatal("no event received")
	}
}

// Publishing to a topic that does not exist returns within the timeout and
// does not panic or fail the caller.
func TestPublishNeverBlocksOrFails(t *testing.T) {
	ctx := context.Background()
	s, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := NewPubSub(s.Client(), "missing", slog.New(slog.DiscardHandler))
	p.Timeout = 500 * time.Millisecond
	defer p.Stop()
	start := time.Now()
	p.Publish(ctx, Event{Type: RunStarted, RunID: "r"})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Publish took %s", d)
	}
}
