package taskq

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestNameIsDeterministicAndValidForCloudTasks(t *testing.T) {
	tk := Task{RunID: "purchases-20260426-120000-0123456789", Epoch: 2, Step: "load", Segment: 7}
	if got := tk.Name(); got != "purchases-20260426-120000-0123456789-e2-load-7" {
		t.Fatalf("Name = %q", got)
	}
}

func TestDecodeRejectsBadTasks(t *testing.T) {
	for name, body := range map[string]string{
		"not json":    `{`,
		"no run":      `{"epoch":1,"step":"load","segment":0}`,
		"bad step":    `{"run_id":"r","epoch":1,"step":"../load","segment":0}`,
		"zero epoch":  `{"run_id":"r","epoch":0,"step":"load","segment":0}`,
		"neg segment": `{"run_id":"r","epoch":1,"step":"load","segment":-3}`,
		"oversized":   `{"run_id":"` + strings.Repeat("r", MaxBody) + `"}`,
	} {
		if _, err := Decode([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

var taskIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,500}$`)

// FuzzDecode: whatever arrives, a decoded task has a step name that is safe
// in a URL path and a task name Cloud Tasks accepts when the run ID is.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"run_id":"purchases-x-0123456789","epoch":1,"step":"preprocess","segment":0}`))
	f.Add([]byte(`{"run_id":"a","epoch":9223372036854775807,"step":"z","segment":2147483647}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := Decode(b)
		if err != nil {
			return
		}
		if !regexp.MustCompile(`^[a-z]{1,20}$`).MatchString(tk.Step) || tk.Epoch < 1 || tk.Segment < 0 || tk.RunID == "" {
			t.Fatalf("accepted %+v", tk)
		}
		if taskIDRE.MatchString(tk.RunID) && len(tk.RunID) < 400 && !taskIDRE.MatchString(tk.Name()) {
			t.Fatalf("valid run ID %q gave invalid task name %q", tk.RunID, tk.Name())
		}
		again, _ := json.Marshal(tk)
		if back, err := Decode(again); err != nil || back != tk {
			t.Fatalf("round trip of %+v: %+v, %v", tk, back, err)
		}
	})
}
