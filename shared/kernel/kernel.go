package kernel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// Errors a commit can meet.
var (
	// ErrLeaseLost: another delivery took the step over; this one's work is void.
	ErrLeaseLost = errors.New("lease lost to another delivery")
	// ErrLeaseExpired: this delivery outlived its lease; its work is void.
	ErrLeaseExpired = errors.New("lease expired")
)

// Enqueuer creates step tasks; a task whose name exists already is success.
type Enqueuer interface {
	Enqueue(ctx context.Context, t taskq.Task, notBefore time.Time) error
}

// Specs finds a pipeline's spec by name.
type Specs interface {
	Pipeline(ctx context.Context, name string) (*spec.Pipeline, error)
}

// Config is the kernel's share of config.Config.
type Config struct {
	// Project names the project in trace IDs of log lines.
	Project string
	// Budget is how long a step works before it must checkpoint.
	Budget time.Duration
	// SafetyMargin is kept after Budget to commit and enqueue.
	SafetyMargin time.Duration
	// PollInterval is the default delay of PollLater.
	PollInterval time.Duration
	// MaxAttempts is the queue's max attempts: the last failing one fails the run.
	MaxAttempts int
}

// Kernel runs steps. Create one per process and share it.
type Kernel struct {
	store  *run.Store
	queue  Enqueuer
	specs  Specs
	events events.Publisher
	log    *slog.Logger
	cfg    Config
	now    func() time.Time
	faults Faults
}

// Deps are the kernel's collaborators.
type Deps struct {
	Store  *run.Store
	Queue  Enqueuer
	Specs  Specs
	Events events.Publisher // nil: events are dropped
	Log    *slog.Logger
	Config Config
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Faults injects crashes (chaos testing); nil in production.
	Faults Faults
}

