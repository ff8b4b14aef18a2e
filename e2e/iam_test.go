package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dropcast/dropcast/infra"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// usageReport is the file the suite's IAM usage is kept in, which
// infra/infratest's TestGrantsFollowUse holds infra/iam.tf to.
const usageReport = "../infra/iam-usage.json"

// Report is infra/iam-usage.json: every call a function made in the e2e
// suite under IAM enforcement, with the places the resources stand for.
type Report struct {
	About  string        `json:"about"`
	Places iamemu.Places `json:"places"`
	Uses   []Use         `json:"uses"`
}

// Use is one (function, permission, resource) the suite needed.
type Use struct {
	Account    string `json:"account"`
	Identity   string `json:"identity"`
	Permission string `json:"permission"`
	Resource   string `json:"resource"`
}

// policies are the IAM policies of the stacks the suite started.
var policies struct {
	sync.Mutex
	stacks []*localstack.Stack
}

func recordIAM(s *localstack.Stack) {
	if s.IAM == nil {
		return
	}
	policies.Lock()
	defer policies.Unlock()
	policies.stacks = append(policies.stacks, s)
}

// TestMain runs the suite, then, when the whole suite ran and passed,
// checks that every call the functions made is in infra/iam-usage.json
// (DROPCAST_IAM_REPORT=write rewrites it).
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if err := checkUsage(os.Getenv("DROPCAST_IAM_REPORT") == "write"); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: IAM usage:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// observed is every allowed call of a function's service account.
func observed() []Use {
	policies.Lock()
	defer policies.Unlock()
	seen := map[Use]bool{}
	var out []Use
	for _, s := range policies.stacks {
		accounts := map[string]string{}
		for a, email := range s.Identities {
			accounts[email] = a
		}
		for _, u := range s.IAM.Usage() {
			a, ok := accounts[u.Identity]
			if !ok || !u.Allowed || !slices.Contains(localstack.Functions, a) {
				continue
			}
			use := Use{Account: a, Identity: u.Identity, Permission: u.Permission, Resource: u.Resource}
			if !seen[use] {
				seen[use] = true
				out = append(out, use)
			}
		}
	}
	slices.SortFunc(out, func(a, b Use) int {
		return strings.Compare(a.Account+" "+a.Permission+" "+a.Resource, b.Account+" "+b.Permission+" "+b.Resource)
	})
	return out
}

// checkUsage compares the suite's calls with infra/iam-usage.json. The
// calls a run makes vary a little with timing (a crash makes a step rewrite
// an object), so the file keeps the union of every run written into it, and
// the check fails only when a call went through a grant no call in the file
// uses: then TestGrantsFollowUse would call that grant unused.
func checkUsage(write bool) error {
	uses := observed()
	b, err := os.ReadFile(usageReport)
	if err != nil && !(write && os.IsNotExist(err)) {
		return err
	}
	var r Report
	if err == nil {
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", usageReport, err)
		}
	}
	if write {
		for _, u := range uses {
			if !slices.Contains(r.Uses, u) {
				r.Uses = append(r.Uses, u)
			}
		}
		slices.SortFunc(r.Uses, func(a, b Use) int {
			return strings.Compare(a.Account+" "+a.Permission+" "+a.Resource, b.Account+" "+b.Permission+" "+b.Resource)
		})
		r.About = "Every call the functions made in the e2e suite under IAM enforcement (the union of the runs written). Written by: DROPCAST_IAM_REPORT=write go test ./e2e. infra/infratest's TestGrantsFollowUse holds infra/iam.tf to it."
		r.Places = localstack.IAMPlaces("sales")
		out, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(usageReport, append(out, '\n'), 0o644)
	}
	known, err := grantsUsedBy(r.Uses)
	if err != nil {
		return err
	}
	now, err := grantsUsedBy(uses)
	if err != nil {
		return err
	}
	var missing []string
	for g, u := range now {
		if _, ok := known[g]; !ok {
			missing = append(missing, fmt.Sprintf("%s %s on %s (by %s: %s on %s)", g.Member, g.Role, g.Resource, u.Account, u.Permission, u.Resource))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("the suite used grants no call in %s uses (rewrite it with DROPCAST_IAM_REPORT=write go test ./e2e, and review the change):\n  %s", usageReport, strings.Join(missing, "\n  "))
	}
	return nil
}

