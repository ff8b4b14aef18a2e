package iamemu

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Grant is one role binding: Member holds Role on Resource. Member is an IAM
// principal ("serviceAccount:EMAIL", as Terraform's member attributes give it)
// or a bare email; Resource is a name as the package comment lists them.
type Grant struct {
	Member, Role, Resource string
}

// Use is one permission check a Policy answered.
type Use struct {
	Identity, Permission, Resource string
	Allowed                        bool
}

// GrantUse is an allowed Use and every grant that allowed it.
type GrantUse struct {
	Use
	Grants []Grant
}

// Policy is an Authorizer over a fixed set of grants and the role table
// (roles.json). A grant holds on its resource and on every resource under it,
// as Google documents for allow policies
// (https://cloud.google.com/iam/docs/resource-hierarchy-access-control:
// "Resources inherit the allow policies of the parent resource. The effective
// allow policy for a resource is the union of the allow policy set at that
// resource and the allow policy inherited from its parent."): a resource is
// under another when its name continues that name with "/", and a bucket
// (projects/_/buckets/B) is under the policy's project, the one project its
// grants name. Cloud Storage documents that its roles "can be applied either
// to projects, buckets, or managed folders"
// (https://cloud.google.com/storage/docs/access-control/iam-roles).
//
// A Policy records every Check (Usage, GrantsUsed) for the report of which
// grant each call used. It is safe for concurrent use.
type Policy struct {
	grants  []Grant
	perms   map[string]map[string]bool // role => permissions
	project string                     // "projects/P", or "" when grants name none or several

	mu    sync.Mutex
	uses  map[Use][]Grant
	order []Use
}

// NewPolicy returns the Policy of grants. Every role must be in the role
// table and every resource a name under projects/: a grant the table cannot
// interpret is an error, never silently ignored.
func NewPolicy(grants []Grant) (*Policy, error) {
	table, err := Roles()
	if err != nil {
		return nil, err
	}
	p := &Policy{perms: map[string]map[string]bool{}, uses: map[Use][]Grant{}}
	seen := map[Grant]bool{}
	projects := map[string]bool{}
	for _, g := range grants {
		role, ok := table[g.Role]
		switch {
		case g.Member == "":
			return nil, fmt.Errorf("iamemu: grant of %s on %s has no member", g.Role, g.Resource)
		case !ok:
			return nil, fmt.Errorf("iamemu: %s grants %s, which is not in the role table (shared/emulator/iamemu/roles.json): transcribe it from Google's predefined-roles reference", g.Member, g.Role)
		case !strings.HasPrefix(g.Resource, "projects/") || strings.HasSuffix(g.Resource, "/"):
			return nil, fmt.Errorf("iamemu: %s holds %s on %q, which is not a resource name (projects/…)", g.Member, g.Role, g.Resource)
		}
		if seen[g] {
			continue
		}
		seen[g] = true
		p.grants = append(p.grants, g)
		if p.perms[g.Role] == nil {
			set := map[string]bool{}
			for _, perm := range role.Permissions {
				set[perm] = true
			}
			p.perms[g.Role] = set
		}
		if proj := projectOf(g.Resource); proj != "" {
			projects[proj] = true
		}
	}
	if len(projects) == 1 {
		for proj := range projects {
			p.project = proj
		}
	}
	return p, nil
}

// projectOf is "projects/P" for a resource named under a project other than
// "_", else "".
func projectOf(resource string) string {
	rest, ok := strings.CutPrefix(resource, "projects/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" || id == "_" {
		return ""
	}
	return "projects/" + id
}

// Check allows identity to use permission on resource when a role granted to
// identity on resource, or on a resource it is under, contains permission;
// otherwise it returns a *Denied. Every answer is recorded.
func (p *Policy) Check(identity, permission, resource string) error {
	by := p.Allowing(identity, permission, resource)
	u := Use{Identity: identity, Permission: permission, Resource: resource, Allowed: len(by) > 0}
	p.mu.Lock()
	if _, ok := p.uses[u]; !ok {
		p.uses[u] = by
		p.order = append(p.order, u)
	}
	p.mu.Unlock()
	if !u.Allowed {
		return &Denied{Identity: identity, Permission: permission, Resource: resource}
	}
	return nil
}

// Allowing returns the grants that let identity use permission on resource
// (none: refused), without recording anything.
func (p *Policy) Allowing(identity, permission, resource string) []Grant {
	if identity == "" {
		return nil
	}
	var by []Grant
	for _, g := range p.grants {
		if isMember(g.Member, identity) && p.perms[g.Role][permission] && p.covers(g.Resource, resource) {
			by = append(by, g)
		}
	}
	return by
}

// isMember reports whether member ("serviceAccount:EMAIL", "user:EMAIL" or a
// bare EMAIL) names identity.
func isMember(member, identity string) bool {
	if member == identity {
		return true
	}
	_, id, ok := strings.Cut(member, ":")
	return ok && id == identity
}

// covers reports whether a grant on granted holds on resource.
func (p *Policy) covers(granted, resource string) bool {
	if resource == granted || strings.HasPrefix(resource, granted+"/") {
		return true
	}
	return granted == p.project && strings.HasPrefix(resource, "projects/_/")
}

// Grants returns the policy's grants (duplicates dropped), in the order given.
func (p *Policy) Grants() []Grant { return append([]Grant(nil), p.grants...) }

// Usage returns every distinct check answered so far, sorted by identity,
// resource, permission.
func (p *Policy) Usage() []Use {
	p.mu.Lock()
	out := append([]Use(nil), p.order...)
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return lessUse(out[i], out[j]) })
	return out
}

// GrantsUsed returns each allowed use with the grants that allowed it,
// sorted as Usage.
func (p *Policy) GrantsUsed() []GrantUse {
	p.mu.Lock()
	var out []GrantUse
	for _, u := range p.order {
		if u.Allowed {
			out = append(out, GrantUse{Use: u, Grants: append([]Grant(nil), p.uses[u]...)})
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return lessUse(out[i].Use, out[j].Use) })
	return out
}

// UnusedGrants returns the grants that allowed no check so far, in the order
// given.
func (p *Policy) UnusedGrants() []Grant {
	used := map[Grant]bool{}
	for _, gu := range p.GrantsUsed() {
		for _, g := range gu.Grants {
			used[g] = true
		}
	}
	var out []Grant
	for _, g := range p.grants {
		if !used[g] {
			out = append(out, g)
		}
	}
	return out
}

// Reset forgets the recorded checks (the grants stay).
func (p *Policy) Reset() {
	p.mu.Lock()
	p.uses, p.order = map[Use][]Grant{}, nil
	p.mu.Unlock()
}

func lessUse(a, b Use) bool {
	if a.Identity != b.Identity {
		return a.Identity < b.Identity
	}
	if a.Resource != b.Resource {
		return a.Resource < b.Resource
	}
	if a.Permission != b.Permission {
		return a.Permission < b.Permission
	}
	return !a.Allowed && b.Allowed
}