// New returns a kernel.
func New(d Deps) *Kernel {
	k := &Kernel{store: d.Store, queue: d.Queue, specs: d.Specs, events: d.Events, log: d.Log, cfg: d.Config, now: d.Now, faults: d.Faults}
	if k.events == nil {
		k.events = events.Discard{}
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// Now is the kernel's clock.
func (k *Kernel) Now() time.Time { return k.now() }

// Store is the run store the kernel commits to.
func (k *Kernel) Store() *run.Store { return k.store }

// Start creates a run's record and enqueues its first task. A run that exists
// already (a duplicated event) is not created again: its pending task is
// enqueued again instead, which the queue de-duplicates by name.
func (k *Kernel) Start(ctx context.Context, r *run.Run) (created bool, err error) {
	if err := k.store.MarkActive(ctx, r.ID, r.Epoch); err != nil {
		return false, err
	}
	err = k.store.Create(ctx, r)
	if errors.Is(err, run.ErrExists) {
		existing, err := k.store.Get(ctx, r.ID)
		if err != nil {
			return false, err
		}
		if existing.Terminal() && existing.Announced {
			// A late duplicate of the event: the run is over and its mark,
			// written again above, must go again — unless a rerun has
			// marked a later epoch meanwhile.
			return false, k.store.ClearActive(ctx, r.ID, existing.Epoch)
		}
		return false, k.Redrive(ctx, existing)
	}
	if err != nil {
		return false, err
	}
	if err := k.Redrive(ctx, r); err != nil {
		return true, err
	}
	k.publish(ctx, r, events.Event{Type: events.RunStarted, Status: string(r.Status)}) // best effort
	return true, nil
}

// Redrive enqueues the task a running run waits for; the queue drops it when
// it exists already.
func (k *Kernel) Redrive(ctx context.Context, r *run.Run) error {
	if r.Terminal() {
		return nil
	}
	t := taskq.Task{RunID: r.ID, Epoch: r.Epoch, Step: r.Step, Segment: r.Segment}
	if err := k.queue.Enqueue(ctx, t, r.NotBefore); err != nil {
		return fmt.Errorf("enqueue %s: %w", t.Name(), err)
	}
	return nil
}

// Rerun starts a new epoch of r at step from ("" the first step) and
// enqueues its first task: `dropcast runs rerun` and `runs backfill` call it
// (run.Store.Rerun says what it refuses and what it copies, through gcs).
func (k *Kernel) Rerun(ctx context.Context, gcs *storage.Client, r *run.Run, from string, force bool) (*run.Run, error) {
	after, err := k.store.Rerun(ctx, gcs, r, from, force, k.now())
	if err != nil {
		return nil, err
	}
	if err := k.Redrive(ctx, after); err != nil {
		return after, fmt.Errorf("epoch %d recorded but its first task was not enqueued (the sweeper will re-drive it): %w", after.Epoch, err)
	}
	return after, nil
}

// Stalled reports whether a running run has made no progress for longer than
// a step could take: its lease (if any) has expired and its due time passed
// by more than grace.
func (k *Kernel) Stalled(r *run.Run, grace time.Duration) bool {
	if r.Terminal() {
		return false
	}
	now := k.now()
	if st := r.StepState(r.Step); st != nil && st.Lease != nil && now.Before(st.Lease.Expires.Add(grace)) {
		return false
	}
	due := r.UpdatedAt
	if r.NotBefore.After(due) {
		due = r.NotBefore
	}
	return now.Sub(due) > grace
}

// Unstick re-drives a stalled run under a fresh task name (the old task may
// have run out of retries, and its name stays blocked for an hour), or fails
// it once it has been re-driven maxRedrives times. It returns the record and
// whether this call changed it (false: the run was not stalled after all).
func (k *Kernel) Unstick(ctx context.Context, id string, grace time.Duration, maxRedrives int) (*run.Run, bool, error) {
	now := k.now()
	r, err := k.store.Update(ctx, id, func(r *run.Run) error {
		if !k.Stalled(r, grace) {
			return errNotStalled
		}
		st := r.StepState(r.Step)
		st.Lease = nil
		if r.Redrives >= maxRedrives {
			failRun(r, st, fmt.Sprintf("stalled in %s after %d re-drives (last error: %s)", r.Step, r.Redrives, st.LastError), now)
			return nil
		}
		r.Redrives++
		r.Segment++
		r.NotBefore = time.Time{}
		r.UpdatedAt = now
		return nil
	})
	if errors.Is(err, errNotStalled) {
		return r, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if r.Status == run.Failed {
		// An announcement that fails is the next sweep's to make.
		if err := k.announce(ctx, r, r.Error.Step, kindFailed); err != nil {
			k.log.WarnContext(ctx, "announce a run failed as stalled", "run_id", r.ID, "err", err)
		}
		return r, true, nil
	}
	return r, true, k.Redrive(ctx, r)
}

var errNotStalled = errors.New("run is not stalled")

// reply is the answer to one delivery.
type reply struct {
	code       int
	retryAfter time.Duration
	msg        string
}

// errors that end a lease attempt without running the step.
var (
	errStale      = errors.New("task belongs to a finished run or an older epoch")
	errNotCurrent = errors.New("task is not the run's current task")
	errBusy       = errors.New("step is leased to another delivery")
	errOwnLease   = errors.New("lease already taken by this delivery")
	errNoChange   = errors.New("no change")
)

// execute runs one delivery of task t for step s.
func (k *Kernel) execute(ctx context.Context, s Step, t taskq.Task, attempt int, log *slog.Logger) reply {
	now := k.now()
	holder := newHolder()
	var fence int64
	var retryAfter time.Duration
	r, err := k.store.Update(ctx, t.RunID, func(r *run.Run) error {
		st := r.StepState(t.Step)
		switch {
		case r.Epoch != t.Epoch || r.Terminal():
			return errStale
		case r.Step != t.Step || r.Segment != t.Segment || st == nil:
			return errNotCurrent
		case st.Lease != nil && st.Lease.Holder == holder:
			// An earlier try of this very write took effect, but its answer was lost.
			fence = st.Lease.Fence
			return errOwnLease
		case st.Lease != nil && now.Before(st.Lease.Expires):
			// Come back when the lease ends or after a poll interval,
			// whichever is first: the holder may finish (or die) long before
			// its lease runs out, and a task held back for a whole lease
			// would delay whatever waits on it.
			retryAfter = min(st.Lease.Expires.Sub(now), max(k.cfg.PollInterval, time.Second))
			return errBusy
		}
		r.Fence++
		fence = r.Fence
		st.Lease = &run.Lease{Holder: holder, Fence: fence, Expires: now.Add(k.cfg.Budget + k.cfg.SafetyMargin)}
		st.Status = run.StepRunning
		st.Attempts++
		if st.StartedAt.IsZero() {
			st.StartedAt = now
		}
		r.UpdatedAt = now
		return nil
	})
	if errors.Is(err, errOwnLease) {
		err = nil
	}
	switch {
	case errors.Is(err, run.ErrNotFound):
		return reply{code: 404, msg: "no such run"}
	case errors.Is(err, errStale):
		log.InfoContext(ctx, "stale task ignored", "run_status", r.Status, "run_epoch", r.Epoch)
		if r.Epoch != t.Epoch || !r.Terminal() || r.Announced {
			return reply{code: 200, msg: "stale task"}
		}
		// The delivery that ended the run died before its follow-up (or its
		// announcement failed): announce the run, and let the failing step
		// clean up after itself whatever the announcement did.
		announced, err := k.AnnounceMissing(ctx, r)
		if announced {
			log.InfoContext(ctx, "announced a finished run whose announcement was lost")
		}
		if r.Status == run.Failed && r.Error.Step == s.Name() {
			k.finalize(ctx, &Exec{Run: r, Log: log, k: k, stepImpl: s, step: t.Step, task: t}, r)
		}
		if err != nil {
			// Not announced: answer so that Cloud Tasks delivers again (and
			// after its last attempt, the sweep announces the run).
			return reply{code: 500, msg: err.Error()}
		}
		return reply{code: 200, msg: "stale task"}
	case errors.Is(err, errNotCurrent):
		// A duplicate or an old delivery: make sure the current task exists
		// (the delivery that advanced the run may have died before enqueueing it).
		if err := k.Redrive(ctx, r); err != nil {
			log.WarnContext(ctx, "redrive failed", "err", err)
			return reply{code: 500, msg: err.Error()}
		}
		return reply{code: 200, msg: "not the current task"}
	case errors.Is(err, errBusy):
		log.InfoContext(ctx, "step busy in another delivery", "retry_after", retryAfter.String())
		return reply{code: 503, retryAfter: retryAfter, msg: "step is running in another delivery"}
	case err != nil:
		log.WarnContext(ctx, "take lease", "err", err)
		return reply{code: 500, msg: err.Error()}
	}

	p, err := k.specs.Pipeline(ctx, r.Pipeline)
	if err != nil {
		return k.commitError(ctx, &Exec{Run: r, Log: log, k: k, stepImpl: s, step: t.Step, fence: fence}, attempt, fmt.Errorf("load spec %q: %w", r.Pipeline, err), log)
	}
	deadline := now.Add(k.cfg.Budget)
	x := &Exec{
		Run: r, Pipeline: p, Deadline: deadline, Attempt: attempt, Log: log,
		k: k, stepImpl: s, step: t.Step, task: t, fence: fence, counters: map[string]int64{}, outputs: map[string]string{},
	}
	sctx, cancel := context.WithDeadline(ctx, deadline.Add(k.cfg.SafetyMargin/2))
	out, err := runStep(sctx, s, x)
	cancel()
	if errors.Is(err, ErrCrashed) || (err == nil && k.crash(CrashBeforeCommit, t)) {
		log.WarnContext(ctx, "injected crash: invocation ends without committing")
		return reply{code: 500, msg: ErrCrashed.Error()}
	}
	if err != nil {
		return k.commitError(ctx, x, attempt, err, log)
	}
	return k.commit(ctx, x, out, log)
}

// runStep runs s, turning a panic into a transient error.
func runStep(ctx context.Context, s Step, x *Exec) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("step %s panicked: %v", s.Name(), p)
		}
	}()
	return s.Run(ctx, x)
}

