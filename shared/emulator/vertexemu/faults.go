package vertexemu

import (
	"context"
	"math/rand/v2"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Faults are failures the emulator injects. Rates are probabilities in
// [0, 1] drawn from a generator seeded with Seed, so a test making the same
// calls in the same order sees the same faults.
type Faults struct {
	Seed uint64
	// FailJobs makes the next N batch jobs created end FAILED.
	FailJobs int
	// FailDeploy makes the next N DeployModel operations end with an error.
	FailDeploy int
	// QuotaErrors makes the next N Predict calls fail with ResourceExhausted.
	QuotaErrors int
	// PredictErrorRate is the chance that one batch row fails (it goes to
	// the errors_ file) and that one online Predict call fails (Internal).
	PredictErrorRate float64
	// QuotaErrorRate is the chance that a Predict call fails with
	// ResourceExhausted.
	QuotaErrorRate float64
	// ServerErrorRate is the chance that any RPC fails with Unavailable
	// before it takes effect.
	ServerErrorRate float64
}

// faultState is the Faults in force and what is left of them.
type faultState struct {
	Faults
	rng *rand.Rand
}

func newFaultState(f Faults) faultState {
	return faultState{Faults: f, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x5eed))}
}

// SetFaults replaces the injected faults (and reseeds their generator).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = newFaultState(f)
}

// chance draws one event of probability p; callers hold s.mu.
func (s *Server) chance(p float64) bool {
	return p > 0 && s.faults.rng.Float64() < p
}

// take uses up one of a counted fault; callers hold s.mu.
func take(n *int) bool {
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

// injectServerErrors fails RPCs with Unavailable at ServerErrorRate.
func (s *Server) injectServerErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	fail := s.chance(s.faults.ServerErrorRate)
	s.mu.Unlock()
	if fail {
		return nil, status.Errorf(codes.Unavailable, "vertexemu: injected server error in %s", info.FullMethod)
	}
	return handler(ctx, req)
}
