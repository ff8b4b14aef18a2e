// Package batching sizes online prediction batches by AIMD, as Clipper does:
// the batch grows additively while calls finish within a latency target and
// shrinks multiplicatively when one overshoots it. A quota or rate-limit
// refusal shrinks the batch harder and asks the caller to back off for a
// jittered, exponentially growing delay. A Sizer starts in slow start
// (doubling, as TCP does) until the first overshoot or refusal, so it finds
// the right size in a logarithmic number of calls rather than a linear one.
//
// A Sizer is not safe for concurrent use: one prediction loop owns it. Its
// State is small and JSON-encodable, so the loop can checkpoint it and carry
// the learned size across invocations.
package batching

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Config tunes a Sizer. Zero fields take the defaults below; a fixed batch
// size is Min == Max (the Sizer then only backs off, never resizes).
type Config struct {
	// Target is the latency a call should stay within. Required.
	Target time.Duration
	// Min and Max bound the batch size (defaults 1 and 2000).
	Min, Max int
	// Initial is the first size (default 16, clamped to [Min, Max]).
	Initial int
	// Increase is the additive step after slow start (default 16).
	Increase int
	// Decrease multiplies the size of a call that overshot Target
	// (default 0.9: Clipper's 10% back-off).
	Decrease float64
	// QuotaDecrease multiplies the size on a quota refusal (default 0.5).
	QuotaDecrease float64
	// BackoffBase is the first quota back-off, doubled for every further
	// refusal in a row up to BackoffMax (defaults 100ms and 30s).
	BackoffBase, BackoffMax time.Duration
	// Rand returns jitter in [0, 1); nil uses math/rand/v2.
	Rand func() float64
}

// State is what a Sizer has learned, for checkpoints.
type State struct {
	Size int `json:"size"`
	// Steady is set once slow start has ended.
	Steady bool `json:"steady,omitempty"`
	// Throttles counts quota refusals since the last successful call.
	Throttles int `json:"throttles,omitempty"`
}

// Sizer chooses batch sizes.
type Sizer struct {
	cfg Config
	st  State
}

// New returns a Sizer resuming from st (the zero State starts afresh).
func New(cfg Config, st State) (*Sizer, error) {
	if cfg.Target <= 0 {
		return nil, fmt.Errorf("batching: latency target %v, want > 0", cfg.Target)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Min, 1)
	def(&cfg.Max, 2000)
	def(&cfg.Initial, 16)
	def(&cfg.Increase, 16)
	if cfg.Max < cfg.Min {
		return nil, fmt.Errorf("batching: max %d < min %d", cfg.Max, cfg.Min)
	}
	if cfg.Decrease <= 0 || cfg.Decrease >= 1 {
		cfg.Decrease = 0.9
	}
	if cfg.QuotaDecrease <= 0 || cfg.QuotaDecrease >= 1 {
		cfg.QuotaDecrease = 0.5
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 100 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffBase)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if st.Size == 0 {
		st = State{Size: cfg.Initial}
	}
	st.Size = clamp(st.Size, cfg.Min, cfg.Max)
	return &Sizer{cfg: cfg, st: st}, nil
}

// Size is how many rows the next call should carry.
func (s *Sizer) Size() int { return s.st.Size }

// State is the Sizer's state, to checkpoint.
func (s *Sizer) State() State { return s.st }

// Observe records a successful call of n rows that took latency. Only a
// full-sized call (n >= Size) is evidence for growing; any call over Target
// is evidence for shrinking below n.
func (s *Sizer) Observe(n int, latency time.Duration) {
	s.st.Throttles = 0
	if latency > s.cfg.Target {
		s.st.Steady = true
		s.st.Size = clamp(min(s.st.Size, int(float64(n)*s.cfg.Decrease)), s.cfg.Min, s.cfg.Max)
		return
	}
	if n < s.st.Size {
		return
	}
	if s.st.Steady {
		s.st.Size = clamp(s.st.Size+s.cfg.Increase, s.cfg.Min, s.cfg.Max)
	} else {
		s.st.Size = clamp(2*s.st.Size, s.cfg.Min, s.cfg.Max)
	}
}

// Throttled records a quota or rate-limit refusal: the size shrinks and the
// result is how long to wait before the next call, BackoffBase doubled per
// refusal in a row (capped at BackoffMax), jittered over its upper half.
func (s *Sizer) Throttled() time.Duration {
	s.st.Steady = true
	s.st.Throttles++
	s.st.Size = clamp(int(float64(s.st.Size)*s.cfg.QuotaDecrease), s.cfg.Min, s.cfg.Max)
	d := s.cfg.BackoffBase
	for i := 1; i < s.st.Throttles && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.BackoffMax)
	return d/2 + time.Duration(float64(d/2)*s.cfg.Rand())
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
