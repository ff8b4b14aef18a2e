package events

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/conformance"
)

// Every run event's message stays within Pub/Sub's documented limits: the
// longest pipeline name a spec allows (40 characters) and every type and
// status give attributes of documented size, and the data is never empty.
func TestConformanceMessageLimits(t *testing.T) {
	f := conformance.Load(t, "pubsub-message-limits")
	var lim struct {
		MaxAttributes, MaxAttributeKeyBytes, MaxAttributeValueBytes, MaxMessageBytes int
	}
	if err := json.Unmarshal(f.MustFile(t, "limits.json"), &lim); err != nil {
		t.Fatal(err)
	}
	pipeline := "p" + strings.Repeat("x", 39)
	for _, typ := range []string{RunStarted, StepFinished, RunSucceeded, RunFailed} {
		for _, status := range []string{"running", "succeeded", "failed", "done", "pending"} {
			e := Event{Version: Version, Type: typ, Pipeline: pipeline, Status: status, RunID: pipeline + "-20260426-0123456789abcdef"}
			a := Attributes(e)
			if len(a) == 0 || len(a) > lim.MaxAttributes {
				t.Fatalf("%d attributes", len(a))
			}
			for k, v := range a {
				if len(k) > lim.MaxAttributeKeyBytes || len(v) > lim.MaxAttributeValueBytes {
					t.Errorf("attribute %q=%q breaks the limits", k, v)
				}
			}
			if a["type"] != typ || a["pipeline"] != pipeline || a["status"] != status {
				t.Errorf("attributes %v", a)
			}
			data, _ := json.Marshal(e)
			if len(data) == 0 || len(data) > lim.MaxMessageBytes {
				t.Errorf("data of %d bytes", len(data))
			}
		}
	}
}
