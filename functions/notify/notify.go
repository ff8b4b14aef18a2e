// Package notify is the function that turns run events from the events topic
// into messages people read: a Slack incoming webhook (Block Kit) and a
// generic JSON webhook. Each run outcome is announced once (a marker in the
// state bucket absorbs duplicate deliveries), a webhook that is down is
// retried a bounded number of times and then dropped, and nothing here ever
// fails a run.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/api/googleapi"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/events"
)

func init() {
	functions.CloudEvent("notify", app.CloudEvent(Handle))
}

// Attempts is how many times a webhook is tried before the message is dropped.
const Attempts = 4

// Handle announces one event. It returns nil always: notification never
// fails or holds up a run, and a redelivered event is absorbed by the marker.
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
	first, err := claim(ctx, a.Clients.Storage, a.Config.StateBucket, ev)
	if err != nil {
		log.WarnContext(ctx, "notification marker", "err", err)
	}
	if !first {
		return nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if u := a.Config.SlackWebhookURL; u != "" {
		body, _ := json.Marshal(SlackMessage(ev, a.Config.StatusURL))
		if err := post(ctx, client, u, body); err != nil {
			log.WarnContext(ctx, "slack notification dropped", "err", err)
		}
	}
	if u := a.Config.WebhookURL; u != "" {
		body, _ := json.Marshal(ev)
		if err := post(ctx, client, u, body); err != nil {
			log.WarnContext(ctx, "webhook notification dropped", "err", err)
		}
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

// claim creates the event's marker; false when it existed (a duplicate).
func claim(ctx context.Context, gcs *storage.Client, bucket string, ev events.Event) (bool, error) {
	name := fmt.Sprintf("notified/%s-e%d-%s", ev.RunID, ev.Epoch, ev.Type)
	w := gcs.Bucket(bucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, ev.Time.Format(time.RFC3339Nano))
	err := w.Close()
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("write %s: %w", name, err) // announce anyway: better twice than never
	}
	return true, nil
}

// post sends body, retrying 5xx, 429 and transport errors with exponential
// backoff, Attempts times at most. The URL is a secret: errors never include it.
func post(ctx context.Context, c *http.Client, url string, body []byte) error {
	backoff := 200 * time.Millisecond
	var last error
	for i := range Attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			return errors.New("build webhook request: invalid webhook URL")
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			last = fmt.Errorf("attempt %d: webhook unreachable", i+1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("attempt %d: webhook answered %d", i+1, resp.StatusCode)
		default:
			return fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", Attempts, last)
}
