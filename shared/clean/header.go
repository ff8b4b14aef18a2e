package clean

import (
	"fmt"
	"strings"

	"github.com/dropcast/dropcast/shared/schema"
)

// mapping places source fields into spec columns.
type mapping struct {
	src  []int // per spec column: index of its source field, or -1 when absent
	name []string
	nsrc int // fields a record must have
}

// positional maps a header-less file: source field i is spec column i.
func (c *Cleaner) positional() *mapping {
	m := &mapping{nsrc: len(c.rules)}
	for i := range c.rules {
		m.src = append(m.src, i)
	}
	return m
}

// mapHeader matches a header against the spec's names, aliases and drops.
func (c *Cleaner) mapHeader(names []string, line int64) (*mapping, error) {
	fail := func(format string, a ...any) error {
		return &FileError{File: c.file, Line: line, Reason: "header: " + fmt.Sprintf(format, a...)}
	}
	if len(names) == 1 && len(c.rules) > 1 {
		for _, d := range []string{",", ";", "\t", "|"} {
			if d[0] != c.delim && strings.Contains(names[0], d) {
				return nil, fail("only one column %q; the file looks %q-delimited (set input.delimiter)", clip(names[0]), d)
			}
		}
	}
	m := &mapping{src: make([]int, len(c.rules)), name: names, nsrc: len(names)}
	for i := range m.src {
		m.src[i] = -1
	}
	var problems, unknown []string
	seen := map[string]int{}
	for i, n := range names {
		k := schema.HeaderKey(n)
		if k != "" {
			if j, dup := seen[k]; dup {
				problems = append(problems, fmt.Sprintf("duplicate column %q (fields %d and %d)", n, j+1, i+1))
				continue
			}
			seen[k] = i
		}
		if col, ok := c.keys[k]; ok {
			if prev := m.src[col]; prev >= 0 {
				problems = append(problems, fmt.Sprintf("columns %q and %q both map to %q", names[prev], n, c.names[col]))
				continue
			}
			m.src[col] = i
			continue
		}
		if c.drop[k] {
			continue
		}
		if k == "" {
			n = fmt.Sprintf("(field %d has no name)", i+1)
		} else {
			n = fmt.Sprintf("%q", n)
		}
		unknown = append(unknown, n)
	}
	if len(unknown) > 0 && !c.ignoreUnknown {
		problems = append(problems, fmt.Sprintf("unexpected columns %s (add them to drop or a column's aliases, or set unknown_columns: ignore)", strings.Join(unknown, ", ")))
	}
	var missing []string
	for i, r := range c.rules {
		if col := r.Column(); m.src[i] < 0 && col.Required && col.Default == nil {
			missing = append(missing, fmt.Sprintf("%q", col.Name))
		}
	}
	if len(missing) == 1 {
		problems = append(problems, "missing required column "+missing[0])
	} else if len(missing) > 1 {
		problems = append(problems, "missing required columns "+strings.Join(missing, ", "))
	}
	if len(problems) > 0 {
		return nil, fail("%s", strings.Join(problems, "; "))
	}
	return m, nil
}

// column names source field i for a reject line ("" when it maps to no column).
func (m *mapping) column(c *Cleaner, field int) string {
	for i, s := range m.src {
		if s == field {
			return c.names[i]
		}
	}
	return ""
}

// clip shortens text for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