// commit records the outcome under the lease and enqueues what comes next.
func (k *Kernel) commit(ctx context.Context, x *Exec, out Outcome, log *slog.Logger) reply {
	if out.kind == 0 {
		return k.commitError(ctx, x, x.Attempt, errors.New("step returned no outcome"), log)
	}
	var cp json.RawMessage
	if out.checkpoint != nil {
		b, err := json.Marshal(out.checkpoint)
		if err != nil {
			return k.commitError(ctx, x, x.Attempt, fmt.Errorf("encode checkpoint: %w", err), log)
		}
		cp = b
	}
	now := k.now()
	// The outcome is committed even if the delivery's request is cancelled
	// (Cloud Tasks' deadline passed): work done is not thrown away.
	ctx, cancel := commitContext(ctx)
	defer cancel()
	r, err := k.store.Update(ctx, x.Run.ID, func(r *run.Run) error {
		st, err := x.held(r)
		if err != nil {
			return err
		}
		x.apply(r)
		st.Lease = nil
		st.LastError = ""
		st.CommitFence = x.fence
		if out.kind != kindFailed {
			r.Redrives = 0 // progress: the run is not stalling
		}
		if cp != nil {
			st.Checkpoint = cp
		}
		switch out.kind {
		case kindDone:
			st.Status = run.StepDone
			st.FinishedAt = now
			r.NotBefore = time.Time{}
			if next := r.Next(st.Name); next != "" {
				r.Step, r.Segment = next, 0
			} else {
				r.Status, r.FinishedAt = run.Succeeded, now
			}
		case kindContinue, kindPollLater:
			st.Segments++
			r.Segment++
			r.NotBefore = time.Time{}
			if out.kind == kindPollLater {
				d := out.delay
				if d <= 0 {
					d = k.cfg.PollInterval
				}
				r.NotBefore = now.Add(d)
			}
		case kindFailed:
			failRun(r, st, out.err.Error(), now)
		}
		return nil
	})
	if err != nil {
		// The write may have landed with its answer lost: then the record
		// carries this invocation's fence, and the commit is ours to finish.
		if mine, ok := k.ownCommit(ctx, x); ok {
			r, err = mine, nil
		}
	}
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrLeaseExpired) {
		log.WarnContext(ctx, "outcome discarded", "outcome", out.kind.String(), "err", err)
		return reply{code: 503, retryAfter: time.Second, msg: err.Error()}
	}
	if err != nil {
		log.WarnContext(ctx, "commit outcome", "outcome", out.kind.String(), "err", err)
		return reply{code: 500, msg: err.Error()}
	}
	if k.crash(CrashAfterCommit, x.task) {
		log.WarnContext(ctx, "injected crash: committed, but no event, cleanup or next task followed")
		return reply{code: 500, msg: ErrCrashed.Error()}
	}
	log.InfoContext(ctx, "step invocation ended", "outcome", out.kind.String(), "attempt", x.Attempt)
	announceErr := k.announce(ctx, r, x.step, out.kind)
	if r.Status == run.Failed {
		k.finalize(ctx, x, r)
	}
	if err := k.Redrive(ctx, r); err != nil {
		log.WarnContext(ctx, "enqueue next", "err", err)
		return reply{code: 500, msg: err.Error()}
	}
	if announceErr != nil {
		// The run ended but its outcome was not accepted by Pub/Sub: the
		// redelivery (a stale task) announces it; after the queue's last
		// attempt, the sweep does.
		return reply{code: 500, msg: announceErr.Error()}
	}
	return reply{code: 200, msg: out.kind.String()}
}

