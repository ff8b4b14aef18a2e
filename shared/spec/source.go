package spec

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/storage"
)

// Source serves pipelines from a location, re-reading it at most once per TTL,
// so a spec added to the bucket is picked up without a redeploy.
type Source struct {
	gcs      *storage.Client
	location string
	ttl      time.Duration

	mu      sync.Mutex
	set     *Set
	fetched time.Time
}

// NewSource serves the specs at location (see Load).
func NewSource(gcs *storage.Client, location string, ttl time.Duration) *Source {
	return &Source{gcs: gcs, location: location, ttl: ttl}
}

// Set returns every pipeline.
func (s *Source) Set(ctx context.Context) (*Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set != nil && time.Since(s.fetched) < s.ttl {
		return s.set, nil
	}
	set, err := Load(ctx, s.gcs, s.location)
	if err != nil {
		if s.set != nil {
			return s.set, nil // keep serving the last good specs
		}
		return nil, err
	}
	s.set, s.fetched = set, time.Now()
	return set, nil
}

// Pipeline returns the pipeline named name.
func (s *Source) Pipeline(ctx context.Context, name string) (*Pipeline, error) {
	set, err := s.Set(ctx)
	if err != nil {
		return nil, err
	}
	p, ok := set.Get(name)
	if !ok {
		return nil, fmt.Errorf("no pipeline spec named %q", name)
	}
	return p, nil
}
