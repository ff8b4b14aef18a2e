// Package kernel is the step kernel: the life every HTTP step shares. It decodes
// the Cloud Tasks delivery, loads the run, takes a fenced lease on the step, runs
// the step's logic within a time budget, commits the outcome by compare-and-swap
// and enqueues what comes next. A step is only its own logic: a Step.
package kernel

import (
	"context"
	"time"
)

// Step is one step's logic. Run returns an Outcome, or an error for a
// transient failure (the delivery is answered 5xx and Cloud Tasks retries).
type Step interface {
	Name() string
	Run(ctx context.Context, x *Exec) (Outcome, error)
}

// Finalizer is implemented by steps that must clean up when a run ends in
// failure after they ran (for example undeploy a model). It runs once, with
// no lease, and must be idempotent.
type Finalizer interface {
	Finalize(ctx context.Context, x *Exec) error
}

type outcomeKind int

const (
	kindDone outcomeKind = iota + 1
	kindContinue
	kindPollLater
	kindFailed
)

func (k outcomeKind) String() string {
	return [...]string{"", "done", "continue", "poll-later", "failed"}[k]
}

// Outcome is how one invocation of a step ended.
type Outcome struct {
	kind       outcomeKind
	checkpoint any
	delay      time.Duration
	err        error
}

// Done finishes the step; the next one is enqueued.
func Done() Outcome { return Outcome{kind: kindDone} }

// DoneWith finishes the step and keeps checkpoint in the record (say, the
// name of the job that did the work).
func DoneWith(checkpoint any) Outcome { return Outcome{kind: kindDone, checkpoint: checkpoint} }

// Continue saves checkpoint and enqueues the step again at once: the budget ran out.
func Continue(checkpoint any) Outcome { return Outcome{kind: kindContinue, checkpoint: checkpoint} }

// PollLater saves checkpoint and enqueues the step again after delay
// (zero: the configured poll interval): it waits on a job or operation.
func PollLater(delay time.Duration, checkpoint any) Outcome {
	return Outcome{kind: kindPollLater, checkpoint: checkpoint, delay: delay}
}

// Failed fails the run for good: no retry can help.
func Failed(err error) Outcome { return Outcome{kind: kindFailed, err: err} }
