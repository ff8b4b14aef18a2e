package tasksemu

import (
	"math/rand/v2"
	"time"
)

// Faults injects misbehaviour. Random choices come from generators seeded
// with Seed (one stream per fault kind), so a run with the same calls in the
// same order makes the same choices.
type Faults struct {
	Seed int64
	// DuplicateRate is the probability that an attempt is delivered twice.
	// Half of the duplicates are sent concurrently with the attempt; the
	// other half are sent right after the attempt succeeds (and skipped if
	// it fails, since the task is retried anyway). Duplicates carry the
	// same headers, do not affect the task and count in
	// Stats.InjectedDuplicates and Stats.Dispatches.
	DuplicateRate float64
	// MaxDuplicates is the most extra deliveries a duplicated attempt gets
	// (each duplicated attempt gets 1 to MaxDuplicates; default 1).
	MaxDuplicates int
	// CreateErrorRate is the probability that CreateTask returns
	// codes.Unavailable. Half of those failures happen before the task is
	// stored (nothing was created) and half after (the task exists and will
	// run: an ambiguous failure, as the real service can produce).
	CreateErrorRate float64
	// DispatchDelay is waited before each dispatch, while holding the
	// queue's concurrency slot.
	DispatchDelay time.Duration
	// Backlog holds every attempt back this long past its due time, as a
	// queue that far behind would: the task stays stored (GetTask finds
	// it) and undispatched meanwhile. SetFaults applies a new value to the
	// tasks already waiting.
	Backlog time.Duration
}

// dupMode says whether and how an attempt is duplicated.
type dupMode int

const (
	dupNone dupMode = iota
	dupConcurrent
	dupAfter
)

// createFault says whether and where a CreateTask call fails.
type createFault int

const (
	createOK createFault = iota
	createFailBefore
	createFailAfter
)

// faultState holds the active faults and their random streams.
// It is guarded by Server.mu.
type faultState struct {
	f      Faults
	dupRng *rand.Rand
	crtRng *rand.Rand
}

func newFaultState(f Faults) faultState {
	seed := uint64(f.Seed)
	return faultState{
		f:      f,
		dupRng: rand.New(rand.NewPCG(seed, 0x6475706c)),    // "dupl"
		crtRng: rand.New(rand.NewPCG(seed, 0x63726561746)), // "creat"
	}
}

// rollDup draws twice per attempt, whatever the rate, so the stream stays
// aligned with the number of attempts. It returns how the attempt is
// duplicated and how many extra deliveries it gets.
func (fs *faultState) rollDup() (dupMode, int) {
	u, k := fs.dupRng.Float64(), fs.dupRng.IntN(max(1, fs.f.MaxDuplicates))+1
	if u >= fs.f.DuplicateRate {
		return dupNone, 0
	}
	if u < fs.f.DuplicateRate/2 {
		return dupConcurrent, k
	}
	return dupAfter, k
}

// rollCreate draws once per CreateTask that reaches storage.
func (fs *faultState) rollCreate() createFault {
	u := fs.crtRng.Float64()
	if u >= fs.f.CreateErrorRate {
		return createOK
	}
	if u < fs.f.CreateErrorRate/2 {
		return createFailBefore
	}
	return createFailAfter
}

// SetFaults replaces the active faults and reseeds their random streams
// from f.Seed. It is safe to call while the server runs.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = newFaultState(f)
	for _, q := range s.queues {
		q.signal() // a changed Backlog changes when waiting tasks are due
	}
}
