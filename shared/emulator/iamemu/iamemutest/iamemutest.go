// Package iamemutest gives the emulators' tests an iamemu.Authorizer that
// records every check and refuses the permissions a test chooses.
package iamemutest

import (
	"sync"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// Check is one Authorizer.Check an emulator made.
type Check struct{ Identity, Permission, Resource string }

// Recorder records every check; it refuses the permissions set by Refuse
// (for every identity) or RefuseFor (for some), and allows the rest.
type Recorder struct {
	mu      sync.Mutex
	checks  []Check
	deny    map[string]bool
	denyFor map[string]bool
}

// Check records the check and answers it.
func (r *Recorder) Check(identity, permission, resource string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, Check{identity, permission, resource})
	if r.deny[permission] && (len(r.denyFor) == 0 || r.denyFor[identity]) {
		return &iamemu.Denied{Identity: identity, Permission: permission, Resource: resource}
	}
	return nil
}

// Refuse makes perms refused for every identity (none: nothing refused).
func (r *Recorder) Refuse(perms ...string) { r.RefuseFor(nil, perms...) }

// RefuseFor makes perms refused for identities only (nil: every identity).
func (r *Recorder) RefuseFor(identities []string, perms ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deny, r.denyFor = map[string]bool{}, map[string]bool{}
	for _, p := range perms {
		r.deny[p] = true
	}
	for _, id := range identities {
		r.denyFor[id] = true
	}
}

// Take returns the checks recorded since the last Take.
func (r *Recorder) Take() []Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.checks
	r.checks = nil
	return c
}
