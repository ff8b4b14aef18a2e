// Package trigger is the function Cloud Scheduler calls to start a scheduled
// run: one without a file, whose rows come from BigQuery (a spec's schedules).
// The run ID derives from the pipeline, the schedule and the scheduled time,
// so a trigger delivered twice for the same time starts one run.
package trigger

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.HTTP("trigger", app.HTTPHandler(func(a *app.App) http.Handler { return New(a) }))
}

// Request is the body Cloud Scheduler sends.
type Request struct {
	Pipeline string `json:"pipeline"`
	Schedule string `json:"schedule"`
	// Time is the scheduled time (RFC 3339); default: the
	// X-CloudScheduler-ScheduleTime header, else now.
	Time string `json:"time,omitempty"`
}

// Response says which run the trigger started or found.
type Response struct {
	RunID   string `json:"run_id"`
	Created bool   `json:"created"`
}

// Trigger is the trigger function.
type Trigger struct{ app *app.App }

// New returns the function.
func New(a *app.App) *Trigger { return &Trigger{app: a} }

// ServeHTTP starts the scheduled run; 4xx for a request naming no schedule.
func (t *Trigger) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST a trigger", http.StatusMethodNotAllowed)
		return
	}
	var in Request
	if err := json.NewDecoder(io.LimitReader(req.Body, 4<<10)).Decode(&in); err != nil {
		http.Error(w, "decode trigger: "+err.Error(), http.StatusBadRequest)
		return
	}
	at, err := scheduledTime(in.Time, req.Header.Get("X-CloudScheduler-ScheduleTime"), t.app.Kernel.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := req.Context()
	p, err := t.app.Specs.Pipeline(ctx, in.Pipeline)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	sc, ok := p.Schedule(in.Schedule)
	if !ok {
		http.Error(w, fmt.Sprintf("pipeline %s has no schedule %q", p.Name, in.Schedule), http.StatusNotFound)
		return
	}
	src := run.Source{Object: "schedule:" + sc.Name + "@" + at.Format(time.RFC3339), Generation: at.Unix()}
	r := run.New(run.ID(p.Name, src), p.Name, src, at.In(sc.Location()).Format("20060102"), run.SchedulePlan, t.app.Kernel.Now())
	r.Schedule = sc.Name
	created, err := t.app.Kernel.Start(ctx, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	t.app.Log.InfoContext(ctx, "scheduled run triggered", "run_id", r.ID, "pipeline", p.Name, "schedule", sc.Name, "scheduled_time", at, "created", created)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Response{RunID: r.ID, Created: created})
}

// scheduledTime picks the run's time, truncated to the minute (the finest a
// cron schedule fires at), so retries of one trigger agree on it.
func scheduledTime(body, header string, now time.Time) (time.Time, error) {
	for _, v := range []string{body, header} {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("scheduled time %q: want RFC 3339", v)
		}
		return t.UTC().Truncate(time.Minute), nil
	}
	return now.UTC().Truncate(time.Minute), nil
}
