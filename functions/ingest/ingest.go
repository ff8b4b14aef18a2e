// Package ingest is the function that reacts to a file landing in the inbox:
// it matches the object against the pipeline specs, creates the run record
// (a duplicated event finds the run it created before) and enqueues preprocess.
package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.CloudEvent("ingest", app.CloudEvent(Handle))
}

// Handle processes one storage event. It returns an error only when a retry
// can help; events it cannot use are logged and acknowledged.
func Handle(ctx context.Context, a *app.App, e event.Event) error {
	log := a.Log.With("event_id", e.ID(), "event_type", e.Type())
	obj, err := gcsevent.Decode(e)
	if errors.Is(err, gcsevent.ErrIgnored) {
		log.DebugContext(ctx, "event ignored", "reason", err.Error())
		return nil
	}
	if err != nil {
		log.ErrorContext(ctx, "malformed storage event dropped", "err", err)
		return nil
	}
	_, err = Start(ctx, a, obj)
	return err
}

// Start starts the run for obj, if a pipeline takes it. It returns the run
// (nil when the object is not for dropcast) and whether an error is worth a retry.
func Start(ctx context.Context, a *app.App, obj gcsevent.Object) (*run.Run, error) {
	log := a.Log.With("bucket", obj.Bucket, "object", obj.Name, "generation", obj.Generation)
	if obj.Bucket != a.Config.InboxBucket {
		log.InfoContext(ctx, "object outside the inbox bucket ignored", "inbox", a.Config.InboxBucket)
		return nil, nil
	}
	set, err := a.Specs.Set(ctx)
	if err != nil {
		return nil, fmt.Errorf("load specs: %w", err)
	}
	p, date, ok := set.Match(obj.Name)
	if !ok {
		log.InfoContext(ctx, "no pipeline spec matches the object; ignored")
		return nil, nil
	}
	if all := set.Matching(obj.Name); len(all) > 1 {
		log.WarnContext(ctx, "several pipeline specs match the object; the first by name takes it", "pipelines", all, "pipeline", p.Name)
	}
	src := run.Source{Bucket: obj.Bucket, Object: obj.Name, Generation: obj.Generation, Size: obj.Size}
	r := run.New(run.ID(p.Name, src), p.Name, src, date, run.Plan, a.Kernel.Now())
	created, err := a.Kernel.Start(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	log.InfoContext(ctx, "run started", "run_id", r.ID, "pipeline", p.Name, "created", created)
	return r, nil
}
