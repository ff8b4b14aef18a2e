package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// Exec is what a step sees of one invocation.
type Exec struct {
	// Run is the record as it was when the lease was taken. Read-only: steps
	// change the record only through SetCounter, SetOutput and checkpoints.
	Run *run.Run
	// Pipeline is the run's spec.
	Pipeline *spec.Pipeline
	// Deadline is when the step must stop working and return Continue or PollLater.
	Deadline time.Time
	// Attempt is this delivery's Cloud Tasks retry count (0 on the first).
	Attempt int
	Log     *slog.Logger

	k        *Kernel
	stepImpl Step
	step     string
	task     taskq.Task
	fence    int64
	counters map[string]int64
	outputs  map[string]string
}

// Checkpoint decodes the step's saved checkpoint into v; false when there is none.
func (x *Exec) Checkpoint(v any) (bool, error) {
	raw := x.Run.StepState(x.step).Checkpoint
	if len(raw) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s checkpoint: %w", x.step, err)
	}
	return true, nil
}

// SetCounter records a counter (rows_clean…) with the next commit.
func (x *Exec) SetCounter(name string, v int64) { x.counters[name] = v }

// SetOutput records an output location with the next commit.
func (x *Exec) SetOutput(name, v string) { x.outputs[name] = v }

// Remaining is the time left before Deadline.
func (x *Exec) Remaining() time.Duration { return time.Until(x.Deadline) }

// Save commits checkpoint (and pending counters and outputs) now, without
// ending the invocation. It fails with ErrLeaseLost when another delivery has
// taken the step over: the caller must stop at once.
func (x *Exec) Save(ctx context.Context, checkpoint any) error {
	if x.k.crash(CrashBeforeSave, x.task) {
		return ErrCrashed
	}
	raw, err := json.Marshal(checkpoint)
	if err != nil {
		return fmt.Errorf("encode %s checkpoint: %w", x.step, err)
	}
	r, err := x.k.store.Update(ctx, x.Run.ID, func(r *run.Run) error {
		st, err := x.held(r)
		if err != nil {
			return err
		}
		st.Checkpoint = raw
		x.apply(r)
		return nil
	})
	if err != nil {
		return err
	}
	x.Run = r
	return nil
}

// held checks that this invocation still holds the step's lease in r.
func (x *Exec) held(r *run.Run) (*run.StepState, error) {
	st := r.StepState(x.step)
	if st == nil || st.Lease == nil || st.Lease.Fence != x.fence || r.Epoch != x.Run.Epoch {
		return nil, ErrLeaseLost
	}
	if !x.k.now().Before(st.Lease.Expires) {
		return nil, ErrLeaseExpired
	}
	return st, nil
}

// apply merges pending counters and outputs into r.
func (x *Exec) apply(r *run.Run) {
	if r.Counters == nil {
		r.Counters = map[string]int64{}
	}
	if r.Outputs == nil {
		r.Outputs = map[string]string{}
	}
	maps.Copy(r.Counters, x.counters)
	maps.Copy(r.Outputs, x.outputs)
	r.UpdatedAt = x.k.now()
}