// commitError records a transient error and releases the lease; on the last
// attempt the queue will make, it fails the run instead.
func (k *Kernel) commitError(ctx context.Context, x *Exec, attempt int, stepErr error, log *slog.Logger) reply {
	final := attempt+1 >= k.cfg.MaxAttempts
	now := k.now()
	ctx, cancel := commitContext(ctx)
	defer cancel()
	r, err := k.store.Update(ctx, x.Run.ID, func(r *run.Run) error {
		st, err := x.held(r)
		if err != nil {
			return err
		}
		st.Lease = nil
		st.LastError = stepErr.Error()
		st.CommitFence = x.fence
		r.UpdatedAt = now
		if final {
			failRun(r, st, fmt.Sprintf("gave up after %d attempts: %v", attempt+1, stepErr), now)
		}
		return nil
	})
	if err != nil {
		if mine, ok := k.ownCommit(ctx, x); ok {
			r, err = mine, nil
		}
	}
	if err != nil {
		log.WarnContext(ctx, "record step error", "step_error", stepErr, "err", err)
		return reply{code: 503, retryAfter: time.Second, msg: stepErr.Error()}
	}
	log.WarnContext(ctx, "step failed transiently", "err", stepErr, "attempt", attempt, "final", final)
	if final {
		announceErr := k.announce(ctx, r, x.step, kindFailed)
		k.finalize(ctx, x, r)
		if announceErr != nil {
			return reply{code: 500, msg: announceErr.Error()} // the sweep announces it
		}
		return reply{code: 200, msg: "failed: " + stepErr.Error()}
	}
	return reply{code: 500, msg: stepErr.Error()}
}

