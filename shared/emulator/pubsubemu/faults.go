package pubsubemu

import (
	"context"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// publishFaults fails the next Publish calls on one topic (FailPublishes).
type publishFaults struct {
	mu     sync.Mutex
	topic  string // full name: projects/P/topics/T
	left   int
	code   codes.Code
	failed int
}

// FailPublishes makes the next n Publish calls on topic (its ID) made
// through Addr fail with code before they reach pstest: nothing of theirs
// is published. The Go client retries a transient code (Unavailable,
// Internal…) by itself, so only a run of failures longer than its retries
// reaches the caller; a code it does not retry (NotFound, say) reaches the
// caller at once. A later call replaces an earlier one; n = 0 turns it off.
func (s *Server) FailPublishes(topic string, n int, code codes.Code) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.topic, s.faults.left, s.faults.code = s.topicName(topic), n, code
}

// FailedPublishes is how many Publish calls FailPublishes has failed.
func (s *Server) FailedPublishes() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.failed
}

// injectPublish is the fault for a call, or nil.
func (s *Server) injectPublish(_ context.Context, method string, req any) error {
	if method != pubsubpb.Publisher_Publish_FullMethodName {
		return nil
	}
	r, ok := req.(*pubsubpb.PublishRequest)
	if !ok {
		return nil
	}
	f := &s.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left <= 0 || r.Topic != f.topic {
		return nil
	}
	f.left--
	f.failed++
	return status.Errorf(f.code, "injected: publish to %s failed", r.Topic)
}
