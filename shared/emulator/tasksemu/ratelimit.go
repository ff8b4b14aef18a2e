package tasksemu

import (
	"math"
	"time"
)

// tokenBucket limits dispatches per second. It starts full. Not
// goroutine-safe: guarded by Server.mu.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int32, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// reconfigure changes the rate and burst, keeping the tokens on hand.
func (b *tokenBucket) reconfigure(rate float64, burst int32, now time.Time) {
	b.refill(now)
	b.rate, b.burst = rate, float64(burst)
	b.tokens = math.Min(b.tokens, b.burst)
}

func (b *tokenBucket) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el.Seconds()*b.rate)
	}
	b.last = now
}

// take removes a token and returns 0, or returns how long until one is
// available without taking it.
func (b *tokenBucket) take(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	return max(wait, time.Millisecond)
}