func failRun(r *run.Run, st *run.StepState, msg string, now time.Time) {
	st.Status = run.StepFailed
	st.Error = msg
	st.FinishedAt = now
	r.Status = run.Failed
	r.Error = &run.Failure{Step: st.Name, Message: msg, At: now}
	r.FinishedAt = now
	r.NotBefore = time.Time{}
}

// finalize lets the step that failed a run clean up after itself. Best effort:
// the sweeper catches what this misses. Every path that fails a run calls it
// with the run's spec, read again if the delivery has none (its own read
// failed, or it is a redelivery that found the run failed): a cleanup may
// need it (predict's names the model whose hold it releases).
func (k *Kernel) finalize(ctx context.Context, x *Exec, r *run.Run) {
	f, ok := x.stepImpl.(Finalizer)
	if !ok {
		return
	}
	x.Run = r
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
	defer cancel()
	if x.Pipeline == nil {
		p, err := k.pipeline(ctx, r.Pipeline)
		if err != nil {
			x.Log.WarnContext(ctx, "finalize without the spec", "err", err)
		}
		x.Pipeline = p
	}
	if err := f.Finalize(ctx, x); err != nil {
		x.Log.WarnContext(ctx, "finalize after failure", "err", err)
	}
}

// specTries bounds the reads of a spec for a cleanup.
const specTries = 3

// pipeline reads spec name, trying a few times: a cleanup that runs without
// it may leave a model deployed until the sweep's grace.
func (k *Kernel) pipeline(ctx context.Context, name string) (*spec.Pipeline, error) {
	var err error
	for i := range specTries {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("read spec %q: %w", name, ctx.Err())
			case <-time.After(time.Duration(i) * 200 * time.Millisecond):
			}
		}
		var p *spec.Pipeline
		if p, err = k.specs.Pipeline(ctx, name); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("read spec %q: %w", name, err)
}

// announce publishes what a commit changed. Its error says the run's end
// was not announced (step events are best effort).
func (k *Kernel) announce(ctx context.Context, r *run.Run, step string, kind outcomeKind) error {
	st := r.StepState(step)
	if kind == kindDone || kind == kindFailed {
		e := events.Event{Type: events.StepFinished, Step: step, Status: string(st.Status), Attempts: st.Attempts, Error: st.Error}
		if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
			e.DurationMS = st.FinishedAt.Sub(st.StartedAt).Milliseconds()
		}
		k.publish(ctx, r, e) // best effort: only the outcome must get out
	}
	return k.announceEnd(ctx, r)
}

