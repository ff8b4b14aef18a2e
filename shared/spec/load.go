package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"gopkg.in/yaml.v3"
)

// Error is every problem found in one spec file, each with its line.
type Error struct {
	File     string
	Problems []LocatedProblem
}

// LocatedProblem is a problem at a line of a spec file.
type LocatedProblem struct {
	Line    int
	Path    string
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Path == fileLevel {
			fmt.Fprintf(&b, "%s:%d: %s", e.File, p.Line, p.Message)
		} else {
			fmt.Fprintf(&b, "%s:%d: %s: %s", e.File, p.Line, p.Path, p.Message)
		}
	}
	return b.String()
}

// fileLevel is the path of problems that belong to no field (YAML syntax,
// unknown keys).
const fileLevel = "(file)"

// unknownKey matches yaml.v3's "field x not found in type t".
var unknownKey = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Parse reads one spec; file names it in errors. It returns *Error listing
// every problem when the spec is invalid.
func Parse(file string, data []byte) (*Pipeline, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Problems: []LocatedProblem{{Line: yamlErrLine(err), Path: fileLevel, Message: err.Error()}}}
	}
	var p Pipeline
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Problems: []LocatedProblem{{Line: 1, Path: fileLevel, Message: "empty spec"}}}
		}
		return nil, &Error{File: file, Problems: typeErrors(err)}
	}
	p.applyDefaults()
	if ps := p.validate(); len(ps) > 0 {
		e := &Error{File: file}
		for _, pr := range ps {
			e.Problems = append(e.Problems, LocatedProblem{Line: lineOf(&root, pr.Path), Path: pr.Path, Message: pr.Message})
		}
		return nil, e
	}
	return &p, nil
}

// typeErrors turns yaml.v3's decoding errors ("line 7: field foo not found…") into problems.
func typeErrors(err error) []LocatedProblem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []LocatedProblem{{Line: yamlErrLine(err), Path: fileLevel, Message: err.Error()}}
	}
	var ps []LocatedProblem
	for _, m := range te.Errors {
		msg := strings.TrimSpace(afterLine(m))
		if k := unknownKey.FindStringSubmatch(msg); k != nil {
			msg = fmt.Sprintf("unknown key %q", k[1])
		}
		ps = append(ps, LocatedProblem{Line: yamlErrLine(errors.New(m)), Path: fileLevel, Message: msg})
	}
	return ps
}

func afterLine(m string) string {
	if strings.HasPrefix(m, "line ") {
		if i := strings.Index(m, ": "); i > 0 {
			return m[i+2:]
		}
	}
	return m
}

func yamlErrLine(err error) int {
	m := err.Error()
	if i := strings.Index(m, "line "); i >= 0 {
		rest := m[i+5:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 1
}

// lineOf finds the line of a path like "columns[2].type" in a YAML document,
// or the line of its nearest existing parent.
func lineOf(root *yaml.Node, p string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(p, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Set is every pipeline of a deployment.
type Set struct{ Pipelines []*Pipeline }

// Match returns the pipeline that takes object and the file's date; ok is
// false when no spec matches. Patterns should not overlap; when several
// match, the first by name wins (see Matching).
func (s *Set) Match(object string) (p *Pipeline, date string, ok bool) {
	for _, p := range s.Pipelines {
		if d, ok := p.MatchObject(object); ok {
			return p, d, true
		}
	}
	return nil, "", false
}

// Matching names every pipeline whose pattern takes object.
func (s *Set) Matching(object string) []string {
	var names []string
	for _, p := range s.Pipelines {
		if _, ok := p.MatchObject(object); ok {
			names = append(names, p.Name)
		}
	}
	return names
}

// Get returns the pipeline named name.
func (s *Set) Get(name string) (*Pipeline, bool) {
	for _, p := range s.Pipelines {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

func newSet(files map[string][]byte) (*Set, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var s Set
	var errs []error
	seen, matches := map[string]string{}, map[string]string{}
	for _, n := range names {
		p, err := Parse(n, files[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: pipeline name %q is also used by %s", n, p.Name, prev))
			continue
		}
		seen[p.Name] = n
		if prev, dup := matches[p.Match]; dup {
			errs = append(errs, fmt.Errorf("%s: pipeline %q has the same match pattern as %s: every object would go to one of them; give each pipeline its own pattern", n, p.Name, prev))
			continue
		}
		matches[p.Match] = n
		s.Pipelines = append(s.Pipelines, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(s.Pipelines) == 0 {
		return nil, errors.New("spec: no pipeline specs (*.yaml, *.yml) found")
	}
	sort.Slice(s.Pipelines, func(i, j int) bool { return s.Pipelines[i].Name < s.Pipelines[j].Name })
	return &s, nil
}

func isSpecFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// Load reads every spec from location: gs://BUCKET/PREFIX/ (through gcs), a
// directory, or one file.
func Load(ctx context.Context, gcs *storage.Client, location string) (*Set, error) {
	if rest, ok := strings.CutPrefix(location, "gs://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		return loadGCS(ctx, gcs, bucket, prefix)
	}
	files := map[string][]byte{}
	fi, err := os.Stat(location)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	paths := []string{location}
	if fi.IsDir() {
		paths, err = filepath.Glob(filepath.Join(location, "*.y*ml"))
		if err != nil {
			return nil, fmt.Errorf("spec: list %s: %w", location, err)
		}
	}
	for _, p := range paths {
		if !isSpecFile(p) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		files[p] = b
	}
	return newSet(files)
}

func loadGCS(ctx context.Context, gcs *storage.Client, bucket, prefix string) (*Set, error) {
	files := map[string][]byte{}
	it := gcs.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("spec: list gs://%s/%s: %w", bucket, prefix, err)
		}
		if !isSpecFile(a.Name) {
			continue
		}
		r, err := gcs.Bucket(bucket).Object(a.Name).NewReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("spec: read gs://%s/%s: %w", bucket, a.Name, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("spec: read gs://%s/%s: %w", bucket, a.Name, err)
		}
		files["gs://"+bucket+"/"+a.Name] = b
	}
	return newSet(files)
}

// ParseSet parses in-memory spec files (name → content), as Load does.
func ParseSet(files map[string][]byte) (*Set, error) { return newSet(files) }
