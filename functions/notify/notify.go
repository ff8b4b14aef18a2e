// Package notify is the function that turns run events from the events topic
// into messages people read: a Slack incoming webhook (Block Kit) and a
// generic JSON webhook. Each run outcome is announced at least once and
// rarely twice (a marker in the state bucket, written once the outcome was
// posted, absorbs later deliveries), a webhook that is down is retried a
// bounded number of times and then left to the next delivery of the outcome,
// and nothing here ever fails a run.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/events"
)

func init() {
	functions.CloudEvent("notify", app.CloudEvent(Handle))
}

// Attempts is how many times a webhook is tried before the message is dropped.
const Attempts = 4

// Backoff is the wait before a webhook's second attempt; it doubles before
// each further one (0.2 s, 0.4 s, 0.8 s).
const Backoff = 200 * time.Millisecond

// Handle announces one event. It returns nil always: notification never
// fails or holds up a run, and a redelivered event is absorbed by the marker,
// which is checked before posting and written once every destination
// accepted the message (marker.go).
func Handle(ctx context.Context, a *app.App, e event.Event) error {
	ev, err := Decode(e)
	if err != nil {
		a.Log.ErrorContext(ctx, "malformed run event dropped", "err", err, "event_id", e.ID())
		return nil
	}
	if ev.Type != events.RunSucceeded && ev.Type != events.RunFailed {
		return nil
	}
	log := a.Log.With("run_id", ev.RunID, "event", ev.Type)
	if p, err := a.Specs.Pipeline(ctx, ev.Pipeline); err == nil {
		if (ev.Type == events.RunSucceeded && !p.NotifyOnSuccess()) || (ev.Type == events.RunFailed && !p.NotifyOnFailure()) {
			return nil
		}
	}
	if a.Config.SlackWebhookURL == "" && a.Config.WebhookURL == "" {
		return nil
	}
	done, err := notified(ctx, a.Clients.Storage, a.Config.StateBucket, ev)
	if err != nil {
		log.WarnContext(ctx, "notification marker", "err", err) // post anyway: better twice than never
	}
	if done {
		return nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	posted := true
	if u := a.Config.SlackWebhookURL; u != "" {
		body, _ := json.Marshal(SlackMessage(ev, a.Config.StatusURL))
		if err := post(ctx, client, u, body, Backoff); err != nil {
			log.WarnContext(ctx, "slack notification not delivered", "err", err)
			posted = false
		}
	}
	if u := a.Config.WebhookURL; u != "" {
		body, _ := json.Marshal(ev)
		if err := post(ctx, client, u, body, Backoff); err != nil {
			log.WarnContext(ctx, "webhook notification not delivered", "err", err)
			posted = false
		}
	}
	if !posted {
		return nil // no marker: the next delivery of the outcome posts it
	}
	if err := markNotified(ctx, a.Clients.Storage, a.Config.StateBucket, ev, e.ID()); err != nil {
		log.WarnContext(ctx, "notification marker", "err", err) // a later duplicate is posted again
	}
	return nil
}

// Decode reads a run event from a Pub/Sub messagePublished CloudEvent.
func Decode(e event.Event) (events.Event, error) {
	var d struct {
		Message struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	var ev events.Event
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		return ev, fmt.Errorf("decode pubsub message: %w", err)
	}
	if err := json.Unmarshal(d.Message.Data, &ev); err != nil {
		return ev, fmt.Errorf("decode run event: %w", err)
	}
	if ev.RunID == "" || ev.Type == "" {
		return ev, errors.New("run event without run_id or type")
	}
	return ev, nil
}
