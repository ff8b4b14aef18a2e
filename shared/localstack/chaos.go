package localstack

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/taskq"
)

// Chaos is a reproducible mix of faults, all derived from one seed: duplicate
// deliveries of storage events and tasks (up to 5×, some concurrent),
// crashes between side effects and their commits, 5xx/429/lost responses and
// slowness from Cloud Storage, BigQuery and Vertex AI, ambiguous Cloud Tasks
// creates, budgets that force self-requeue at random points, and (for some
// seeds) a prediction job that fails. For some seeds, too: run events whose
// publication fails, a queue backlog longer than the sweep's grace while the
// sweep runs, an upload superseded while its load job runs, and lost replies
// to the writes of the active index's and notify's markers; reruns and
// backfills racing an epoch in flight; an announcement made late, from a
// record read before a rerun; and specs renamed or added between sweeps.
type Chaos struct {
	Seed int64
	// Budget is the steps' time budget.
	Budget time.Duration
	// EventCopies is how many times each storage event is delivered (1-5).
	EventCopies int
	// CrashRate is the probability of a crash at each crash point, at most
	// MaxCrashes times per task and point.
	CrashRate  float64
	MaxCrashes int
	Tasks      tasksemu.Faults
	Storage    faultproxy.Faults
	BigQuery   bqemu.Faults
	Vertex     vertexemu.Faults
	// FailPrediction makes the first prediction job fail: the run must fail
	// cleanly, in predict.
	FailPrediction bool

	// FailPublishes is how many publications of run events fail
	// (pubsubemu.Server.FailPublishes, armed by Arm) with PublishCode:
	// codes.Unavailable, which the client retries by itself, or
	// codes.NotFound, which reaches the kernel: every run must still end
	// announced for its last epoch.
	FailPublishes int
	PublishCode   codes.Code
	// BacklogGraces, when not 0, is a queue backlog (tasksemu
	// Faults.Backlog) of this many sweep graces, from BacklogAfter after
	// the drop; the scenario calls the sweep every half grace meanwhile. No
	// run may fail as stalled while its task waits in the queue.
	BacklogGraces float64
	BacklogAfter  time.Duration
	// Supersede uploads the object again, with other data, while the first
	// upload's load job runs (slowed to SupersedeSlowJob): the tables must
	// hold exactly the newer upload's rows. Never with FailPrediction.
	Supersede        bool
	SupersedeSlowJob time.Duration
	// LostMarkerReplies (also in Storage) is the probability that a write
	// of an active/ or notified/ marker lands and its reply is lost.
	LostMarkerReplies float64

	// Reruns is how often a run is rerun while an epoch of it is in flight,
	// with the code of `dropcast runs rerun --force` (Kernel.Rerun): the
	// first RerunAfter after the run reaches step RerunAt (or ends), the
	// next RerunGap later; from load when RerunFromLoad and the epoch's
	// preprocess is done, else from the start. With a supersession,
	// RerunOlder reruns the older upload's run instead, which must not
	// overwrite the newer upload's rows. Never with FailPrediction.
	Reruns        int
	RerunAt       string
	RerunAfter    time.Duration
	RerunGap      time.Duration
	RerunFromLoad bool
	RerunOlder    bool
	// Backfill races the first rerun with `dropcast runs backfill --force`
	// for the file (ingest.Backfill): it skips a running run and reruns an
	// ended one, unless the other rerun came first.
	Backfill bool
	// LateAnnouncement makes the publications of run events fail until the
	// newest run has ended, unannounced, and been rerun; then the scenario
	// announces the record it read at the end, as a sweep that read it
	// before the rerun would (Kernel.AnnounceMissing). The new epoch must stay marked active and
	// unannounced until it ends. Never with FailPrediction.
	LateAnnouncement bool
	// SpecChange edits the specs in the state bucket SpecChangeAfter the
	// first upload: SpecRename renames the pipeline, SpecAdd adds a spec
	// whose pattern takes the same files (and sorts first). Meanwhile the
	// sweep runs every grace, each time on a new instance (which reads the
	// specs afresh): no file that has a run may get another.
	SpecChange      string
	SpecChangeAfter time.Duration
}

// Spec changes (Chaos.SpecChange).
const (
	SpecRename = "rename"
	SpecAdd    = "add"
)

