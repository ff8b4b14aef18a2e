package tasksemu

import (
	"errors"
	"fmt"
	"math"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults the real service applies to unspecified queue fields.
const (
	defaultMaxDispatchesPerSecond  = 500
	maxMaxDispatchesPerSecond      = 500
	defaultMaxConcurrentDispatches = 1000
	maxMaxConcurrentDispatches     = 5000
	maxBurst                       = 100
	defaultMaxAttempts             = 100
	defaultMinBackoff              = 100 * time.Millisecond
	defaultMaxBackoff              = time.Hour
	defaultMaxDoublings            = 16
)

// retryPolicy is a queue's RetryConfig in Go types.
type retryPolicy struct {
	maxAttempts      int32 // -1: unlimited
	maxRetryDuration time.Duration
	minBackoff       time.Duration
	maxBackoff       time.Duration
	maxDoublings     int32
}

// normalizeQueueConfig fills unspecified rate limits and retry config with
// the service defaults and validates them. It modifies q.
func normalizeQueueConfig(q *cloudtaskspb.Queue) error {
	if q.GetHttpTarget() != nil {
		return errUnsupportedHTTPTarget
	}
	rl := q.GetRateLimits()
	if rl == nil {
		rl = &cloudtaskspb.RateLimits{}
	}
	switch r := rl.GetMaxDispatchesPerSecond(); {
	case r == 0:
		rl.MaxDispatchesPerSecond = defaultMaxDispatchesPerSecond
	case r < 0 || r > maxMaxDispatchesPerSecond || math.IsNaN(r):
		return fmt.Errorf("rate_limits.max_dispatches_per_second %g must be in (0, %d]", r, maxMaxDispatchesPerSecond)
	}
	switch c := rl.GetMaxConcurrentDispatches(); {
	case c == 0:
		rl.MaxConcurrentDispatches = defaultMaxConcurrentDispatches
	case c < 0 || c > maxMaxConcurrentDispatches:
		return fmt.Errorf("rate_limits.max_concurrent_dispatches %d must be in [1, %d]", c, maxMaxConcurrentDispatches)
	}
	rl.MaxBurstSize = int32(min(maxBurst, max(1, math.Ceil(rl.MaxDispatchesPerSecond))))
	q.RateLimits = rl

	rc := q.GetRetryConfig()
	if rc == nil {
		rc = &cloudtaskspb.RetryConfig{}
	}
	switch a := rc.GetMaxAttempts(); {
	case a == 0:
		rc.MaxAttempts = defaultMaxAttempts
	case a < -1:
		return fmt.Errorf("retry_config.max_attempts %d must be -1 (unlimited) or positive", a)
	}
	switch d := rc.GetMaxDoublings(); {
	case d == 0:
		rc.MaxDoublings = defaultMaxDoublings
	case d < 0:
		return fmt.Errorf("retry_config.max_doublings %d must not be negative", d)
	}
	var err error
	if rc.MinBackoff, err = durationOr(rc.MinBackoff, defaultMinBackoff, "retry_config.min_backoff"); err != nil {
		return err
	}
	if rc.MaxBackoff, err = durationOr(rc.MaxBackoff, defaultMaxBackoff, "retry_config.max_backoff"); err != nil {
		return err
	}
	if rc.MaxRetryDuration, err = durationOr(rc.MaxRetryDuration, 0, "retry_config.max_retry_duration"); err != nil {
		return err
	}
	if rc.MinBackoff.AsDuration() > rc.MaxBackoff.AsDuration() {
		return errors.New("retry_config.min_backoff must not exceed max_backoff")
	}
	q.RetryConfig = rc
	return nil
}

var errUnsupportedHTTPTarget = errors.New("queue-level http_target is not supported by tasksemu")

func durationOr(d *durationpb.Duration, def time.Duration, field string) (*durationpb.Duration, error) {
	if d == nil {
		return durationpb.New(def), nil
	}
	if err := d.CheckValid(); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if d.AsDuration() < 0 {
		return nil, fmt.Errorf("%s must not be negative", field)
	}
	return d, nil
}

// policyOf converts a normalized queue's RetryConfig.
func policyOf(q *cloudtaskspb.Queue) retryPolicy {
	rc := q.GetRetryConfig()
	return retryPolicy{
		maxAttempts:      rc.GetMaxAttempts(),
		maxRetryDuration: rc.GetMaxRetryDuration().AsDuration(),
		minBackoff:       rc.GetMinBackoff().AsDuration(),
		maxBackoff:       rc.GetMaxBackoff().AsDuration(),
		maxDoublings:     rc.GetMaxDoublings(),
	}
}

// mergeQueueUpdate applies the update_mask paths of upd onto a copy of cur.
// An empty mask replaces every updatable field.
func mergeQueueUpdate(cur, upd *cloudtaskspb.Queue, paths []string) (*cloudtaskspb.Queue, error) {
	out := proto.Clone(cur).(*cloudtaskspb.Queue)
	if len(paths) == 0 {
		paths = []string{"rate_limits", "retry_config", "stackdriver_logging_config", "http_target"}
	}
	rl := func() *cloudtaskspb.RateLimits {
		if out.RateLimits == nil {
			out.RateLimits = &cloudtaskspb.RateLimits{}
		}
		return out.RateLimits
	}
	rc := func() *cloudtaskspb.RetryConfig {
		if out.RetryConfig == nil {
			out.RetryConfig = &cloudtaskspb.RetryConfig{}
		}
		return out.RetryConfig
	}
	for _, p := range paths {
		switch p {
		case "rate_limits":
			out.RateLimits = proto.Clone(upd.GetRateLimits()).(*cloudtaskspb.RateLimits)
		case "rate_limits.max_dispatches_per_second":
			rl().MaxDispatchesPerSecond = upd.GetRateLimits().GetMaxDispatchesPerSecond()
		case "rate_limits.max_concurrent_dispatches":
			rl().MaxConcurrentDispatches = upd.GetRateLimits().GetMaxConcurrentDispatches()
		case "retry_config":
			out.RetryConfig = proto.Clone(upd.GetRetryConfig()).(*cloudtaskspb.RetryConfig)
		case "retry_config.max_attempts":
			rc().MaxAttempts = upd.GetRetryConfig().GetMaxAttempts()
		case "retry_config.max_retry_duration":
			rc().MaxRetryDuration = upd.GetRetryConfig().GetMaxRetryDuration()
		case "retry_config.min_backoff":
			rc().MinBackoff = upd.GetRetryConfig().GetMinBackoff()
		case "retry_config.max_backoff":
			rc().MaxBackoff = upd.GetRetryConfig().GetMaxBackoff()
		case "retry_config.max_doublings":
			rc().MaxDoublings = upd.GetRetryConfig().GetMaxDoublings()
		case "stackdriver_logging_config":
			out.StackdriverLoggingConfig = upd.GetStackdriverLoggingConfig()
		case "http_target":
			out.HttpTarget = upd.GetHttpTarget()
		default:
			return nil, fmt.Errorf("update_mask path %q is not supported", p)
		}
	}
	if err := normalizeQueueConfig(out); err != nil {
		return nil, fmt.Errorf("updated queue: %w", err)
	}
	return out, nil
}
