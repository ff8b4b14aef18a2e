package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func valid() map[string]string {
	return map[string]string{
		"DROPCAST_PROJECT": "p", "DROPCAST_INBOX_BUCKET": "in", "DROPCAST_STATE_BUCKET": "st",
		"DROPCAST_WORK_BUCKET": "wk", "DROPCAST_RESULTS_BUCKET": "rs", "DROPCAST_SPECS": "gs://st/specs/",
		"DROPCAST_TASKS_QUEUE": "projects/p/locations/l/queues/q", "DROPCAST_STEP_BASE_URL": "https://l-p.cloudfunctions.net",
	}
}

func TestDefaultsAndBudget(t *testing.T) {
	c, err := FromLookup(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "us-central1" || c.MaxAttempts != 10 || c.Budget() != 10*time.Minute-30*time.Second {
		t.Fatalf("config %+v budget %s", c, c.Budget())
	}
	m := valid()
	m["DROPCAST_DISPATCH_DEADLINE"] = "2m"
	c, err = FromLookup(env(m))
	if err != nil || c.Budget() != 90*time.Second {
		t.Fatalf("budget with a shorter dispatch deadline: %s, %v", c.Budget(), err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	m := valid()
	delete(m, "DROPCAST_PROJECT")
	m["DROPCAST_TASKS_QUEUE"] = "q"
	m["DROPCAST_DISPATCH_DEADLINE"] = "5s"
	m["DROPCAST_MAX_ATTEMPTS"] = "many"
	_, err := FromLookup(env(m))
	if err == nil || !strings.Contains(err.Error(), "DROPCAST_MAX_ATTEMPTS") {
		t.Fatalf("parse error not reported: %v", err)
	}
	m["DROPCAST_MAX_ATTEMPTS"] = "3"
	_, err = FromLookup(env(m))
	for _, want := range []string{"DROPCAST_PROJECT is required", "DROPCAST_TASKS_QUEUE", "15s to 30m"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestVarsListsSecrets(t *testing.T) {
	secrets := 0
	for _, v := range Vars() {
		if !strings.HasPrefix(v.Name, "DROPCAST_") {
			t.Errorf("variable %s lacks the prefix", v.Name)
		}
		if v.Secret {
			secrets++
		}
	}
	if secrets != 2 {
		t.Fatalf("%d secret variables, want 2", secrets)
	}
}

func TestDefaultMatchesFromLookup(t *testing.T) {
	d := Default()
	c, err := FromLookup(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if d.StepTimeout != c.StepTimeout || d.SweepLookback != c.SweepLookback || d.MaxAttempts != c.MaxAttempts || d.Region != c.Region {
		t.Fatalf("Default %+v differs from FromLookup's defaults %+v", d, c)
	}
}

func TestEnvRoundTripsWithoutSecrets(t *testing.T) {
	m := valid()
	m["DROPCAST_SLACK_WEBHOOK"] = "https://hooks.slack.com/services/SECRET"
	m["DROPCAST_POLL_INTERVAL"] = "250ms"
	c, err := FromLookup(env(m))
	if err != nil {
		t.Fatal(err)
	}
	back := map[string]string{}
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		back[k] = v
	}
	if _, ok := back["DROPCAST_SLACK_WEBHOOK"]; ok {
		t.Fatal("Env lists a secret")
	}
	again, err := FromLookup(env(back))
	c.SlackWebhookURL = ""
	if err != nil || again != c {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
}
