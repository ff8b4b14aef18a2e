// Package conformance holds the documented forms of the Google Cloud
// behaviours dropcast relies on: one fixture per behaviour, each carrying the
// address of Google's page (or proto, or sample) and the sentence it rests on.
//
// A fixture is a txtar archive in fixtures/. Its comment is a header of
// "key: value" lines:
//
//	service:   vertex | automl | bigquery | tasks | scheduler | storage | pubsub | eventarc
//	behaviour: one line saying what the service does
//	source:    https://... (the page, proto or sample)
//	quote:     the sentence there, verbatim (several source/quote pairs allowed)
//	undocumented: what no document settles, and the one call on a real
//	              project that would (instead of, or beside, a source)
//
// and its files are the documented form itself: a response body, a file
// layout, a header set. Two tests use each fixture, listed in
// docs/fidelity.md: one feeds it to the production code, one checks that the
// emulator produces (or accepts, or refuses) it. TestFidelityTable keeps that
// table and the fixtures in step.
package conformance

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

//go:embed fixtures/*.txtar
var fixtures embed.FS

// Source is one document a fixture rests on.
type Source struct {
	URL   string // where the sentence is
	Quote string // the sentence, verbatim
}

// Fixture is the documented form of one behaviour.
type Fixture struct {
	Name         string // the file name without .txtar
	Service      string
	Behaviour    string
	Sources      []Source
	Undocumented string // what no document settles, if anything
	Files        []txtar.File
}

// File returns the content of the fixture's file name.
func (f *Fixture) File(name string) ([]byte, bool) {
	for _, file := range f.Files {
		if file.Name == name {
			return file.Data, true
		}
	}
	return nil, false
}

// MustFile returns the content of the fixture's file name, failing tb when
// there is none.
func (f *Fixture) MustFile(tb testing.TB, name string) []byte {
	tb.Helper()
	data, ok := f.File(name)
	if !ok {
		tb.Fatalf("conformance fixture %s has no file %q", f.Name, name)
	}
	return data
}

// Load returns fixture name, failing tb when it is missing or malformed.
func Load(tb testing.TB, name string) *Fixture {
	tb.Helper()
	f, err := Parse(name)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// All returns every fixture, in name order.
func All() ([]*Fixture, error) {
	names, err := fs.Glob(fixtures, "fixtures/*.txtar")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]*Fixture, 0, len(names))
	for _, n := range names {
		f, err := Parse(strings.TrimSuffix(path.Base(n), ".txtar"))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Parse reads and checks fixture name.
func Parse(name string) (*Fixture, error) {
	file := "fixtures/" + name + ".txtar"
	data, err := fixtures.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	ar := txtar.Parse(data)
	f := &Fixture{Name: name, Files: ar.Files}
	var key string // the key a continuation line (indented) extends
	sc := bufio.NewScanner(strings.NewReader(string(ar.Comment)))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, " ") || strings.HasPrefix(text, "\t") {
			if key == "" {
				return nil, fmt.Errorf("conformance: %s line %d: continuation with no key before it", file, line)
			}
			appendTo(f, key, strings.TrimSpace(text))
			continue
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("conformance: %s line %d: want \"key: value\", have %q", file, line, text)
		}
		key, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch key {
		case "service":
			f.Service = v
		case "behaviour":
			f.Behaviour = v
		case "source":
			f.Sources = append(f.Sources, Source{URL: v})
		case "quote":
			if len(f.Sources) == 0 || f.Sources[len(f.Sources)-1].Quote != "" {
				return nil, fmt.Errorf("conformance: %s line %d: a quote needs a source line before it", file, line)
			}
			f.Sources[len(f.Sources)-1].Quote = v
		case "undocumented":
			f.Undocumented = v
		default:
			return nil, fmt.Errorf("conformance: %s line %d: unknown key %q", file, line, key)
		}
	}
	return f, f.check(file)
}

// appendTo extends the value of key with a continuation line.
func appendTo(f *Fixture, key, more string) {
	join := func(s string) string { return strings.TrimSpace(s + " " + more) }
	switch key {
	case "behaviour":
		f.Behaviour = join(f.Behaviour)
	case "quote":
		if n := len(f.Sources); n > 0 {
			f.Sources[n-1].Quote = join(f.Sources[n-1].Quote)
		}
	case "undocumented":
		f.Undocumented = join(f.Undocumented)
	}
}

// Services are the services a fixture may name.
var Services = []string{"vertex", "automl", "bigquery", "tasks", "scheduler", "storage", "pubsub", "eventarc"}

func (f *Fixture) check(file string) error {
	var problems []string
	if !slices.Contains(Services, f.Service) {
		problems = append(problems, fmt.Sprintf("service %q is not one of %q", f.Service, Services))
	}
	if f.Behaviour == "" {
		problems = append(problems, "no behaviour")
	}
	if len(f.Sources) == 0 && f.Undocumented == "" {
		problems = append(problems, "neither a source nor an undocumented note")
	}
	for i, s := range f.Sources {
		if !strings.HasPrefix(s.URL, "https://") {
			problems = append(problems, fmt.Sprintf("source %d %q is not an https:// address", i+1, s.URL))
		}
		if s.Quote == "" {
			problems = append(problems, fmt.Sprintf("source %d %s has no quote", i+1, s.URL))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("conformance: %s: %s", file, strings.Join(problems, "; "))
	}
	return nil
}