// ChaosFor derives a scenario from seed.
func ChaosFor(seed int64) Chaos {
	r := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	c := Chaos{
		Seed:        seed,
		Budget:      []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, time.Second}[r.IntN(4)],
		EventCopies: 1 + r.IntN(5),
		CrashRate:   0.05 + 0.15*r.Float64(),
		MaxCrashes:  2,
		Tasks: tasksemu.Faults{
			Seed: seed, DuplicateRate: 0.5 * r.Float64(), MaxDuplicates: 4,
			CreateErrorRate: 0.05 * r.Float64(),
		},
		Storage: faultproxy.Faults{
			Seed: uint64(seed), Unavailable: 0.02 * r.Float64(), TooManyRequests: 0.02 * r.Float64(),
			LostResponse: 0.01 * r.Float64(), SlowRate: 0.02, Delay: 20 * time.Millisecond,
		},
		BigQuery: bqemu.Faults{Seed: seed, ServerErrorRate: 0.05 * r.Float64(), SlowJobs: time.Duration(r.IntN(200)) * time.Millisecond},
		Vertex:   vertexemu.Faults{Seed: uint64(seed), ServerErrorRate: 0.05 * r.Float64()},
	}
	c.FailPrediction = r.IntN(10) == 0
	if c.FailPrediction {
		c.Vertex.FailJobs = 1
	}

	// Issue 14's interleavings draw from a stream of their own, so every
	// seed keeps the faults above as they were. Each is on in about a
	// quarter of the seeds (the supersession, possible in two files of three, in a third), independently.
	x := rand.New(rand.NewPCG(uint64(seed), 0x14))
	if x.IntN(4) == 0 {
		c.FailPublishes = 1 + x.IntN(4)
		c.PublishCode = []codes.Code{codes.Unavailable, codes.NotFound}[x.IntN(2)]
	}
	if x.IntN(4) == 0 {
		c.BacklogGraces = 2 + 3*x.Float64()
		c.BacklogAfter = time.Duration(x.IntN(1000)) * time.Millisecond
	}
	if x.IntN(3) == 0 && !c.FailPrediction {
		c.Supersede = true
		c.SupersedeSlowJob = time.Second + time.Duration(x.IntN(2000))*time.Millisecond
	}
	if x.IntN(4) == 0 {
		c.WithLostMarkerReplies(0.05 + 0.25*x.Float64())
	}
	// Reruns, backfills, late announcements and spec changes: a stream of
	// their own again, so the faults above stay as they were.
	y := rand.New(rand.NewPCG(uint64(seed), 0x1414))
	if y.IntN(4) == 0 && !c.FailPrediction {
		c.Reruns = 1 + y.IntN(2)
		c.RerunAt = run.Plan[y.IntN(len(run.Plan))]
		c.RerunAfter = time.Duration(y.IntN(500)) * time.Millisecond
		c.RerunGap = time.Duration(y.IntN(1500)) * time.Millisecond
		c.RerunFromLoad = y.IntN(2) == 0
		c.RerunOlder = y.IntN(2) == 0
		c.Backfill = y.IntN(2) == 0
	}
	if y.IntN(5) == 0 && !c.FailPrediction {
		c.LateAnnouncement = true
	}
	if y.IntN(5) == 0 {
		c.SpecChange = []string{SpecRename, SpecAdd}[y.IntN(2)]
		c.SpecChangeAfter = time.Duration(y.IntN(3000)) * time.Millisecond
	}
	return c
}

// WithLostMarkerReplies sets the rate of lost replies to marker writes.
func (c *Chaos) WithLostMarkerReplies(rate float64) {
	c.LostMarkerReplies = rate
	c.Storage.LostWriteReplies = rate
	c.Storage.LostWritePrefixes = []string{run.ActivePrefix, notifiedPrefix}
}

// notifiedPrefix is where notify keeps its markers (functions/notify).
const notifiedPrefix = "notified/"

// Arm applies the faults Start does not: the failing publications of run
// events. Call it right after Start.
func (c Chaos) Arm(s *Stack) {
	if c.FailPublishes > 0 {
		s.PubSub.FailPublishes(EventsTopic, c.FailPublishes, c.PublishCode)
	}
}

