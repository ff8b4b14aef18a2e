// Package run defines the run record — one JSON object per run that tells the
// whole story of one file's trip through the pipeline — and its store in a Cloud
// Storage bucket, where every update is a compare-and-swap on the object's generation.
package run

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is a run's overall state.
type Status string

// Run statuses.
const (
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// StepStatus is one step's state.
type StepStatus string

// Step statuses.
const (
	StepPending StepStatus = "pending"
	StepRunning StepStatus = "running"
	StepDone    StepStatus = "done"
	StepFailed  StepStatus = "failed"
)

// The steps of a run, in order.
const (
	Preprocess  = "preprocess"
	Load        = "load"
	Predict     = "predict"
	Postprocess = "postprocess"
)

// Export is the first step of a scheduled run.
const Export = "export"

// Plan is the order of a file's steps.
var Plan = []string{Preprocess, Load, Predict, Postprocess}

// SchedulePlan is the order of a scheduled run's steps: its rows come from
// BigQuery, so it starts by exporting them as clean parts.
var SchedulePlan = []string{Export, Predict, Postprocess}

// Counter names kept in Run.Counters.
const (
	RowsIn        = "rows_in"
	RowsClean     = "rows_clean"
	RowsRejected  = "rows_rejected"
	RowsLoaded    = "rows_loaded"
	RowsPredicted = "rows_predicted"
	RowsErrored   = "rows_prediction_errors"
	RowsResults   = "rows_results"
)

// Run is the record of one run.
type Run struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Source   Source `json:"source"`
	// FileDate is the file's date, YYYYMMDD, from its name (a scheduled
	// run's: the scheduled day).
	FileDate string `json:"file_date,omitempty"`
	// Schedule names the spec schedule that started a run without a file.
	Schedule string `json:"schedule,omitempty"`
	Status   Status `json:"status"`

	// Epoch counts attempts of the whole run: a rerun starts a new epoch,
	// which supersedes every task and output of the previous one.
	Epoch int `json:"epoch"`
	// Step and Segment are the cursor: the task that must run next.
	Step    string `json:"step,omitempty"`
	Segment int    `json:"segment"`
	// NotBefore is when the cursor task is due (poll-later).
	NotBefore time.Time `json:"not_before,omitzero"`
	// Fence increases with every lease granted; a commit must carry the latest.
	Fence int64 `json:"fence"`

	// Redrives counts how often the sweeper re-drove a stalled run.
	Redrives int `json:"redrives,omitempty"`

	Steps    []*StepState      `json:"steps"`
	Counters map[string]int64  `json:"counters"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Error    *Failure          `json:"error,omitempty"`
	// Announced says the run's outcome was published as an event.
	Announced bool `json:"announced,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`

	// generation is the record object's generation when it was read.
	generation int64
}

// Source is the object a run processes. A scheduled run has no bucket; its
// Object is "schedule:NAME@TIME" and its Generation the scheduled Unix time.
type Source struct {
	Bucket     string `json:"bucket"`
	Object     string `json:"object"`
	Generation int64  `json:"generation"`
	Size       int64  `json:"size,omitempty"`
}

// URI is the source's gs:// address.
func (s Source) URI() string {
	if s.Bucket == "" {
		return s.Object
	}
	return "gs://" + s.Bucket + "/" + s.Object
}

// StepState is one step's part of the record.
type StepState struct {
	Name   string     `json:"name"`
	Status StepStatus `json:"status"`
	// Attempts counts deliveries that ran the step's logic.
	Attempts int `json:"attempts"`
	// Segments counts invocations that ended in continue or poll-later.
	Segments   int       `json:"segments"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Lease      *Lease    `json:"lease,omitempty"`
	// CommitFence is the fence of the invocation whose outcome was committed
	// last: a delivery whose commit answer was lost finds its own commit here.
	CommitFence int64           `json:"commit_fence,omitempty"`
	Checkpoint  json.RawMessage `json:"checkpoint,omitempty"`
	// LastError is the latest transient error; Error the permanent one.
	LastError string `json:"last_error,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Lease says who runs a step now and until when. Fence orders leases: a
// holder whose fence is no longer the step's cannot commit.
type Lease struct {
	Holder  string    `json:"holder"`
	Fence   int64     `json:"fence"`
	Expires time.Time `json:"expires"`
}

// Failure is why a run failed.
type Failure struct {
	Step    string    `json:"step"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// New returns the record of a run that starts at the first step of plan.
func New(id, pipeline string, src Source, fileDate string, plan []string, now time.Time) *Run {
	r := &Run{
		ID: id, Pipeline: pipeline, Source: src, FileDate: fileDate,
		Status: Running, Epoch: 1, Step: plan[0],
		Counters:  map[string]int64{},
		Outputs:   map[string]string{},
		CreatedAt: now, UpdatedAt: now,
	}
	for _, s := range plan {
		r.Steps = append(r.Steps, &StepState{Name: s, Status: StepPending})
	}
	return r
}

// StepState returns the state of step name, or nil when the run has no such step.
func (r *Run) StepState(name string) *StepState {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Next returns the step after name, or "" when name is the last.
func (r *Run) Next(name string) string {
	for i, s := range r.Steps {
		if s.Name == name && i+1 < len(r.Steps) {
			return r.Steps[i+1].Name
		}
	}
	return ""
}

// WorkPrefix is where this epoch of the run keeps its files in the work
// bucket: clean/, rejects/ and predictions/ below it.
func (r *Run) WorkPrefix() string { return fmt.Sprintf("runs/%s/e%d/", r.ID, r.Epoch) }

// Terminal reports whether the run has finished, either way.
func (r *Run) Terminal() bool { return r.Status == Succeeded || r.Status == Failed }

// Generation is the record's object generation when it was read.
func (r *Run) Generation() int64 { return r.generation }
