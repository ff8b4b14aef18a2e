package tasksemu

import (
	"container/heap"
	"context"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

// queue is one queue's configuration and tasks. All fields are guarded by
// Server.mu except wake, which is only sent to without blocking.
type queue struct {
	ref      queueRef
	pb       *cloudtaskspb.Queue // normalized config and state, never handed out
	policy   retryPolicy
	bucket   tokenBucket
	tasks    map[string]*task // by full task name
	ready    taskHeap         // stored tasks not in flight, by eta
	running  int              // task attempts in flight (limited by max_concurrent_dispatches)
	requests int              // HTTP requests in flight, duplicates included
	wake     chan struct{}    // capacity 1: "something changed, look again"
	ctx      context.Context  // scheduler and dispatch lifetime
	stop     context.CancelFunc
}

// task is a stored task. pb is owned by the queue and cloned on the way out.
type task struct {
	pb        *cloudtaskspb.Task
	eta       time.Time // next attempt, mirrors pb.ScheduleTime
	seq       uint64    // creation order
	index     int       // position in queue.ready, -1 while in flight
	running   bool
	removed   bool      // deleted, purged or finished while in flight
	first     time.Time // first dispatch, zero before
	lastCode  int       // HTTP status of the previous attempt, 0 if none
	execCount int       // earlier attempts answered with a status other than 5xx
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) paused() bool { return q.pb.GetState() == cloudtaskspb.Queue_PAUSED }

// newQueueLocked registers a normalized queue and starts its scheduler.
func (s *Server) newQueueLocked(ref queueRef, pb *cloudtaskspb.Queue) *queue {
	ctx, stop := context.WithCancel(s.ctx)
	rl := pb.GetRateLimits()
	q := &queue{
		ref:    ref,
		pb:     pb,
		policy: policyOf(pb),
		bucket: newTokenBucket(rl.GetMaxDispatchesPerSecond(), rl.GetMaxBurstSize(), time.Now()),
		tasks:  make(map[string]*task),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		stop:   stop,
	}
	s.queues[ref.name()] = q
	s.wg.Add(1)
	go s.schedule(ctx, q)
	return q
}

// reconfigureLocked installs a new normalized config on q.
func (s *Server) reconfigureLocked(q *queue, pb *cloudtaskspb.Queue) {
	q.pb = pb
	q.policy = policyOf(pb)
	rl := pb.GetRateLimits()
	q.bucket.reconfigure(rl.GetMaxDispatchesPerSecond(), rl.GetMaxBurstSize(), time.Now())
	q.signal()
}

// addTaskLocked stores t and wakes the scheduler.
func (s *Server) addTaskLocked(q *queue, t *task) {
	s.seq++
	t.seq = s.seq
	q.tasks[t.pb.GetName()] = t
	heap.Push(&q.ready, t)
	s.taskCount++
	s.stats.Created++
	s.updateIdleLocked()
	q.signal()
}

// removeTaskLocked forgets t and tombstones its name. An in-flight attempt
// finishes but its outcome is ignored.
func (s *Server) removeTaskLocked(q *queue, t *task) {
	if t.removed {
		return
	}
	t.removed = true
	if t.index >= 0 {
		heap.Remove(&q.ready, t.index)
	}
	delete(q.tasks, t.pb.GetName())
	s.tombstoneLocked(t.pb.GetName())
	s.taskCount--
	s.updateIdleLocked()
}

// deleteQueueLocked removes q and its tasks and stops its scheduler.
func (s *Server) deleteQueueLocked(q *queue) {
	for _, t := range q.tasks {
		s.removeTaskLocked(q, t)
	}
	delete(s.queues, q.ref.name())
	q.stop()
}

func (s *Server) tombstoneLocked(name string) {
	now := time.Now()
	s.tombstones[name] = now.Add(s.opts.TombstoneTTL)
	if len(s.tombstones) < s.sweepAt {
		return
	}
	for n, until := range s.tombstones {
		if !now.Before(until) {
			delete(s.tombstones, n)
		}
	}
	s.sweepAt = max(1024, 2*len(s.tombstones))
}

// nameTakenLocked reports whether a task name exists or is tombstoned.
func (s *Server) nameTakenLocked(q *queue, name string) bool {
	if _, ok := q.tasks[name]; ok {
		return true
	}
	until, ok := s.tombstones[name]
	if !ok {
		return false
	}
	if time.Now().Before(until) {
		return true
	}
	delete(s.tombstones, name)
	return false
}

// taskHeap orders tasks by eta, then creation.
type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if !h[i].eta.Equal(h[j].eta) {
		return h[i].eta.Before(h[j].eta)
	}
	return h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *taskHeap) Push(x any) {
	t := x.(*task)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