// announceEnd publishes a finished run's outcome, once it is committed, and
// records that it did, only once Pub/Sub accepted the event. The flag makes
// the announcement at-least-once: a process that dies between the commit and
// the publication, or a publication that fails, leaves it unset, and the
// redelivery of its task (or the sweep) announces the run instead. Notify
// absorbs the rare duplicate. The active mark goes with the flag, only for
// the epoch that ended: a rerun's newer mark stays.
func (k *Kernel) announceEnd(ctx context.Context, r *run.Run) error {
	var e events.Event
	switch r.Status {
	case run.Succeeded:
		e = events.Event{Type: events.RunSucceeded, Status: string(r.Status), DurationMS: r.FinishedAt.Sub(r.CreatedAt).Milliseconds()}
	case run.Failed:
		e = events.Event{Type: events.RunFailed, Status: string(r.Status), Step: r.Error.Step, Error: r.Error.Message,
			Attempts: r.StepState(r.Error.Step).Attempts, DurationMS: r.FinishedAt.Sub(r.CreatedAt).Milliseconds()}
	default:
		return nil
	}
	if err := k.publish(ctx, r, e); err != nil {
		return fmt.Errorf("announce the end of run %s epoch %d: %w", r.ID, r.Epoch, err)
	}
	epoch := r.Epoch
	cur, err := k.store.Update(ctx, r.ID, func(r *run.Run) error {
		if r.Announced || r.Epoch != epoch || !r.Terminal() {
			return errNoChange
		}
		r.Announced = true
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		// Published but not recorded: the redelivery or the sweep publishes
		// it again, and notify absorbs the duplicate.
		return fmt.Errorf("record the announcement of run %s epoch %d: %w", r.ID, epoch, err)
	}
	if cur == nil || cur.Epoch != epoch || !cur.Announced {
		return nil // a rerun started another epoch: its mark is not ours to clear
	}
	// Ended and announced: nothing left for the sweep to do with this epoch.
	if err := k.store.ClearActive(ctx, r.ID, epoch); err != nil {
		k.log.WarnContext(ctx, "clear the active mark", "run_id", r.ID, "err", err)
	}
	return nil
}

// AnnounceMissing announces a finished run whose outcome was never
// announced. It reports whether it published the outcome now; an error means
// the run is still unannounced (or its announcement unrecorded).
func (k *Kernel) AnnounceMissing(ctx context.Context, r *run.Run) (bool, error) {
	if !r.Terminal() || r.Announced {
		return false, nil
	}
	if err := k.announceEnd(ctx, r); err != nil {
		return false, err
	}
	return true, nil
}

func (k *Kernel) publish(ctx context.Context, r *run.Run, e events.Event) error {
	e.Version = events.Version
	e.Time = k.now()
	e.RunID, e.Pipeline, e.Source, e.Epoch = r.ID, r.Pipeline, r.Source.URI(), r.Epoch
	e.Counters, e.Outputs, e.Record = r.Counters, r.Outputs, k.store.URI(r.ID)
	return k.events.Publish(ctx, e)
}

// Bounds of the work done after a step's own budget.
const (
	commitTimeout   = 30 * time.Second
	finalizeTimeout = time.Minute
)

// commitContext outlives the delivery's request, for a bounded time.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
}

// ownCommit re-reads the record after a failed commit write and reports
// whether the write landed after all (its answer lost): the step's last
// committed fence is this invocation's.
func (k *Kernel) ownCommit(ctx context.Context, x *Exec) (*run.Run, bool) {
	r, err := k.store.Get(ctx, x.Run.ID)
	if err != nil {
		return nil, false
	}
	st := r.StepState(x.step)
	return r, st != nil && st.CommitFence == x.fence && r.Epoch == x.Run.Epoch
}

func newHolder() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
