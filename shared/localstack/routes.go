package localstack

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/functions/export"
	"github.com/dropcast/dropcast/functions/ingest"
	"github.com/dropcast/dropcast/functions/load"
	"github.com/dropcast/dropcast/functions/notify"
	"github.com/dropcast/dropcast/functions/postprocess"
	"github.com/dropcast/dropcast/functions/predict"
	"github.com/dropcast/dropcast/functions/preprocess"
	"github.com/dropcast/dropcast/functions/status"
	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/functions/trigger"
	"github.com/dropcast/dropcast/shared/gcsevent"
)

// routes serves every HTTP function at /NAME, as functions-framework does
// when it serves several functions in one process; each runs on its own
// App, as its own service account.
func (s *Stack) routes() http.Handler {
	if s.procs != nil {
		return s.procs.routes()
	}
	a := s.Apps
	mux := http.NewServeMux()
	mux.Handle("/preprocess", a["preprocess"].Kernel.Handler(preprocess.New(a["preprocess"])))
	mux.Handle("/load", a["load"].Kernel.Handler(load.New(a["load"])))
	mux.Handle("/predict", a["predict"].Kernel.Handler(predict.New(a["predict"])))
	mux.Handle("/postprocess", a["postprocess"].Kernel.Handler(postprocess.New(a["postprocess"])))
	mux.Handle("/export", a["export"].Kernel.Handler(export.New(a["export"])))
	mux.Handle("/sweep", sweep.New(a["sweep"]))
	mux.Handle("/trigger", trigger.New(a["trigger"]))
	st := status.New(a["status"])
	mux.Handle("/status/", st)
	mux.Handle("/status", st)
	return mux
}

// bridges deliver Pub/Sub messages to the CloudEvent functions, as Eventarc
// does in production: the inbox bucket's notifications to ingest as the
// google.cloud.storage.object.v1.finalized events of its Eventarc Cloud
// Storage trigger (infra/main.tf), run events to notify (and to
// opts.OnEvent) as google.cloud.pubsub.topic.v1.messagePublished events.
func (s *Stack) bridges(ctx, bg context.Context, opts Options) error {
	type sub struct {
		topic, sub string
		storage    bool // a Cloud Storage trigger, not a Pub/Sub one
		fn         func(context.Context, event.Event) error
	}
	subs := []sub{
		{inboxTopic, "ingest", true, func(ctx context.Context, e event.Event) error {
			if opts.LoseEvent != nil {
				if o, err := gcsevent.Decode(e); err == nil && opts.LoseEvent(o.Name) {
					return nil // acknowledged, never delivered
				}
			}
			if opts.Chaos != nil && opts.Chaos.EventCopies > 1 {
				return deliverCopies(ctx, opts.Chaos.EventCopies, func() error { return s.deliverEvent(ctx, "ingest", ingest.Handle, e) })
			}
			return s.deliverEvent(ctx, "ingest", ingest.Handle, e)
		}},
		{EventsTopic, "notify", false, func(ctx context.Context, e event.Event) error { return s.deliverEvent(ctx, "notify", notify.Handle, e) }},
	}
	if opts.OnEvent != nil {
		subs = append(subs, sub{EventsTopic, "local-events", false, func(ctx context.Context, e event.Event) error {
			ev, err := notify.Decode(e)
			if err != nil {
				return nil // not ours: drop it
			}
			opts.OnEvent(ev)
			return nil
		}})
	}
	for _, b := range subs {
		if err := s.PubSub.CreateSubscription(ctx, b.topic, b.sub, time.Minute); err != nil {
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if b.storage {
				s.PubSub.BridgeStorage(bg, b.sub, b.fn)
			} else {
				s.PubSub.Bridge(bg, b.sub, b.fn)
			}
		}()
	}
	return nil
}

// deliverCopies delivers one event n times at once, as at-least-once delivery
// may; it fails if any copy fails (and the message is redelivered).
func deliverCopies(ctx context.Context, n int, deliver func() error) error {
	errs := make(chan error, n)
	for range n {
		go func() { errs <- deliver() }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
