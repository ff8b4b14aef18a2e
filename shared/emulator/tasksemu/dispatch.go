package tasksemu

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// attempt is everything one dispatch needs, copied from the task under
// the lock so the HTTP request runs without it.
type attempt struct {
	method     string
	url        string
	header     http.Header
	body       []byte
	deadline   time.Duration // effective, after DeadlineScale
	delay      time.Duration // Faults.DispatchDelay
	dup        dupMode
	dups       int
	taskName   string
	dispatched time.Time
}

// outcome is the result of one HTTP request.
type outcome struct {
	code       int // 0 without a response
	header     http.Header
	err        error
	deadline   bool // the dispatch deadline cut it off
	aborted    bool // the server or queue went away
	receivedAt time.Time
}

func (o outcome) success() bool { return o.code >= 200 && o.code < 300 }

// newAttemptLocked records the attempt on the task and builds the request.
func (s *Server) newAttemptLocked(q *queue, t *task, now time.Time) *attempt {
	hr := t.pb.GetHttpRequest()
	ts := timestamppb.New(now)
	if t.pb.FirstAttempt == nil {
		t.pb.FirstAttempt = &cloudtaskspb.Attempt{ScheduleTime: t.pb.GetScheduleTime(), DispatchTime: ts}
		t.first = now
	}
	h := make(http.Header, len(hr.GetHeaders())+8)
	for k, v := range hr.GetHeaders() {
		if !reservedHeader(k) {
			h.Set(k, v)
		}
	}
	// Content-Type is the task's own: "Content-Type won't be set by Cloud
	// Tasks" (HttpRequest.headers).
	h.Set("User-Agent", "Google-Cloud-Tasks")
	h.Set("X-CloudTasks-QueueName", q.ref.id)
	h.Set("X-CloudTasks-TaskName", taskID(t.pb.GetName()))
	h.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(int(t.pb.GetDispatchCount())))
	h.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(t.execCount))
	h.Set("X-CloudTasks-TaskETA", strconv.FormatFloat(float64(t.eta.UnixNano())/1e9, 'f', 6, 64))
	if t.lastCode != 0 {
		h.Set("X-CloudTasks-TaskPreviousResponse", strconv.Itoa(t.lastCode))
	}
	if tok := fakeToken(hr); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	t.pb.DispatchCount++
	t.pb.LastAttempt = &cloudtaskspb.Attempt{ScheduleTime: t.pb.GetScheduleTime(), DispatchTime: ts}

	deadline := defaultDispatchDeadline
	if d := t.pb.GetDispatchDeadline(); d != nil && d.AsDuration() > 0 {
		deadline = d.AsDuration()
	}
	dup, dups := s.faults.rollDup()
	return &attempt{
		method:     methodName(hr.GetHttpMethod()),
		url:        hr.GetUrl(),
		header:     h,
		body:       hr.GetBody(),
		deadline:   time.Duration(float64(deadline) * s.opts.DeadlineScale),
		delay:      s.faults.f.DispatchDelay,
		dup:        dup,
		dups:       dups,
		taskName:   t.pb.GetName(),
		dispatched: now,
	}
}

