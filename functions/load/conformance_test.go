package load

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/run"
)

// jobIDRule is JobReference.jobId as documented: "The ID must contain only
// letters (a-z, A-Z), numbers (0-9), underscores (_), or dashes (-). The
// maximum length is 1,024 characters."
var jobIDChars = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

type idRule struct{}

func (idRule) MatchString(id string) bool { return len(id) <= 1024 && jobIDChars.MatchString(id) }

var jobIDRule idRule

func TestConformanceJobID(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-id")
	for _, id := range strings.Fields(string(f.MustFile(t, "valid.txt"))) {
		if !jobIDRule.MatchString(id) {
			t.Fatalf("the rule refuses the documented valid ID %s", id)
		}
	}
	for _, id := range strings.Split(strings.TrimSpace(string(f.MustFile(t, "invalid.txt"))), "\n") {
		if jobIDRule.MatchString(id) {
			t.Fatalf("the rule passes the documented invalid ID %q", id)
		}
	}
	for _, r := range []*run.Run{
		{ID: "20260426-120000-abc123", Epoch: 1},
		{ID: "r1", Epoch: 12},
		{ID: strings.Repeat("x", 200), Epoch: 3},
	} {
		for retry := range MaxJobRetries + 1 {
			if id := retryJobID(r, retry); !jobIDRule.MatchString(id) {
				t.Errorf("job ID %q breaks BigQuery's job ID rule", id)
			}
		}
	}
}
