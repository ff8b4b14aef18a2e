package automlemu

import "math/rand/v2"

// Faults are failures the emulator injects, drawn from a generator seeded
// with Seed so a run is reproducible (for a given call order).
type Faults struct {
	Seed uint64
	// FailBatch is how many of the next BatchPredict operations fail (their
	// operation ends with an INTERNAL error and writes no output).
	FailBatch int
	// FailDeploy is how many of the next deploy operations fail likewise.
	FailDeploy int
	// PredictErrorRate is the chance a row cannot be predicted: in a batch it
	// goes to errors_N.csv; online, Predict returns INVALID_ARGUMENT.
	PredictErrorRate float64
	// QuotaErrorRate is the chance an online Predict call returns RESOURCE_EXHAUSTED.
	QuotaErrorRate float64
	// ServerErrorRate is the chance an online Predict call returns UNAVAILABLE.
	ServerErrorRate float64
}

// faultState is Faults plus the generator and the counts left; guarded by state.mu.
type faultState struct {
	f   Faults
	rng *rand.Rand
}

func (fs *faultState) set(f Faults) {
	fs.f = f
	fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// roll reports whether an event of probability p happens.
func (fs *faultState) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	return fs.rng.Float64() < p
}

// take uses up one of *n planned failures.
func take(n *int) bool {
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

// SetFaults replaces the injected faults and reseeds the generator.
func (s *Server) SetFaults(f Faults) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.faults.set(f)
}