// reservedHeader reports whether a task header is one Cloud Tasks replaces or
// keeps for itself: its own X-CloudTasks-* headers and Google's X-Google-* and
// X-AppEngine-* (HttpRequest.headers).
func reservedHeader(k string) bool {
	k = http.CanonicalHeaderKey(k)
	for _, p := range []string{"X-Cloudtasks-", "X-Google-", "X-Appengine-"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// fakeToken stands in for the OIDC or OAuth token the service would mint.
// It is not a JWT.
func fakeToken(hr *cloudtaskspb.HttpRequest) string {
	if o := hr.GetOidcToken(); o != nil {
		aud := o.GetAudience()
		if aud == "" {
			aud = hr.GetUrl()
		}
		return "tasksemu-oidc:" + o.GetServiceAccountEmail() + ":" + aud
	}
	if o := hr.GetOauthToken(); o != nil {
		return "tasksemu-oauth:" + o.GetServiceAccountEmail() + ":" + o.GetScope()
	}
	return ""
}

func methodName(m cloudtaskspb.HttpMethod) string {
	switch m {
	case cloudtaskspb.HttpMethod_GET:
		return http.MethodGet
	case cloudtaskspb.HttpMethod_HEAD:
		return http.MethodHead
	case cloudtaskspb.HttpMethod_PUT:
		return http.MethodPut
	case cloudtaskspb.HttpMethod_DELETE:
		return http.MethodDelete
	case cloudtaskspb.HttpMethod_PATCH:
		return http.MethodPatch
	case cloudtaskspb.HttpMethod_OPTIONS:
		return http.MethodOptions
	default:
		return http.MethodPost
	}
}

// runAttempt performs a task attempt and applies its outcome.
func (s *Server) runAttempt(ctx context.Context, q *queue, t *task, a *attempt) {
	defer s.wg.Done()
	out := s.send(ctx, a)
	s.finish(ctx, q, t, a, out)
}

// deliverDuplicate sends an injected extra delivery; its outcome only
// feeds the counters.
func (s *Server) deliverDuplicate(ctx context.Context, q *queue, a *attempt) {
	defer s.wg.Done()
	out := s.send(ctx, a)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.InjectedDuplicates++
	s.countOutcomeLocked(out)
	s.endRequestLocked(q)
	q.signal()
}

// send performs the HTTP request within the attempt's deadline.
func (s *Server) send(ctx context.Context, a *attempt) outcome {
	if a.delay > 0 {
		tm := time.NewTimer(a.delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return outcome{err: fmt.Errorf("dispatch delay: %w", ctx.Err()), aborted: true}
		case <-tm.C:
		}
	}
	rctx, cancel := context.WithTimeout(ctx, a.deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, a.method, a.url, bytes.NewReader(a.body))
	if err != nil {
		return outcome{err: fmt.Errorf("build request for %s: %w", a.taskName, err)}
	}
	req.Header = a.header.Clone()
	resp, err := s.http.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
		resp.Body.Close()
		if err == nil || rctx.Err() == nil {
			// The status is in; a broken body read does not change it.
			return outcome{code: resp.StatusCode, header: resp.Header, receivedAt: time.Now()}
		}
	}
	out := outcome{err: fmt.Errorf("dispatch %s: %w", a.taskName, err)}
	switch {
	case ctx.Err() != nil:
		out.aborted = true
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		out.deadline = true
	}
	return out
}

func (s *Server) countOutcomeLocked(out outcome) {
	switch {
	case out.aborted:
	case out.code != 0:
		s.stats.StatusCodes[out.code]++
	case out.deadline:
		s.stats.DeadlineExceeded++
	default:
		s.stats.TransportErrors++
	}
}

// finish applies an attempt's outcome: success removes the task, failure
// reschedules or drops it.
func (s *Server) finish(ctx context.Context, q *queue, t *task, a *attempt, out outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countOutcomeLocked(out)
	if a.dup == dupAfter && out.success() && ctx.Err() == nil {
		// Registered before this request ends so the server never looks
		// idle in between.
		for range a.dups {
			s.beginRequestLocked(q)
			s.wg.Add(1)
			go s.deliverDuplicate(ctx, q, a)
		}
	}
	s.endRequestLocked(q)
	q.running--
	t.running = false
	defer q.signal()
	s.log.Debug("tasksemu: dispatched", "task", a.taskName, "code", out.code,
		"deadline", out.deadline, "aborted", out.aborted, "err", out.err)
	if out.aborted || t.removed {
		return
	}
	if out.code != 0 {
		t.pb.ResponseCount++
		if out.code < 500 || out.code > 599 {
			// X-CloudTasks-TaskExecutionCount "does not include failures
			// due to 5XX error codes".
			t.execCount++
		}
		t.lastCode = out.code
		t.pb.LastAttempt.ResponseTime = timestamppb.New(out.receivedAt)
	}
	t.pb.LastAttempt.ResponseStatus = responseStatus(out)
	now := time.Now()
	if out.success() {
		s.stats.Succeeded++
		s.removeTaskLocked(q, t)
		return
	}
	if q.policy.exhausted(t.pb.GetDispatchCount(), t.first, now) {
		s.stats.Dropped++
		s.removeTaskLocked(q, t)
		return
	}
	// On 429 and 503 the service uses "a higher backoff rate" and
	// "considers" Retry-After: the retry waits for the longer of the two.
	delay := q.policy.backoff(int(t.pb.GetDispatchCount()))
	if after, ok := retryAfter(out.code, out.header, now); ok {
		delay = max(delay, after)
	}
	s.stats.Retries++
	t.eta = now.Add(delay)
	t.pb.ScheduleTime = timestamppb.New(t.eta)
	heap.Push(&q.ready, t)
}
