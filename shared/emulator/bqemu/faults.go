package bqemu

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Faults are failure switches for resilience tests. The zero value injects
// nothing.
type Faults struct {
	// Seed makes the ServerErrorRate draws reproducible.
	Seed int64
	// ServerErrorRate is the probability (0..1) that any request is answered
	// 503 backendError before it has any effect.
	ServerErrorRate float64
	// FailJobs makes the next N load jobs end DONE with a backendError
	// errorResult and no effect on the destination.
	FailJobs int
	// SlowJobs is extra latency added to every job inserted from now on.
	SlowJobs time.Duration
}

// faultInjector holds the current switches and their random source.
type faultInjector struct {
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	injected int
}

func newFaultInjector() *faultInjector {
	return &faultInjector{rng: rand.New(rand.NewPCG(0, 0))}
}

// SetFaults replaces the fault switches; it is safe to call at any time.
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
	s.faults.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
}

// InjectedServerErrors is how many requests have been answered with an
// injected 5xx since the server started.
func (s *Server) InjectedServerErrors() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.injected
}

// serverError draws whether this request fails with a 5xx.
func (fi *faultInjector) serverError() bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.ServerErrorRate <= 0 || fi.rng.Float64() >= fi.f.ServerErrorRate {
		return false
	}
	fi.injected++
	return true
}

// takeFailJob consumes one forced load-job failure, if any remain.
func (fi *faultInjector) takeFailJob() bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.FailJobs <= 0 {
		return false
	}
	fi.f.FailJobs--
	return true
}

// slowJobs is the extra latency for a job inserted now.
func (fi *faultInjector) slowJobs() time.Duration {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.f.SlowJobs
}
