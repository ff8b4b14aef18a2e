package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/sample"
)

// runJSON is the part of run.json users and scripts rely on.
type runJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Steps  []struct {
		Name     string `json:"name"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"steps"`
	Counters map[string]int64 `json:"counters"`
}

func readRun(t *testing.T, dir string) runJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r runJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLocalInputWritesRunResultsAndRejects(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, sample.FileName)
	os.WriteFile(good, sample.CSV, 0o644)
	stray := filepath.Join(dir, "notes.csv") // no spec takes it
	os.WriteFile(stray, []byte("a,b\n1,2\n"), 0o644)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	code := cmdLocal(context.Background(), []string{"--input", good, "--input", stray, "--out", out}, nil, &stdout, &stderr)
	if code != 1 { // one run succeeded, one file matched nothing
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "notes.csv: no pipeline spec matches incoming/notes.csv") {
		t.Errorf("the unmatched file is not reported:\n%s", stdout.String())
	}
	runs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(runs) != 1 {
		t.Fatalf("output dirs %v", runs)
	}
	r := readRun(t, runs[0])
	if r.Status != "succeeded" || len(r.Steps) != 4 || r.Counters["rows_in"] != 480 || r.Counters["rows_clean"] != 474 ||
		r.Counters["rows_rejected"] != 6 || r.Counters["rows_predicted"] != 474 {
		t.Fatalf("run.json %+v", r)
	}
	for _, st := range r.Steps {
		if st.Status != "done" || st.Attempts < 1 {
			t.Errorf("step %+v", st)
		}
	}
	for name, want := range map[string]int{"results.csv": 1 + 474, "rejects.csv": 1 + 6} {
		f, err := os.Open(filepath.Join(runs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs) != want {
			t.Errorf("%s: %d records (%v), want %d", name, len(recs), err, want)
		}
	}
}

func TestLocalWatchProcessesFilesAsTheyAppear(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int)
	go func() { done <- cmdLocal(ctx, []string{"--watch", in, "--out", out}, nil, &stdout, &stderr) }()
	// The file appears after the watch started, written in one go.
	time.Sleep(300 * time.Millisecond)
	tmp := filepath.Join(t.TempDir(), sample.FileName)
	os.WriteFile(tmp, sample.CSV, 0o644)
	os.Rename(tmp, filepath.Join(in, sample.FileName))
	for {
		runs, _ := filepath.Glob(filepath.Join(out, "*", "run.json"))
		if len(runs) == 1 {
			if r := readRun(t, filepath.Dir(runs[0])); r.Status != "succeeded" {
				t.Fatalf("run %+v", r)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no run from the watched file\n%s%s", stdout.String(), stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel() // Ctrl-C
	if code := <-done; code != 0 {
		t.Fatalf("watch exited %d", code)
	}
}

// The environment dropcast local --watch prints lets `dropcast runs` in
// another process see and steer the local stack.
func TestRunsReachALocalStackThroughItsEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := localstack.Start(ctx, localstack.Options{Latency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Drop(ctx, "incoming/"+sample.FileName, sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	for _, kv := range s.Config.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	if code := cmdRuns(ctx, []string{"list"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), id) {
		t.Fatalf("runs list: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := cmdRuns(ctx, []string{"rerun", "--from", "postprocess", "--wait", id}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("runs rerun: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	r, err := s.App.Runs.Get(ctx, id)
	if err != nil || r.Epoch != 2 || r.Status != "succeeded" {
		t.Fatalf("after rerun: %+v, %v", r, err)
	}
}
