// Package sweep is the function Cloud Scheduler calls every few minutes to
// keep the pipeline honest: it re-drives runs that stalled (a task lost or out
// of retries, a crash between a commit and an enqueue) and fails runs that
// keep stalling, so that every run ends.
package sweep

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.HTTP("sweep", app.HTTPHandler(func(a *app.App) http.Handler { return New(a) }))
}

// MaxRedrives is how often a run is re-driven before the sweeper fails it.
const MaxRedrives = 3

// Sweeper is the sweep function.
type Sweeper struct {
	app *app.App
	// Grace is how long past its due time a run may sit before it counts as stalled.
	Grace time.Duration
}

// New returns the sweeper.
func New(a *app.App) *Sweeper {
	return &Sweeper{app: a, Grace: a.Config.Budget() + a.Config.SafetyMargin + 2*a.Config.PollInterval}
}

// Report is what one sweep did.
type Report struct {
	Checked  int      `json:"checked"`
	Redriven []string `json:"redriven"`
	Failed   []string `json:"failed"`
	Errors   []string `json:"errors,omitempty"`
}

// ServeHTTP sweeps once and answers the report as JSON.
func (s *Sweeper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Sweep(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// Sweep looks at every running run once.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	rep := Report{Redriven: []string{}, Failed: []string{}}
	runs, err := s.app.Runs.List(ctx, "")
	if err != nil {
		return rep, err
	}
	k := s.app.Kernel
	for _, r := range runs {
		if r.Terminal() {
			continue
		}
		rep.Checked++
		if !k.Stalled(r, s.Grace) {
			continue
		}
		after, err := k.Unstick(ctx, r.ID, s.Grace, MaxRedrives)
		switch {
		case err != nil:
			rep.Errors = append(rep.Errors, r.ID+": "+err.Error())
		case after.Status == run.Failed:
			rep.Failed = append(rep.Failed, r.ID)
		case after.Redrives > r.Redrives:
			rep.Redriven = append(rep.Redriven, r.ID)
		}
	}
	s.app.Log.InfoContext(ctx, "sweep done", "checked", rep.Checked, "redriven", len(rep.Redriven), "failed", len(rep.Failed))
	return rep, nil
}
