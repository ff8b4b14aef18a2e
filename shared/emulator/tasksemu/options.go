package tasksemu

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Logger receives debug records about dispatches; nil discards them.
	Logger *slog.Logger
	// HTTPClient sends dispatches; nil means a private client whose idle
	// connections are closed by Close.
	HTTPClient *http.Client
	// TombstoneTTL is how long a task name stays blocked after its task ran,
	// was dropped or was deleted. Zero means 24 hours, the longest the
	// service documents ("Task deduplication window: Up to 24 hours").
	TombstoneTTL time.Duration
	// DeadlineScale multiplies every task's effective dispatch deadline so
	// tests can exercise deadlines without waiting 15 s. The API still
	// validates dispatch_deadline against the real [15s, 30m] range. Zero
	// means 1.
	DeadlineScale float64
	// Faults is the initial fault injection; see Server.SetFaults.
	Faults Faults
	// Authorizer, if set, checks every call's identity (iamemu.IdentityFromGRPC)
	// for the permissions Cloud Tasks documents per method (see iamRules);
	// a refusal is PERMISSION_DENIED naming the permission. Nil: no checks.
	Authorizer iamemu.Authorizer
}

const (
	defaultTombstoneTTL     = 24 * time.Hour
	defaultDispatchDeadline = 10 * time.Minute
	minDispatchDeadline     = 15 * time.Second
	maxDispatchDeadline     = 30 * time.Minute
	maxScheduleAhead        = 30 * 24 * time.Hour
	maxBodyBytes            = 1 << 20 // of a response read
	maxTaskBytes            = 100_000 // "The maximum task size is 100KB."
	maxTaskIDLen            = 500
	maxQueueIDLen           = 100
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = defaultTombstoneTTL
	}
	if o.DeadlineScale <= 0 {
		o.DeadlineScale = 1
	}
	return o
}
