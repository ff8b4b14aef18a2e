package iamemu

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// roles.json is the role → permission table: every predefined role that
// infra/iam.tf grants (and a few that a corrected grant may use), transcribed
// from Google's roles-and-permissions reference, with the page of each role.
//
//go:embed roles.json
var rolesJSON []byte

// Role is one predefined role of the table.
type Role struct {
	Name        string   `json:"name"`        // roles/storage.objectViewer
	Title       string   `json:"title"`       // Storage Object Viewer
	Stage       string   `json:"stage"`       // GA, BETA
	Source      string   `json:"source"`      // the reference page the permissions come from
	Permissions []string `json:"permissions"` // every permission of the services dropcast calls
	// Omitted are the role's permissions of services dropcast does not call,
	// where few; OmittedCount and OmittedServices summarize them where many.
	Omitted         []string `json:"omitted,omitempty"`
	OmittedCount    int      `json:"omitted_count,omitempty"`
	OmittedServices []string `json:"omitted_services,omitempty"`
}

var (
	rolesOnce  sync.Once
	rolesTable map[string]Role
	rolesErr   error
)

// Roles returns the role table by role name ("roles/…").
func Roles() (map[string]Role, error) {
	rolesOnce.Do(func() { rolesTable, rolesErr = parseRoles(rolesJSON) })
	if rolesErr != nil {
		return nil, rolesErr
	}
	out := make(map[string]Role, len(rolesTable))
	for k, v := range rolesTable {
		out[k] = v
	}
	return out, nil
}

func parseRoles(data []byte) (map[string]Role, error) {
	var doc struct {
		Roles []Role `json:"roles"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("iamemu: roles.json: %w", err)
	}
	table := map[string]Role{}
	for _, r := range doc.Roles {
		switch {
		case !strings.HasPrefix(r.Name, "roles/"):
			return nil, fmt.Errorf("iamemu: roles.json: role %q is not named roles/…", r.Name)
		case r.Source == "":
			return nil, fmt.Errorf("iamemu: roles.json: %s has no source", r.Name)
		case len(r.Permissions) == 0:
			return nil, fmt.Errorf("iamemu: roles.json: %s has no permissions", r.Name)
		}
		if _, dup := table[r.Name]; dup {
			return nil, fmt.Errorf("iamemu: roles.json: %s is listed twice", r.Name)
		}
		for _, p := range r.Permissions {
			if strings.Count(p, ".") < 2 || strings.ContainsAny(p, " *") {
				return nil, fmt.Errorf("iamemu: roles.json: %s: %q is not a permission name (service.resource.verb)", r.Name, p)
			}
		}
		r.Permissions = append([]string(nil), r.Permissions...)
		sort.Strings(r.Permissions)
		table[r.Name] = r
	}
	return table, nil
}
