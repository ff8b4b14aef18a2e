package tasksemu

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff is the delay before retry number n (n = 1 for the first retry):
// min_backoff doubled for the first max_doublings retries, then growing
// linearly by min_backoff*2^max_doublings, capped at max_backoff. With
// min 10s, max 300s and 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300...
func (p retryPolicy) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	k := float64(n - 1)
	d := float64(p.maxDoublings)
	var f float64
	if k <= d {
		f = math.Exp2(k)
	} else {
		f = math.Exp2(d) * (1 + k - d)
	}
	v := float64(p.minBackoff) * f
	if v >= float64(p.maxBackoff) || math.IsInf(v, 0) || math.IsNaN(v) {
		return p.maxBackoff
	}
	return time.Duration(v)
}

// exhausted reports whether a task that has been attempted `attempts`
// times, first at `first`, must not be retried at `now`. Per the API, the
// task is dropped once both limits are used up; max_attempts -1 and
// max_retry_duration 0 each mean "no limit of this kind".
func (p retryPolicy) exhausted(attempts int32, first, now time.Time) bool {
	attemptsSet := p.maxAttempts >= 0
	durationSet := p.maxRetryDuration > 0
	attemptsDone := attemptsSet && attempts >= p.maxAttempts
	durationDone := durationSet && now.Sub(first) >= p.maxRetryDuration
	switch {
	case attemptsSet && durationSet:
		return attemptsDone && durationDone
	case attemptsSet:
		return attemptsDone
	case durationSet:
		return durationDone
	default:
		return false
	}
}

// retryAfter reads a Retry-After header (delay seconds or an HTTP date)
// from a 429 or 503 response. ok is false when there is none to honour.
func retryAfter(code int, h http.Header, now time.Time) (time.Duration, bool) {
	if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(maxScheduleAhead/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}
