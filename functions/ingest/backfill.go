package ingest

import (
	"context"
	"errors"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/run"
)

// What Backfill did with a file.
const (
	BackfillStarted          = "started"
	BackfillRerun            = "rerun"
	BackfillSkippedRunning   = "skipped (running)"
	BackfillSkippedSucceeded = "skipped (succeeded)"
)

// Backfill does for one inbox file what `dropcast runs backfill` does, as if
// its upload event arrived now: id is the run of the object's generation
// under the spec that takes it (run.ID). Backfill starts that run when there
// is none, reruns it from the first step when it failed (or succeeded, with
// force), and leaves a running one alone.
// With dry it only says what it would do ("would start", "would rerun").
// It returns what it did and the run's ID.
func Backfill(ctx context.Context, a *app.App, obj gcsevent.Object, id string, force, dry bool) (action, runID string, err error) {
	r, err := a.Runs.Get(ctx, id)
	switch {
	case errors.Is(err, run.ErrNotFound):
		if dry {
			return "would start", id, nil
		}
		started, err := Start(ctx, a, obj)
		if err != nil {
			return "", id, err
		}
		if started == nil {
			return "", id, errors.New("no spec takes it any more")
		}
		return BackfillStarted, started.ID, nil
	case err != nil:
		return "", id, err
	case r.Status == run.Running:
		return BackfillSkippedRunning, id, nil
	case r.Status == run.Succeeded && !force:
		return BackfillSkippedSucceeded, id, nil
	}
	if dry {
		return "would " + BackfillRerun, id, nil
	}
	// Not forced: a run that another rerun restarted since it was read is
	// refused (run.ErrRunning, or "epoch N started meanwhile").
	if _, err := a.Kernel.Rerun(ctx, a.Clients.Storage, r, "", false); err != nil {
		return "", id, err
	}
	return BackfillRerun, id, nil
}
