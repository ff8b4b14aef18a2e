// Package schema defines a pipeline's CSV columns and cleaning rules: the one
// source from which preprocess validates rows and load derives the BigQuery schema.
package schema

import "fmt"

// Type is a column's BigQuery type.
type Type string

// The column types a spec may use.
const (
	String    Type = "STRING"
	Int64     Type = "INT64"
	Float64   Type = "FLOAT64"
	Numeric   Type = "NUMERIC"
	Bool      Type = "BOOL"
	Date      Type = "DATE"
	DateTime  Type = "DATETIME"
	Timestamp Type = "TIMESTAMP"
)

// RowKeyColumn is the column preprocess adds to every clean row: the row's
// line number in the source file, a stable key to join predictions back.
const RowKeyColumn = "_row"

// Column is one column of the clean output and its cleaning rules.
type Column struct {
	Name     string `yaml:"name" json:"name"`
	Type     Type   `yaml:"type" json:"type"`
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
}

// Input describes how the source CSV is encoded.
type Input struct {
	Delimiter string `yaml:"delimiter,omitempty" json:"delimiter,omitempty"`
	Quote     string `yaml:"quote,omitempty" json:"quote,omitempty"`
	// Header says whether the first record is a header row (default true).
	Header   *bool  `yaml:"header,omitempty" json:"header,omitempty"`
	Encoding string `yaml:"encoding,omitempty" json:"encoding,omitempty"`
}

// Threshold is the most rejected rows a file may have before its run fails.
type Threshold struct {
	MaxRows  int64   `yaml:"max_rows,omitempty" json:"max_rows,omitempty"`
	MaxRatio float64 `yaml:"max_ratio,omitempty" json:"max_ratio,omitempty"`
}

// Schema is the CSV part of a pipeline spec.
type Schema struct {
	Input   Input     `yaml:"input,omitempty" json:"input,omitempty"`
	Columns []Column  `yaml:"columns" json:"columns"`
	Drop    []string  `yaml:"drop,omitempty" json:"drop,omitempty"`
	Rejects Threshold `yaml:"reject_threshold,omitempty" json:"reject_threshold,omitempty"`
}

// Problem is one thing wrong with a spec, at a path such as "columns[2].type".
type Problem struct {
	Path    string
	Message string
}

func (p Problem) Error() string { return fmt.Sprintf("%s: %s", p.Path, p.Message) }

// Validate lists every problem in the schema; paths are relative to the schema.
func (s *Schema) Validate() []Problem {
	var ps []Problem
	if len(s.Columns) == 0 {
		ps = append(ps, Problem{"columns", "at least one column is required"})
	}
	seen := map[string]bool{}
	for i, c := range s.Columns {
		at := fmt.Sprintf("columns[%d]", i)
		switch {
		case c.Name == "":
			ps = append(ps, Problem{at + ".name", "is required"})
		case c.Name == RowKeyColumn:
			ps = append(ps, Problem{at + ".name", RowKeyColumn + " is reserved for the row key"})
		case seen[c.Name]:
			ps = append(ps, Problem{at + ".name", fmt.Sprintf("duplicate column %q", c.Name)})
		}
		seen[c.Name] = true
		switch c.Type {
		case String, Int64, Float64, Numeric, Bool, Date, DateTime, Timestamp:
		default:
			ps = append(ps, Problem{at + ".type", fmt.Sprintf("unknown type %q", c.Type)})
		}
	}
	return ps
}
