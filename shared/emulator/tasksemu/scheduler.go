package tasksemu

import (
	"container/heap"
	"context"
	"time"
)

// schedule is a queue's dispatch loop. It starts every attempt that is due
// and allowed by pause state, max_concurrent_dispatches and the token
// bucket, then sleeps until the next due time or a wake signal.
func (s *Server) schedule(ctx context.Context, q *queue) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := s.startDue(ctx, q)
		if wait > 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// startDue starts due attempts and returns how long to sleep before
// looking again; 0 means "until woken".
func (s *Server) startDue(ctx context.Context, q *queue) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if ctx.Err() != nil || q.paused() || q.ready.Len() == 0 {
			return 0
		}
		now := time.Now()
		t := q.ready[0]
		if wait := t.eta.Add(s.faults.f.Backlog).Sub(now); wait > 0 {
			return wait
		}
		if q.running >= int(q.pb.GetRateLimits().GetMaxConcurrentDispatches()) {
			return 0 // a finishing attempt wakes us
		}
		if wait := q.bucket.take(now); wait > 0 {
			return wait
		}
		heap.Pop(&q.ready)
		s.startAttemptLocked(ctx, q, t, now)
	}
}

// startAttemptLocked marks t in flight, records the attempt on the task and
// launches the dispatch goroutine. t must not be in the ready heap.
func (s *Server) startAttemptLocked(ctx context.Context, q *queue, t *task, now time.Time) {
	a := s.newAttemptLocked(q, t, now)
	t.running = true
	q.running++
	s.beginRequestLocked(q)
	if a.dup == dupConcurrent {
		for range a.dups {
			s.beginRequestLocked(q)
			s.wg.Add(1)
			go s.deliverDuplicate(ctx, q, a)
		}
	}
	s.wg.Add(1)
	go s.runAttempt(ctx, q, t, a)
}

// beginRequestLocked and endRequestLocked track HTTP requests in flight.
func (s *Server) beginRequestLocked(q *queue) {
	q.requests++
	s.requests++
	if q.requests > s.stats.MaxConcurrent[q.ref.name()] {
		s.stats.MaxConcurrent[q.ref.name()] = q.requests
	}
	s.stats.Dispatches++
	s.updateIdleLocked()
}

func (s *Server) endRequestLocked(q *queue) {
	q.requests--
	s.requests--
	s.updateIdleLocked()
}
