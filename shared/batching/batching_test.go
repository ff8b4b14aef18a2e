package batching

import (
	"slices"
	"testing"
	"time"
)

// linear is a service whose calls take 20ms plus 0.05ms per row.
func linear(n int) time.Duration { return 20*time.Millisecond + time.Duration(n)*50*time.Microsecond }

func mustNew(t *testing.T, cfg Config, st State) *Sizer {
	t.Helper()
	s, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSlowStartDoublesThenAdditiveIncreaseAndMultiplicativeDecrease(t *testing.T) {
	s := mustNew(t, Config{Target: 50 * time.Millisecond, Max: 5000}, State{})
	var sizes []int
	for range 8 {
		n := s.Size()
		sizes = append(sizes, n)
		s.Observe(n, linear(n))
	}
	// 16→32→…→512 stay within 50ms (512 rows: 45.6ms); 1024 overshoots
	// (71.2ms) and ends slow start at floor(1024*0.9) = 921; 921 overshoots
	// again (66ms) → 828.
	want := []int{16, 32, 64, 128, 256, 512, 1024, 921}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("sizes %v, want prefix %v", sizes, want)
		}
	}
	// Steady state hovers around the largest size within target, 600 rows.
	for range 20 { // the descent from the slow-start overshoot
		n := s.Size()
		s.Observe(n, linear(n))
	}
	lo, hi := 1<<30, 0
	for range 200 {
		n := s.Size()
		s.Observe(n, linear(n))
		lo, hi = min(lo, s.Size()), max(hi, s.Size())
	}
	if lo < 500 || hi > 620 {
		t.Fatalf("steady sizes in [%d, %d], want within [500, 620] around 600", lo, hi)
	}
	if !s.State().Steady {
		t.Fatal("still in slow start after overshooting")
	}
}

func TestAdditiveIncreaseOnlyAfterFullBatches(t *testing.T) {
	s := mustNew(t, Config{Target: time.Second, Initial: 100, Increase: 10}, State{Size: 100, Steady: true})
	s.Observe(40, time.Millisecond) // a short tail batch says nothing about 110
	if s.Size() != 100 {
		t.Fatalf("size %d after a short batch, want 100", s.Size())
	}
	s.Observe(100, time.Millisecond)
	if s.Size() != 110 {
		t.Fatalf("size %d after a full batch within target, want 110", s.Size())
	}
	s.Observe(40, 2*time.Second) // even a short batch that overshoots shrinks below it
	if s.Size() != 36 {
		t.Fatalf("size %d after 40 rows overshot, want 36", s.Size())
	}
}

func TestQuotaShrinksAndBacksOffExponentiallyWithJitter(t *testing.T) {
	jitter := []float64{0, 0.999, 0.5, 0, 0}
	i := 0
	s := mustNew(t, Config{
		Target: time.Second, Initial: 800, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		Rand: func() float64 { v := jitter[i]; i++; return v },
	}, State{})
	var delays []time.Duration
	var sizes []int
	for range 5 {
		delays = append(delays, s.Throttled())
		sizes = append(sizes, s.Size())
	}
	// Backoff 100, 200, 400, 800, 1000(capped) ms, each jittered over its upper half.
	want := []time.Duration{50 * time.Millisecond, 200*time.Millisecond - 100*time.Microsecond, 300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond}
	for k := range want {
		if d := delays[k] - want[k]; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("delays %v, want ≈ %v", delays, want)
		}
	}
	if wantSizes := []int{400, 200, 100, 50, 25}; !slices.Equal(sizes, wantSizes) {
		t.Fatalf("sizes %v, want %v", sizes, wantSizes)
	}
	// A success resets the back-off, and growth is additive from then on.
	s.Observe(25, time.Millisecond)
	if s.State().Throttles != 0 || s.Size() != 41 {
		t.Fatalf("after a success: %+v, want throttles 0 and size 41", s.State())
	}
}

func TestFixedSizeNeverMovesButStillBacksOff(t *testing.T) {
	s := mustNew(t, Config{Target: 10 * time.Millisecond, Min: 1000, Max: 1000, Rand: func() float64 { return 0 }}, State{})
	s.Observe(1000, time.Second)
	s.Observe(1000, time.Microsecond)
	if d := s.Throttled(); s.Size() != 1000 || d != 50*time.Millisecond {
		t.Fatalf("fixed sizer: size %d, back-off %v; want 1000 and 50ms", s.Size(), d)
	}
}

func TestStateRoundTripAndBounds(t *testing.T) {
	cfg := Config{Target: time.Second, Min: 10, Max: 300}
	s := mustNew(t, cfg, State{Size: 5000, Steady: true})
	if s.Size() != 300 {
		t.Fatalf("resumed size %d, want clamped to 300", s.Size())
	}
	s.Observe(300, 2*time.Second)
	r := mustNew(t, cfg, s.State())
	if r.State() != s.State() {
		t.Fatalf("resumed %+v, saved %+v", r.State(), s.State())
	}
	for range 20 {
		r.Throttled()
	}
	if r.Size() != 10 {
		t.Fatalf("size %d after many refusals, want Min 10", r.Size())
	}
	if _, err := New(Config{}, State{}); err == nil {
		t.Fatal("no error without a latency target")
	}
}
