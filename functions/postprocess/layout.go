package postprocess

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
)

// Layout is the shape of a result row, from the spec's results section and
// the model's classes. The results CSV header and the results table schema
// both come from it, so they cannot disagree.
type Layout struct {
	cols       []column
	data       []string // the spec columns selected, in output order
	classes    []string // score_<class> columns, in order (scores: all)
	scoresAll  bool
	round      int // decimals of scores; -1 keeps every digit
	neutralize bool
}

type column struct {
	name     string
	typ      bigquery.FieldType
	required bool
}

// NewLayout returns the layout of p's results. classes are the model's
// classes (used when results.scores is all; their columns are
// score_<class>, with characters BigQuery does not allow in a column name
// replaced by _). Two columns of the same name are a permanent error.
func NewLayout(p *spec.Pipeline, classes []string) (*Layout, error) {
	l := &Layout{round: -1, neutralize: p.Results.NeutralizeFormulas}
	if p.Results.Round != nil {
		l.round = *p.Results.Round
	}
	types := map[string]schema.Type{}
	for _, c := range p.Columns {
		types[c.Name] = c.Type
	}
	for _, c := range p.Results.Columns {
		t, ok := types[c.Name]
		if !ok {
			return nil, &joinError{fmt.Sprintf("results.columns: %q is not a column", c.Name)}
		}
		l.data = append(l.data, c.Name)
		l.cols = append(l.cols, column{name: c.Output(), typ: t.FieldType()})
	}
	l.cols = append(l.cols,
		column{name: "prediction", typ: bigquery.StringFieldType},
		column{name: "score", typ: bigquery.FloatFieldType},
	)
	if p.Results.Scores == spec.ScoresAll {
		l.scoresAll = true
		l.classes = slices.Clone(classes)
		for _, c := range classes {
			l.cols = append(l.cols, column{name: ScoreColumn(c), typ: bigquery.FloatFieldType})
		}
	}
	l.cols = append(l.cols,
		column{name: "run_id", typ: bigquery.StringFieldType, required: true},
		column{name: "source_file", typ: bigquery.StringFieldType, required: true},
		column{name: "model", typ: bigquery.StringFieldType, required: true},
		column{name: "predicted_at", typ: bigquery.TimestampFieldType, required: true},
		column{name: "source_line", typ: bigquery.IntegerFieldType, required: true},
	)
	seen := map[string]bool{}
	for _, c := range l.cols {
		k := strings.ToLower(c.name)
		if seen[k] {
			return nil, &joinError{fmt.Sprintf("results would have two columns named %s (classes %q)", c.name, classes)}
		}
		seen[k] = true
	}
	return l, nil
}

// ScoreColumn is the results column of class's score under scores: all.
func ScoreColumn(class string) string {
	var b strings.Builder
	b.WriteString(spec.ScoreColumnPrefix)
	for _, r := range class {
		if r == '_' || r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Header is the results CSV's header.
func (l *Layout) Header() []string {
	out := make([]string, len(l.cols))
	for i, c := range l.cols {
		out[i] = c.name
	}
	return out
}

// Schema is the results table's schema: selected columns NULLABLE, the
// prediction and scores NULLABLE, the run metadata REQUIRED.
func (l *Layout) Schema() bigquery.Schema {
	out := make(bigquery.Schema, len(l.cols))
	for i, c := range l.cols {
		out[i] = &bigquery.FieldSchema{Name: c.name, Type: c.typ, Required: c.required}
	}
	return out
}

// metadata is what every row of one run says about the run.
type metadata struct{ runID, source, model, predictedAt string }

// rowBuilder turns prediction rows into result rows.
type rowBuilder struct {
	l    *Layout
	src  []int // index in the row's input values of each selected column
	meta metadata
	row  []string
}

// builder maps the layout onto the prediction rows' input columns.
func (l *Layout) builder(input []string, meta metadata) (*rowBuilder, error) {
	b := &rowBuilder{l: l, meta: meta, row: make([]string, 0, len(l.cols))}
	for _, name := range l.data {
		i := slices.Index(input, name)
		if i < 0 {
			return nil, &joinError{fmt.Sprintf("prediction rows have no column %s", name)}
		}
		b.src = append(b.src, i)
	}
	return b, nil
}

// build returns the result row of a prediction row: the selected input
// values, the prediction, the class scores and the run's metadata. The
// slice is reused by the next call.
func (b *rowBuilder) build(r *predictor.Row) []string {
	l := b.l
	row := b.row[:0]
	for _, i := range b.src {
		row = append(row, r.Input[i])
	}
	row = append(row, r.Label, l.score(r.Score, r.Scores != nil))
	for _, c := range l.classes {
		v, ok := r.Scores[c]
		row = append(row, l.score(v, ok))
	}
	row = append(row, b.meta.runID, b.meta.source, b.meta.model, b.meta.predictedAt, r.RowKey)
	if l.neutralize {
		for i, c := range l.cols {
			if c.typ == bigquery.StringFieldType {
				row[i] = Neutralize(row[i])
			}
		}
	}
	b.row = row
	return row
}

// score formats a score, rounded as the spec asks; "" (NULL) when absent.
func (l *Layout) score(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'f', l.round, 64)
}
