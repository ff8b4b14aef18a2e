package schema

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate lists every problem in the schema; paths are relative to the schema
// (e.g. "columns[2].pattern", "input.delimiter").
func (s *Schema) Validate() []Problem {
	var ps []Problem
	if len(s.Columns) == 0 {
		ps = append(ps, Problem{"columns", "at least one column is required"})
	}
	ps = append(ps, s.Input.validate()...)
	names := map[string]string{} // folded header name -> path that claims it
	claim := func(path, name string) {
		k := HeaderKey(name)
		if prev, ok := names[k]; ok {
			ps = append(ps, Problem{path, fmt.Sprintf("header name %q is already used by %s", name, prev)})
			return
		}
		names[k] = path
	}
	for i, c := range s.Columns {
		at := fmt.Sprintf("columns[%d]", i)
		switch {
		case c.Name == "":
			ps = append(ps, Problem{at + ".name", "is required"})
		case c.Name == RowKeyColumn:
			ps = append(ps, Problem{at + ".name", RowKeyColumn + " is reserved for the row key"})
		case strings.HasPrefix(c.Name, "_"):
			ps = append(ps, Problem{at + ".name", fmt.Sprintf("%q begins with _, which Vertex AI and AutoML Tables refuse in a column name", c.Name)})
		case !validName(c.Name):
			ps = append(ps, Problem{at + ".name", fmt.Sprintf("%q is not a BigQuery column name (letters, digits and _, not starting with a digit)", c.Name)})
		default:
			claim(at+".name", c.Name)
		}
		for j, a := range c.Aliases {
			if strings.TrimSpace(a) == "" {
				ps = append(ps, Problem{fmt.Sprintf("%s.aliases[%d]", at, j), "is empty"})
				continue
			}
			claim(fmt.Sprintf("%s.aliases[%d]", at, j), a)
		}
		if _, cps := c.Compile(); cps != nil {
			for _, p := range cps {
				ps = append(ps, Problem{at + "." + p.Path, p.Message})
			}
		}
	}
	for i, d := range s.Drop {
		if strings.TrimSpace(d) == "" {
			ps = append(ps, Problem{fmt.Sprintf("drop[%d]", i), "is empty"})
			continue
		}
		claim(fmt.Sprintf("drop[%d]", i), d)
	}
	switch s.UnknownColumns {
	case "", UnknownReject, UnknownIgnore:
	default:
		ps = append(ps, Problem{"unknown_columns", fmt.Sprintf("%q is not reject or ignore", s.UnknownColumns)})
	}
	if s.Rejects.MaxRows < 0 {
		ps = append(ps, Problem{"reject_threshold.max_rows", "must not be negative"})
	}
	if s.Rejects.MaxRatio < 0 || s.Rejects.MaxRatio > 1 {
		ps = append(ps, Problem{"reject_threshold.max_ratio", "must be between 0 and 1"})
	}
	return ps
}

// HeaderKey is the form in which header names, aliases and drops are compared:
// surrounding whitespace removed, case folded.
func HeaderKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// validName reports a usable BigQuery column name: letters (any script, as
// BigQuery's flexible column names allow), marks, digits and underscores, not
// starting with a digit, at most 300 characters.
func validName(n string) bool {
	if utf8.RuneCountInString(n) > 300 {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_', unicode.IsLetter(r), unicode.IsMark(r) && i > 0:
		case unicode.IsDigit(r) && i > 0:
		default:
			return false
		}
	}
	return true
}
