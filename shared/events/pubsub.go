package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/pubsub/v2"
)

// PubSub publishes events to a topic.
type PubSub struct {
	pub *pubsub.Publisher
	log *slog.Logger
	// Timeout bounds how long Publish waits for the server's acknowledgement.
	Timeout time.Duration
}

// NewPubSub publishes on topic (its ID) with client.
func NewPubSub(client *pubsub.Client, topic string, log *slog.Logger) *PubSub {
	return &PubSub{pub: client.Publisher(topic), log: log, Timeout: 5 * time.Second}
}

// Publish sends e and waits at most Timeout for it to be accepted. It
// returns nil only when the publish result's Get returned the server's
// message ID: "Get returns the server-generated message ID and/or error
// result of a Publish call. Get blocks until the Publish call completes or
// the context is done." (cloud.google.com/go/internal/pubsub PublishResult,
// https://pkg.go.dev/cloud.google.com/go/internal/pubsub). A timeout is an
// error too, although the event may still go out: the caller publishes it
// again, and notify absorbs the duplicate.
func (p *PubSub) Publish(ctx context.Context, e Event) error {
	if e.Version == 0 {
		e.Version = Version
	}
	data, err := json.Marshal(e)
	if err != nil {
		p.log.ErrorContext(ctx, "encode event", "err", err, "run_id", e.RunID, "type", e.Type)
		return fmt.Errorf("encode %s event of run %s: %w", e.Type, e.RunID, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Timeout)
	defer cancel()
	res := p.pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: Attributes(e)})
	if _, err := res.Get(ctx); err != nil {
		p.log.WarnContext(ctx, "event not published", "err", err, "run_id", e.RunID, "type", e.Type)
		return fmt.Errorf("publish %s event of run %s: %w", e.Type, e.RunID, err)
	}
	return nil
}

// Attributes are the message attributes of e, for subscription filters:
// type, pipeline and status. Each stays far within Pub/Sub's limits (at most
// 100 attributes, values of at most 1024 bytes): pipeline names are at most
// 40 characters.
func Attributes(e Event) map[string]string {
	return map[string]string{"type": e.Type, "pipeline": e.Pipeline, "status": e.Status}
}

// Stop flushes and stops the publisher.
func (p *PubSub) Stop() { p.pub.Stop() }