func (c Chaos) String() string {
	return fmt.Sprintf("seed=%d budget=%s event-copies=%d crash-rate=%.2f task-dups=%.2f gcs-faults=%.3f/%.3f/%.3f bq-5xx=%.3f vertex-5xx=%.3f fail-prediction=%v failed-publishes=%d/%s backlog=%.1fx-grace@%s supersede=%v/%s lost-marker-replies=%.2f reruns=%d@%s+%s+%s/from-load=%v/older=%v backfill=%v late-announcement=%v spec-change=%s@%s",
		c.Seed, c.Budget, c.EventCopies, c.CrashRate, c.Tasks.DuplicateRate,
		c.Storage.Unavailable, c.Storage.TooManyRequests, c.Storage.LostResponse,
		c.BigQuery.ServerErrorRate, c.Vertex.ServerErrorRate, c.FailPrediction,
		c.FailPublishes, c.PublishCode, c.BacklogGraces, c.BacklogAfter, c.Supersede, c.SupersedeSlowJob, c.LostMarkerReplies,
		c.Reruns, c.RerunAt, c.RerunAfter, c.RerunGap, c.RerunFromLoad, c.RerunOlder, c.Backfill, c.LateAnnouncement, c.SpecChange, c.SpecChangeAfter)
}

// crasher decides crashes from a hash of (seed, point, task, n), so a task's
// fate does not depend on how deliveries interleave.
type crasher struct {
	seed int64
	rate float64
	max  int

	mu    sync.Mutex
	count map[string]int
	// crashes counts the crashes injected per step; byEpoch per run epoch
	// and step.
	crashes map[string]int
	byEpoch map[epochStep]int
}

type epochStep struct {
	run   string
	epoch int
	step  string
}

func newCrasher(c Chaos) *crasher {
	return &crasher{seed: c.Seed, rate: c.CrashRate, max: c.MaxCrashes, count: map[string]int{}, crashes: map[string]int{}, byEpoch: map[epochStep]int{}}
}

func (c *crasher) Crash(point string, t taskq.Task) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := point + "/" + t.Name()
	n := c.count[key]
	if n >= c.max {
		return false
	}
	h := fnv.New64a()
	binary.Write(h, binary.LittleEndian, c.seed)
	fmt.Fprintf(h, "%s/%d", key, n)
	if float64(h.Sum64()%1_000_000)/1_000_000 >= c.rate {
		return false
	}
	c.count[key] = n + 1
	if point != kernel.CrashAfterCommit {
		c.crashes[t.Step]++
		c.byEpoch[epochStep{t.RunID, t.Epoch, t.Step}]++
	}
	return true
}

// CrashedAttempts is how many attempts of each step an injected crash ended
// (crashes after a commit end no attempt of their step).
func (c *crasher) CrashedAttempts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.crashes))
	for k, v := range c.crashes {
		out[k] = v
	}
	return out
}

// crashedIn is how many attempts of each step of epoch of run id an
// injected crash ended.
func (c *crasher) crashedIn(id string, epoch int) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.byEpoch {
		if k.run == id && k.epoch == epoch {
			out[k.step] += v
		}
	}
	return out
}

// CrashedAttemptsIn is how many attempts of each step of one epoch of run id
// chaos crashes ended (a rerun starts counting attempts anew).
func (s *Stack) CrashedAttemptsIn(id string, epoch int) map[string]int {
	if s.crasher == nil {
		return nil
	}
	return s.crasher.crashedIn(id, epoch)
}

// NewInstance starts another instance of function fn, as Cloud Run does when
// it scales out or replaces one: its own clients, with fn's identity and the
// chaos faults, and an empty spec cache (it reads the specs afresh). Close it
// when done.
func (s *Stack) NewInstance(ctx context.Context, fn string) (*app.App, error) {
	c := s.Config
	if s.IAM != nil {
		c.EmulatorIdentity = s.Identities[fn]
	}
	var faults kernel.Faults
	if s.crasher != nil {
		faults = s.crasher
	}
	a, err := app.New(ctx, c, app.Options{Log: s.Apps[fn].Log, SpecTTL: time.Hour, Faults: faults})
	if err != nil {
		return nil, fmt.Errorf("localstack: new %s instance: %w", fn, err)
	}
	return a, nil
}