// grantsUsedBy returns the grants of infra/iam.tf that allow uses, each
// with a use it allows.
func grantsUsedBy(uses []Use) (map[iamemu.Grant]Use, error) {
	tf, err := iamemu.ReadTerraform(infra.IAMTF, infra.VariablesTF, localstack.IAMPlaces("sales"))
	if err != nil {
		return nil, err
	}
	p, err := iamemu.NewPolicy(tf.Grants)
	if err != nil {
		return nil, err
	}
	out := map[iamemu.Grant]Use{}
	for _, u := range uses {
		for _, g := range p.Allowing(u.Identity, u.Permission, u.Resource) {
			out[g] = u
		}
	}
	return out, nil
}

// TestStatusPageListsTheRun opens the status page, served as the status
// function's own service account, after a run: it reads the run records.
func TestStatusPageListsTheRun(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	resp, err := http.Get(s.URL + "/status/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), r.ID) {
		t.Fatalf("status page: %s, run %s listed: %v", resp.Status, r.ID, strings.Contains(string(body), r.ID))
	}
}

// failsFor drops the sample on a stack enforcing iamTF and returns the
// failed run: each step gets two attempts, so a refused call ends it soon.
func failsFor(t *testing.T, iamTF []byte) *run.Run {
	t.Helper()
	s := mustStack(t, localstack.Options{
		IAMTerraform: iamTF,
		Configure:    func(c *config.Config) { c.MaxAttempts = 2 },
	})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Failed || r.Error == nil {
		t.Fatalf("run %s: %s, want failed", r.ID, r.Status)
	}
	return r
}

// TestGrantsBeforeIssue13FailAtLoad runs the sample under infra/iam.tf as it
// was before load and postprocess were granted the inbox: the run fails at
// load, refused storage.objects.get on the inbox as load's account.
func TestGrantsBeforeIssue13FailAtLoad(t *testing.T) {
	t.Parallel()
	old, err := os.ReadFile("testdata/iam-before-issue-13.tf")
	if err != nil {
		t.Fatal(err)
	}
	r := failsFor(t, old)
	want := "Permission 'storage.objects.get' denied on resource 'projects/_/buckets/" + localstack.InboxBucket + "' for dropcast-load@"
	if r.Error.Step != run.Load || !strings.Contains(r.Error.Message, want) {
		t.Fatalf("run failed at %s: %s; want load refused %q", r.Error.Step, r.Error.Message, want)
	}
}

// TestRemovingAGrantFailsTheRun removes one grant at a time from a copy of
// infra/iam.tf: each run fails at the step that needs it, naming the
// permission and the function's account.
func TestRemovingAGrantFailsTheRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, account, place, role string
		step                       string
		permission                 string
	}{
		{"load reads the inbox", "load", "inbox", "roles/storage.objectViewer", run.Load, "storage.objects.get"},
		{"preprocess writes clean parts", "preprocess", "work", "roles/storage.objectUser", run.Preprocess, "storage.objects.create"},
		{"postprocess loads the results table", "postprocess", "dataset", "roles/bigquery.dataEditor", run.Postprocess, "bigquery.tables."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			edited := withoutGrant(t, infra.IAMTF, c.account, c.place, c.role)
			r := failsFor(t, edited)
			if r.Error.Step != c.step || !strings.Contains(r.Error.Message, "Permission '"+c.permission) || !strings.Contains(r.Error.Message, "dropcast-"+c.account+"@") {
				t.Fatalf("run failed at %s: %s; want %s refused %s… as %s", r.Error.Step, r.Error.Message, c.step, c.permission, c.account)
			}
		})
	}
}

// withoutGrant removes role from account's place in local.sa_roles of iamTF.
func withoutGrant(t *testing.T, iamTF []byte, account, place, role string) []byte {
	t.Helper()
	re := regexp.MustCompile(`(?s)(\n    ` + account + ` = \{.*?\n      ` + place + ` +=) \[([^\]]*)\]`)
	m := re.FindSubmatchIndex(iamTF)
	if m == nil {
		t.Fatalf("infra/iam.tf: no %s.%s grants", account, place)
	}
	roles := string(iamTF[m[4]:m[5]])
	if !strings.Contains(roles, `"`+role+`"`) {
		t.Fatalf("infra/iam.tf: %s holds %s on %s, not %s", account, roles, place, role)
	}
	var kept []string
	for _, r := range strings.Split(roles, ",") {
		if r = strings.TrimSpace(r); r != `"`+role+`"` {
			kept = append(kept, r)
		}
	}
	out := append([]byte{}, iamTF[:m[4]]...)
	out = append(out, strings.Join(kept, ", ")...)
	return append(out, iamTF[m[5]:]...)
}
