// Package events defines run events — what happened to a run, published to a
// Pub/Sub topic for the notify function, dropcast local and anyone who subscribes —
// and a publisher that never holds up a step for long and says whether the
// server accepted the event.
package events

import (
	"context"
	"time"
)

// Version is the event schema version; it changes only when a field changes
// meaning or disappears (new fields may appear in any version).
const Version = 1

// Event types.
const (
	RunStarted   = "run.started"
	StepFinished = "step.finished"
	RunSucceeded = "run.succeeded"
	RunFailed    = "run.failed"
)

// Event is one thing that happened to a run. Published as JSON with the
// attributes type, pipeline and status for subscription filters.
type Event struct {
	Version  int       `json:"version"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	RunID    string    `json:"run_id"`
	Pipeline string    `json:"pipeline"`
	Source   string    `json:"source"`
	Epoch    int       `json:"epoch"`
	// Status is the run's status, or the step's for step.finished.
	Status     string            `json:"status"`
	Step       string            `json:"step,omitempty"`
	Attempts   int               `json:"attempts,omitempty"`
	DurationMS int64             `json:"duration_ms,omitempty"`
	Counters   map[string]int64  `json:"counters,omitempty"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	Error      string            `json:"error,omitempty"`
	// Record is the gs:// address of the run record.
	Record string `json:"record,omitempty"`
}

// Publisher sends events. Publish returns within a bounded time; it returns
// nil only once the event was accepted (Pub/Sub returned its message ID),
// so a caller that must know an event went out (a run's outcome) can leave
// it to be published again. Callers that need not know ignore the error.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// Discard drops every event.
type Discard struct{}

// Publish does nothing and reports success.
func (Discard) Publish(context.Context, Event) error { return nil }
