package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
)

// reasonTally reads the rejects CSV as it is written and counts rejects by
// column and kind of problem, keeping the first example of each, so a failing
// `dropcast clean` says why even when the rejects file is not kept.
type reasonTally struct {
	w    *io.PipeWriter
	done chan struct{}

	groups map[string]*reasonGroup
}

type reasonGroup struct {
	column, example, line string
	n                     int
}

func newReasonTally() *reasonTally {
	r, w := io.Pipe()
	t := &reasonTally{w: w, done: make(chan struct{}), groups: map[string]*reasonGroup{}}
	go func() {
		defer close(t.done)
		in := csv.NewReader(r)
		in.FieldsPerRecord = -1
		in.Read() // the header
		for {
			rec, err := in.Read()
			if err != nil {
				r.CloseWithError(err) // unblock the writer; the tally is best effort
				return
			}
			if len(rec) < 3 {
				continue
			}
			kind, _, _ := strings.Cut(rec[2], ":") // "NUMERIC", "INT64", "row has 7 fields…"
			key := rec[1] + "\x00" + kind
			g := t.groups[key]
			if g == nil {
				g = &reasonGroup{column: rec[1], example: rec[2], line: rec[0]}
				t.groups[key] = g
			}
			g.n++
		}
	}()
	return t
}

// Write feeds the tally; it never fails the caller's writes.
func (t *reasonTally) Write(p []byte) (int, error) {
	if _, err := t.w.Write(p); err != nil {
		return len(p), nil
	}
	return len(p), nil
}

// summary ends the tally and describes the most common reasons.
func (t *reasonTally) summary(most int) string {
	t.w.Close()
	<-t.done
	gs := make([]*reasonGroup, 0, len(t.groups))
	for _, g := range t.groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].n > gs[j].n || gs[i].n == gs[j].n && gs[i].column < gs[j].column })
	var b strings.Builder
	for i, g := range gs {
		if i == most {
			fmt.Fprintf(&b, "  … and %d more kinds of problem\n", len(gs)-most)
			break
		}
		col := g.column
		if col == "" {
			col = "(row)"
		}
		fmt.Fprintf(&b, "  %d× %s, e.g. line %s: %s\n", g.n, col, g.line, g.example)
	}
	return b.String()
}
