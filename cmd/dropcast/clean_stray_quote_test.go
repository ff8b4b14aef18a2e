package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stray quote on the last line rejects that row; the file passes. One early
// in the file swallows the rest, every line of it a rejected row, and the
// reject threshold (max_ratio 0.5) fails the file.
func TestCmdCleanStrayQuote(t *testing.T) {
	good := strings.Repeat("2026-01-02,7\n", 6)
	dir := writeFiles(t, map[string]string{
		"spec.yaml": testSpec,
		"last.csv":  "date,qty\n" + good + "2026-01-03,\"8\n",
		"early.csv": "date,qty\n2026-01-03,\"8\n" + good,
	})
	code, stdout, stderr := runClean(t, "", "--spec", filepath.Join(dir, "spec.yaml"), "--rejects", filepath.Join(dir, "rej.csv"), filepath.Join(dir, "last.csv"))
	if code != 0 || strings.Count(stdout, "\n") != 7 {
		t.Fatalf("last line: exit %d, %d output lines: %s", code, strings.Count(stdout, "\n"), stderr)
	}
	rej, _ := os.ReadFile(filepath.Join(dir, "rej.csv"))
	if string(rej) != "line,column,reason,record\n8,,unterminated quoted field,\"2026-01-03,\"\"8\"\n" {
		t.Errorf("rejects %q", rej)
	}
	if !strings.Contains(stderr, "7 rows in, 6 clean, 1 rejected") {
		t.Errorf("summary %q", stderr)
	}
	code, _, stderr = runClean(t, "", "--spec", filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "early.csv"))
	if code != 1 || !strings.Contains(stderr, "7 rows in, 0 clean, 7 rejected") {
		t.Errorf("early: exit %d, want 1 (threshold): %s", code, stderr)
	}
}
