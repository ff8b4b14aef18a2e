// Package sweep is the function Cloud Scheduler calls every few minutes to keep
// the pipeline honest: it starts runs for inbox files whose event was lost,
// re-drives runs that stalled (a task lost or out of retries, a crash between
// a commit and an enqueue), fails runs that keep stalling, so that every run
// ends, announces finished runs whose announcement was lost, and undeploys
// models that no live run holds, so none bills for nothing. It is idempotent and bounded in time: what one sweep does not
// reach, the next one does.
package sweep

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/holds"
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
	// Lookback bounds the inbox files checked for a lost event, by upload time.
	Lookback time.Duration
	// Budget bounds one sweep.
	Budget time.Duration
	// UndeployGrace is how long a model may stay deployed with no holder.
	UndeployGrace time.Duration
}

// MinBudget is the least time one sweep gets, whatever the steps' budget:
// listing the active runs and the inbox alone takes longer than a tiny step
// budget (`dropcast local --budget 2ms`, the chaos scenarios), and a sweep
// that stops before its first run would never re-drive one. Deployed, the
// budget is the function's timeout (minutes), far above it.
const MinBudget = 10 * time.Second

// New returns the sweeper.
func New(a *app.App) *Sweeper {
	c := a.Config
	return &Sweeper{
		app:           a,
		Grace:         c.Budget() + c.SafetyMargin + 2*c.PollInterval,
		Lookback:      c.SweepLookback,
		Budget:        max(c.Budget(), MinBudget),
		UndeployGrace: c.UndeployGrace,
	}
}

// Report is what one sweep did.
type Report struct {
	Checked  int      `json:"checked"`
	Started  []string `json:"started"`
	Redriven []string `json:"redriven"`
	Failed   []string `json:"failed"`
	// Announced lists finished runs whose lost announcement the sweep made.
	Announced []string `json:"announced,omitempty"`
	// Undeployed lists models the sweeper undeployed because no live run held them.
	Undeployed []string `json:"undeployed"`
	Errors     []string `json:"errors,omitempty"`
	// Incomplete is true when the budget ended the sweep early.
	Incomplete bool `json:"incomplete,omitempty"`
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

// Sweep does one pass: lost events first, then stalled runs.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	rep := Report{Started: []string{}, Redriven: []string{}, Failed: []string{}, Undeployed: []string{}}
	deadline := time.Now().Add(s.Budget)
	runs, marks, err := s.activeRuns(ctx)
	if err != nil {
		return rep, err
	}
	if err := s.startLost(ctx, deadline, &rep); err != nil {
		return rep, err
	}
	s.unstick(ctx, runs, marks, deadline, &rep)
	// The cost guard: a model no live run holds is undeployed after the grace period.
	models := holds.NewStore(s.app.Clients.Storage, s.app.Config.StateBucket)
	undeployed, err := holds.Sweep(ctx, models, s.app.Predictor, holds.Live(ctx, s.app.Runs), s.UndeployGrace)
	if err != nil {
		rep.Errors = append(rep.Errors, "undeploy idle models: "+err.Error())
	}
	rep.Undeployed = append(rep.Undeployed, undeployed...)
	s.app.Log.InfoContext(ctx, "sweep done", "checked", rep.Checked, "started", len(rep.Started),
		"redriven", len(rep.Redriven), "failed", len(rep.Failed), "undeployed", len(rep.Undeployed), "errors", len(rep.Errors), "incomplete", rep.Incomplete)
	return rep, nil
}

// activeRuns reads the runs marked active: running, or ended but not yet
// announced, and their markers by run ID. A marker whose record never
// appeared (the start failed between the two writes) is removed once it is
// older than the grace period, if nobody wrote it again since it was listed.
func (s *Sweeper) activeRuns(ctx context.Context) ([]*run.Run, map[string]run.Marker, error) {
	marks, err := s.app.Runs.Active(ctx)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(marks))
	byID := make(map[string]run.Marker, len(marks))
	for i, m := range marks {
		ids[i] = m.ID
		byID[m.ID] = m
	}
	runs, err := s.app.Runs.GetMany(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	found := make(map[string]bool, len(runs))
	for _, r := range runs {
		found[r.ID] = true
	}
	for _, m := range marks {
		if !found[m.ID] && time.Since(m.Created) > s.Grace {
			s.app.Runs.ClearMarker(ctx, m)
		}
	}
	return runs, byID, nil
}

// unstick re-drives or fails every stalled run.
func (s *Sweeper) unstick(ctx context.Context, runs []*run.Run, marks map[string]run.Marker, deadline time.Time, rep *Report) {
	k := s.app.Kernel
	for _, r := range runs {
		if r.Terminal() {
			// A run whose last delivery died after its commit, on the queue's
			// last attempt, or whose announcement Pub/Sub did not accept, was
			// never announced: announce it now. (An announced one only lost
			// its active mark's removal.) Either way only the ended epoch's
			// mark goes: a rerun may have marked the next one since this
			// record was read.
			switch m := marks[r.ID]; {
			case r.Announced && m.Epoch > r.Epoch && time.Since(m.Created) > s.Grace:
				// A rerun marked an epoch it never recorded (it failed
				// between its two writes): nothing runs under that mark.
				s.app.Runs.ClearMarker(ctx, m)
			case r.Announced:
				s.app.Runs.ClearActive(ctx, r.ID, r.Epoch)
			case time.Since(r.FinishedAt) > s.Grace:
				announced, err := k.AnnounceMissing(ctx, r)
				if err != nil {
					rep.Errors = append(rep.Errors, r.ID+": "+err.Error())
				} else if announced {
					rep.Announced = append(rep.Announced, r.ID)
				}
			}
			continue
		}
		if time.Now().After(deadline) {
			rep.Incomplete = true
			return
		}
		rep.Checked++
		if !s.stalled(ctx, r, rep) {
			continue
		}
		after, acted, err := k.Unstick(ctx, r.ID, s.Grace, MaxRedrives)
		switch {
		case err != nil:
			rep.Errors = append(rep.Errors, r.ID+": "+err.Error())
		case !acted:
		case after.Status == run.Failed:
			rep.Failed = append(rep.Failed, r.ID)
		default:
			rep.Redriven = append(rep.Redriven, r.ID)
		}
	}
}
