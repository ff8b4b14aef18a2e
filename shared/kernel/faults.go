package kernel

import (
	"errors"

	"github.com/dropcast/dropcast/shared/taskq"
)

// Crash points: where an injected crash ends an invocation. A crash commits
// nothing and releases nothing, exactly like an instance that died: the lease
// stays held until it expires, and Cloud Tasks redelivers the task.
const (
	// CrashBeforeSave: a side effect happened (a part written, a job or a
	// deployment started) but the checkpoint that records it was not saved.
	CrashBeforeSave = "before-save"
	// CrashBeforeCommit: the step's work is done but its outcome is not committed.
	CrashBeforeCommit = "before-commit"
	// CrashAfterCommit: the outcome is committed, but nothing after it
	// happened: no event published, no cleanup, no next task enqueued.
	CrashAfterCommit = "after-commit"
)

// Faults decides where invocations crash. Production kernels have none; the
// local stack's chaos mode and the tests inject them.
type Faults interface {
	Crash(point string, t taskq.Task) bool
}

// ErrCrashed is the error of an injected crash.
var ErrCrashed = errors.New("injected crash")

func (k *Kernel) crash(point string, t taskq.Task) bool {
	return k.faults != nil && k.faults.Crash(point, t)
}
