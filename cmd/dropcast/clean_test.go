package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSpec = `
name: purchases
match: "purchases/*.csv"
notify: {email: ops@example.com}
columns:
  - {name: date, type: DATE, required: true}
  - {name: qty, type: INT64, required: true}
reject_threshold: {max_ratio: 0.5}
`

// runClean runs cmdClean in dir and returns its exit code, stdout and stderr.
func runClean(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmdClean(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCmdCleanPasses(t *testing.T) {
	var in strings.Builder
	in.WriteString("date,qty\n")
	for i := range 3000 {
		if i%10 == 0 {
			in.WriteString("2026-02-30,1\n")
		} else {
			in.WriteString("2026-01-02,\"7\"\n")
		}
	}
	dir := writeFiles(t, map[string]string{"spec.yaml": testSpec, "in.csv": in.String()})
	code, stdout, stderr := runClean(t, "", "--spec", filepath.Join(dir, "spec.yaml"), "--rejects", filepath.Join(dir, "rej.csv"), filepath.Join(dir, "in.csv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, `"date","qty","dropcast_row"`+"\n"+`"2026-01-02","7","3"`+"\n") || strings.Count(stdout, "\n") != 2701 {
		t.Errorf("stdout %.100q… (%d lines)", stdout, strings.Count(stdout, "\n"))
	}
	rej, _ := os.ReadFile(filepath.Join(dir, "rej.csv"))
	if !strings.HasPrefix(string(rej), "line,column,reason,record\n2,date,") || strings.Count(string(rej), "\n") != 301 {
		t.Errorf("rejects %.100q", rej)
	}
	if !strings.Contains(stderr, "3000 rows in, 2700 clean, 300 rejected") {
		t.Errorf("summary %q", stderr)
	}
	// Forced segmentation writes the same files (one header each).
	code, _, stderr = runClean(t, "", "--spec", filepath.Join(dir, "spec.yaml"), "-o", filepath.Join(dir, "seg.csv"),
		"--rejects", filepath.Join(dir, "rej-seg.csv"), "--segment-records", "100", filepath.Join(dir, "in.csv"))
	seg, _ := os.ReadFile(filepath.Join(dir, "seg.csv"))
	rejSeg, _ := os.ReadFile(filepath.Join(dir, "rej-seg.csv"))
	if code != 0 || string(seg) != stdout || !bytes.Equal(rejSeg, rej) {
		t.Errorf("segmented run: exit %d %s; output equal %v, rejects equal %v", code, stderr, string(seg) == stdout, bytes.Equal(rejSeg, rej))
	}
}

func TestCmdCleanStdinAndThreshold(t *testing.T) {
	dir := writeFiles(t, map[string]string{"spec.yaml": testSpec})
	code, stdout, stderr := runClean(t, "date,qty\n2026-01-01,x\n2026-01-01,y\n2026-01-01,1\n", "--spec", filepath.Join(dir, "spec.yaml"), "-")
	if code != 1 || stdout != `"date","qty","dropcast_row"`+"\n"+`"2026-01-01","1","4"`+"\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	// The summary says why rows were rejected, with the first example.
	if !strings.Contains(stderr, "2× qty, e.g. line 2: INT64:") {
		t.Errorf("stderr does not summarise the reasons:\n%s", stderr)
	}
}

func TestCmdCleanBadInput(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"spec.yaml": testSpec,
		"bad.yaml":  "columns: [{name: x, type: INT64, pattern: \"(\"}]\n",
		"in.csv":    "date;qty\n2026-01-01;1\n",
	})
	for name, args := range map[string][]string{
		"file error":   {"--spec", filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "in.csv")},
		"missing file": {"--spec", filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "nope.csv")},
		"bad spec":     {"--spec", filepath.Join(dir, "bad.yaml"), filepath.Join(dir, "in.csv")},
		"no spec":      {filepath.Join(dir, "in.csv")},
		"bad flag":     {"--nope"},
	} {
		if code, _, stderr := runClean(t, "", args...); code != 2 {
			t.Errorf("%s: exit %d (%s)", name, code, stderr)
		}
	}
	_, _, stderr := runClean(t, "", "--spec", filepath.Join(dir, "bad.yaml"), filepath.Join(dir, "in.csv"))
	if !strings.Contains(stderr, "columns[0].pattern") {
		t.Errorf("bad spec message %q", stderr)
	}
}

func TestCleanRejectsMisspeltRule(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "s.yaml")
	os.WriteFile(spec, []byte("name: s\ncolumns:\n  - name: a\n    type: INT64\n    requried: true\n"), 0o644)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("a\n1\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := cmdClean(context.Background(), []string{"--spec", spec, in}, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "requried") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
