// Package schema defines a pipeline's CSV columns and cleaning rules: the one
// source from which preprocess validates rows and load derives the BigQuery schema.
//
// A Schema is usually embedded inline at the top level of a pipeline spec:
//
//	input: {delimiter: ",", encoding: utf-8}
//	unknown_columns: reject        # or ignore
//	drop: [internal_id]
//	reject_threshold: {max_rows: 1000, max_ratio: 0.05}
//	columns:
//	  - name: date
//	    type: DATE
//	    required: true
//	    formats: ["%Y-%m-%d", "%Y/%m/%d"]
//	  - name: price
//	    type: NUMERIC
//	    nulls: ["n/a"]
//	    min: "0"
//
// See Column for every rule and Compile for how a column's rules apply to a value.
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
const RowKeyColumn = "dropcast_row"

// TableRowKeyColumn is the row key's column in BigQuery tables. Clean parts
// once named it _row, until Vertex AI's rule that a column name "cannot
// begin with an underscore" (fixture vertex-csv-input) renamed it there;
// loads give BigQuery the schema, not the header, so tables keep _row and
// tables loaded before stay compatible.
const TableRowKeyColumn = "_row"

// CleanHeader is the header of clean parts, which predict sends to the model
// service as they are: the columns' names in order, then RowKeyColumn.
func (s *Schema) CleanHeader() []string {
	out := make([]string, 0, len(s.Columns)+1)
	for _, c := range s.Columns {
		out = append(out, c.Name)
	}
	return append(out, RowKeyColumn)
}

// Column is one column of the clean output and its cleaning rules.
//
// A raw value is processed in this order: trim (STRING only when Trim is not
// false; every other type always ignores surrounding whitespace), null test
// (the empty value is always null; Nulls adds more, compared ignoring ASCII
// case), Default when null, Required when still null, Pattern (on the trimmed
// text), type parsing and normalisation to BigQuery's canonical text, Allowed
// and Min/Max (on the canonical value).
type Column struct {
	Name     string `yaml:"name" json:"name"`
	Type     Type   `yaml:"type" json:"type"`
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
	// Aliases are other header names for this column (renamed on output).
	// Header names and aliases match ignoring case and surrounding spaces.
	Aliases []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	// Formats are the accepted input layouts of a DATE, DATETIME or TIMESTAMP
	// column, strftime-like (see ParseLayout): "%Y-%m-%d", "%d.%m.%Y %H:%M".
	// Default: the type's canonical BigQuery layouts.
	Formats []string `yaml:"formats,omitempty" json:"formats,omitempty"`
	// TimeZone is the IANA zone of TIMESTAMP values without an offset (default UTC).
	TimeZone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	// Nulls are extra values that mean NULL, e.g. ["NA", "n/a", "NULL"].
	Nulls []string `yaml:"nulls,omitempty" json:"nulls,omitempty"`
	// Trim strips surrounding whitespace (ASCII and U+3000) from STRING values; default true.
	Trim *bool `yaml:"trim,omitempty" json:"trim,omitempty"`
	// Allowed lists the only values accepted (compared after normalisation).
	Allowed []string `yaml:"allowed,omitempty" json:"allowed,omitempty"`
	// Min and Max bound INT64, FLOAT64, NUMERIC, DATE, DATETIME and TIMESTAMP values (inclusive).
	Min string `yaml:"min,omitempty" json:"min,omitempty"`
	Max string `yaml:"max,omitempty" json:"max,omitempty"`
	// Pattern is an RE2 expression the whole trimmed value must match.
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	// Default replaces a null value; it must itself be a valid value.
	Default *string `yaml:"default,omitempty" json:"default,omitempty"`
	// TrueValues and FalseValues are a BOOL column's words, compared ignoring
	// ASCII case. Defaults: true,t,yes,y,1 and false,f,no,n,0.
	TrueValues  []string `yaml:"true_values,omitempty" json:"true_values,omitempty"`
	FalseValues []string `yaml:"false_values,omitempty" json:"false_values,omitempty"`
}

// Input describes how the source CSV is encoded.
type Input struct {
	// Delimiter is the single-byte field separator (default ",", "\t" allowed).
	Delimiter string `yaml:"delimiter,omitempty" json:"delimiter,omitempty"`
	// Quote is the single-byte quote character (default `"`).
	Quote string `yaml:"quote,omitempty" json:"quote,omitempty"`
	// Header says whether the first record is a header row (default true).
	Header *bool `yaml:"header,omitempty" json:"header,omitempty"`
	// Encoding is utf-8 (default; a BOM is skipped), shift_jis or cp932
	// (both decoded as Windows-31J). Gzip input is detected by its magic bytes.
	Encoding string `yaml:"encoding,omitempty" json:"encoding,omitempty"`
	// MaxFieldBytes rejects a row with a longer field (default 1 MiB).
	MaxFieldBytes int `yaml:"max_field_bytes,omitempty" json:"max_field_bytes,omitempty"`
	// MaxRecordBytes rejects a longer row without buffering it (default 4 MiB);
	// it bounds the cleaner's memory.
	MaxRecordBytes int `yaml:"max_record_bytes,omitempty" json:"max_record_bytes,omitempty"`
}

// Defaults of Input and Schema.
const (
	DefaultMaxFieldBytes  = 1 << 20
	DefaultMaxRecordBytes = 4 << 20
	// UnknownReject fails a file whose header has a column that is neither
	// a column, an alias nor dropped; UnknownIgnore drops such columns.
	UnknownReject = "reject"
	UnknownIgnore = "ignore"
)

// Threshold is the most rejected rows a file may have before its run fails.
// With neither set, rejects never fail a file unless every row is rejected.
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
	// UnknownColumns is "reject" (default) or "ignore".
	UnknownColumns string `yaml:"unknown_columns,omitempty" json:"unknown_columns,omitempty"`
}

// Problem is one thing wrong with a spec, at a path such as "columns[2].type".
type Problem struct {
	Path    string
	Message string
}

func (p Problem) Error() string { return fmt.Sprintf("%s: %s", p.Path, p.Message) }
