package infratest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// usage is infra/iam-usage.json, written by the e2e suite
// (DROPCAST_IAM_REPORT=write go test ./e2e): every call a function's
// service account made under IAM enforcement.
type usage struct {
	Places iamemu.Places `json:"places"`
	Uses   []struct {
		Account, Identity, Permission, Resource string
	} `json:"uses"`
}

// platformGrants are grants no call of the functions' code uses: the
// platform uses them on the function's behalf, so the e2e suite cannot see
// them. Each says who, with its source.
var platformGrants = map[string]string{
	// https://docs.cloud.google.com/eventarc/standard/docs/functions/roles-permissions?hl=zh-cn:
	// "向触发器服务账号授予 Eventarc 触发器权限:Eventarc Event Receiver 角色可让您的 Eventarc 触发器接收来自事件提供方的事件。如果您要从 Cloud Pub/Sub 路由直接事件,则无需授予该角色。"
	// (the trigger's service account needs it to receive events, except direct Pub/Sub events).
	"roles/eventarc.eventReceiver": "Eventarc delivers the Cloud Storage trigger's events as the trigger's service account",
	// https://cloud.google.com/run/docs/configuring/secrets: "If the secret is an environment variable,
	// Cloud Run retrieves the value of the secret prior to starting the instance."
	"roles/secretmanager.secretAccessor": "Cloud Run reads the mounted secret as the function's service account before it starts",
	// The builder account is Cloud Build's (infra/main.tf's build_service_account): it reads the
	// function sources and builds them; the local stack builds nothing.
	"roles/run.builder":          "Cloud Build builds the functions as the builder account",
	"roles/storage.objectViewer": "(builder only) Cloud Build reads the function sources from the source bucket",
}

// broaderByDesign are grants broader than the calls the suite made through
// them, for a path the suite does not take; each says which.
var broaderByDesign = map[string]string{
	"export roles/storage.objectUser projects/_/buckets/dropcast-work": "a retried export segment rewrites its clean part: an overwrite needs storage.objects.delete",
}

// TestGrantsFollowUse holds infra/iam.tf to the calls the e2e suite made:
// every call granted, every grant used (or used by the platform, above),
// and no grant broader than the calls through it need.
func TestGrantsFollowUse(t *testing.T) {
	root := repoRoot(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "infra", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var u usage
	if err := json.Unmarshal(read("iam-usage.json"), &u); err != nil {
		t.Fatalf("infra/iam-usage.json: %v", err)
	}
	tf, err := iamemu.ReadTerraform(read("iam.tf"), read("variables.tf"), u.Places)
	if err != nil {
		t.Fatal(err)
	}
	p, err := iamemu.NewPolicy(tf.Grants)
	if err != nil {
		t.Fatal(err)
	}
	for _, use := range u.Uses {
		if err := p.Check(use.Identity, use.Permission, use.Resource); err != nil {
			t.Errorf("%s calls for %s on %s, which no grant in infra/iam.tf gives", use.Account, use.Permission, use.Resource)
		}
	}
	through := map[iamemu.Grant][]string{} // grant -> the permissions used through it
	for _, gu := range p.GrantsUsed() {
		for _, g := range gu.Grants {
			through[g] = append(through[g], gu.Permission)
		}
	}
	roles, err := iamemu.Roles()
	if err != nil {
		t.Fatal(err)
	}
	var report []string
	for _, g := range tf.Grants {
		who := tf.Account(strings.TrimPrefix(g.Member, "serviceAccount:"))
		perms, used := through[g]
		if !used {
			why, ok := platformGrants[g.Role]
			if !ok || (g.Role == "roles/storage.objectViewer" && who != "builder") {
				t.Errorf("%s holds %s on %s, which no call of the e2e suite used: remove it", who, g.Role, g.Resource)
				continue
			}
			report = append(report, who+"\t"+g.Role+"\t"+g.Resource+"\tplatform: "+why)
			continue
		}
		slices.Sort(perms)
		perms = slices.Compact(perms)
		report = append(report, who+"\t"+g.Role+"\t"+g.Resource+"\t"+strings.Join(perms, " "))
		// Least privilege: a GA role of the same service with fewer
		// permissions that gives every permission used through this grant
		// would do (the smallest is named).
		var smaller *iamemu.Role
		for _, r := range roles {
			if r.Name != g.Role && r.Stage == "GA" && service(r.Name) == service(g.Role) && size(r) < size(roles[g.Role]) &&
				containsAll(r.Permissions, perms) && (smaller == nil || size(r) < size(*smaller)) {
				smaller = &r
			}
		}
		if _, ok := broaderByDesign[who+" "+g.Role+" "+g.Resource]; smaller != nil && !ok {
			t.Errorf("%s holds %s on %s but uses only %s, which %s (fewer permissions) also gives", who, g.Role, g.Resource, strings.Join(perms, ", "), smaller.Name)
		}
	}
	sort.Strings(report)
	t.Logf("grants and the calls that use them:\n%s", strings.Join(report, "\n"))
}

func containsAll(set, want []string) bool {
	for _, w := range want {
		if !slices.Contains(set, w) {
			return false
		}
	}
	return true
}

// service is a role's service: roles/storage.objectViewer -> storage.
func service(role string) string {
	s, _, _ := strings.Cut(strings.TrimPrefix(role, "roles/"), ".")
	return s
}

// size is how many permissions a role holds, those of other services included.
func size(r iamemu.Role) int { return len(r.Permissions) + len(r.Omitted) + r.OmittedCount }
