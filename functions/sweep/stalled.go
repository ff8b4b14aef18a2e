package sweep

import (
	"context"

	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/taskq"
)

// stalled reports whether a running run needs re-driving: it made no
// progress for longer than the grace (Kernel.Stalled) and the task it waits
// for is not in the queue. A task still in the queue will be delivered: the
// run is only delayed by a backlog, and a re-drive, which supersedes that
// task with a new one at the back of the queue, would keep it from ever
// running (and fail the run after MaxRedrives sweeps).
//
// When the queue cannot be asked, the run is treated as stalled, as before
// the look-up existed: a spurious re-drive only delays a run, while skipping
// it for as long as the look-up fails (a missing grant, say) would leave a
// truly stalled run stuck. The error is reported.
func (s *Sweeper) stalled(ctx context.Context, r *run.Run, rep *Report) bool {
	if !s.app.Kernel.Stalled(r, s.Grace) {
		return false
	}
	q := taskq.New(s.app.Clients.Tasks, taskq.Config{Queue: s.app.Config.TasksQueue})
	// The task the kernel enqueued for the run's current segment (Kernel.Redrive).
	waiting, err := q.Waiting(ctx, taskq.Task{RunID: r.ID, Epoch: r.Epoch, Step: r.Step, Segment: r.Segment})
	if err != nil {
		rep.Errors = append(rep.Errors, r.ID+": look up its task: "+err.Error())
		return true
	}
	return !waiting
}
